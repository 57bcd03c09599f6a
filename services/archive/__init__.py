"""Archive: stores frames (fs or S3) and reads finished jobs back out."""
