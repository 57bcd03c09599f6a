"""The tokens codec: see spec.md."""
