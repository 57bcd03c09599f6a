"""The rle codec: see spec.md."""
