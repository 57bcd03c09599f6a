"""Pure helpers the load tests share: comma lists on the command line, and percentiles.

    counts("1,2,4", "--workers", 1, 64)  -> [1, 2, 4]
    percentile(sorted_values, 0.999)     -> the nearest-rank p99.9
"""
from __future__ import annotations

import math


def counts(text: str, option: str, lo: int, hi: int) -> list[int]:
    """A comma list of whole numbers in [lo, hi], in the order given, without repeats.

    Raises ValueError naming the option and the bad item, ready to print as a usage error."""
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise ValueError(f"{option}: give at least one number, e.g. {lo}")
    out: list[int] = []
    for t in items:
        if not t:
            raise ValueError(f"{option}: empty item in {text!r}")
        if not t.isascii() or not t.isdigit():
            raise ValueError(f"{option}: {t!r} is not a whole number")
        n = int(t)
        if not lo <= n <= hi:
            raise ValueError(f"{option}: {n} is outside {lo}..{hi}")
        if n in out:
            raise ValueError(f"{option}: {n} is given twice")
        out.append(n)
    return out


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list: the smallest value with at least q of the
    values at or below it (q in (0, 1]). p99.9 of fewer than 1,000 values is the maximum."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 1:
        raise ValueError(f"percentile {q} is outside (0, 1]")
    rank = math.ceil(q * len(ordered) - 1e-9)      # 1-based; the epsilon keeps 0.99*100 at 99
    return ordered[max(1, rank) - 1]


PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999), ("p100", 1.0))
