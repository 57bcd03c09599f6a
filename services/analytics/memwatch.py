"""Opt-in memory diagnostics for a long-running worker (the soak's growth hunt).

COBOL_ANALYTICS_MEMWATCH=<file> starts tracemalloc and, every
COBOL_ANALYTICS_MEMWATCH_SECONDS (default 60), appends to <file> one report: RSS, the bytes
Python allocated (traced), the sizes given by `sizes()` (the tables' key counts, faust's
internal buffers), and the allocation sites that grew most since the first snapshot
(tracemalloc's diff, grouped by traceback). Off by default: tracemalloc costs CPU and memory.
"""
from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Callable

FRAMES = 6            # traceback depth kept per allocation
TOP = 25              # growing sites reported per snapshot


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc), 0 where unavailable."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def type_counts() -> Counter:
    return Counter(type(o).__name__ for o in gc.get_objects())


class MemWatch:
    """Periodic tracemalloc diffs against a baseline, written as plain text."""

    def __init__(self, path: Path, sizes: Callable[[], dict]) -> None:
        self.path, self.sizes = path, sizes
        tracemalloc.start(FRAMES)
        self.t0 = time.monotonic()
        self.base: tracemalloc.Snapshot | None = None
        self.base_types: Counter | None = None

    def report(self) -> str:
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        types = type_counts()
        if self.base is None:
            self.base, self.base_types = snap, types
        current, peak = tracemalloc.get_traced_memory()
        lines = [f"== t={time.monotonic() - self.t0:.0f}s rss={rss_bytes() / 2**20:.1f}MiB "
                 f"traced={current / 2**20:.1f}MiB peak={peak / 2**20:.1f}MiB",
                 "sizes: " + " ".join(f"{k}={v}" for k, v in sorted(self.sizes().items()))]
        grown = sorted(((n, types[n] - self.base_types.get(n, 0)) for n in types),
                       key=lambda x: -x[1])[:12]
        lines.append("object types grown: " + " ".join(f"{n}:+{d}" for n, d in grown if d > 0))
        for stat in snap.compare_to(self.base, "traceback")[:TOP]:
            if stat.size_diff <= 0:
                break
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[:FRAMES])
            lines.append(f"  +{stat.size_diff / 2**10:9.1f} KiB +{stat.count_diff:7d} blocks  {where}")
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        with self.path.open("a") as f:
            f.write(self.report())


def from_env(sizes: Callable[[], dict]) -> tuple[MemWatch, float] | None:
    target = os.environ.get("COBOL_ANALYTICS_MEMWATCH")
    if not target:
        return None
    every = float(os.environ.get("COBOL_ANALYTICS_MEMWATCH_SECONDS") or 60)
    return MemWatch(Path(target), sizes), max(5.0, every)
