"""Compressor: runs the codec on chunks, exactly once, from cobol.chunks to cobol.frames."""
