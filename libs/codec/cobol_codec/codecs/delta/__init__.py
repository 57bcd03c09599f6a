"""The delta codec: see spec.md."""
