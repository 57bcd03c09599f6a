"""The match codec: see spec.md."""
