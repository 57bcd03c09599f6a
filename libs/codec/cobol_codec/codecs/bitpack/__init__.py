"""The bitpack codec: see spec.md."""
