"""Dictionary training: `train_patterns(samples, size)` (patterns.pyx)."""
from .patterns import train_patterns  # noqa: F401
