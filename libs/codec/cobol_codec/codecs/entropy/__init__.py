"""The entropy codec: see spec.md."""
