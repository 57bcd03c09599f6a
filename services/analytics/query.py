"""Reading the stats table: totals and time series per dimension, summed over partitions.

Pure functions over a mapping shaped as `stats.py` writes it; the service calls them on
the event loop that owns the table, so a query never sees a half-applied event.
"""
from __future__ import annotations

import json
from typing import Mapping

from . import stats as st

MAX_POINTS = 10_000


class QueryError(ValueError):
    """A query the caller must fix (the message says what)."""


def check_dim(dim: str) -> str:
    if dim not in st.DIMENSIONS:
        raise QueryError(f"unknown dimension {dim[:40]!r}: one of {', '.join(st.DIMENSIONS)}")
    return dim


def _series_keys(table: Mapping, dim: str, window: int):
    """(name, partition, starts) of every series of `dim` at `window`."""
    for key in list(table.keys()):
        parts = json.loads(key)
        if len(parts) == 4 and parts[1] == dim and parts[3] == window:
            yield parts[2], parts[0], table.get(key) or []


def totals(table: Mapping, dim: str) -> dict[str, dict]:
    check_dim(dim)
    out: dict[str, dict] = {}
    for key in list(table.keys()):
        parts = json.loads(key)
        if len(parts) == 5 and parts[1] == dim and parts[3] == 0:
            value = table.get(key)
            if value:
                out[parts[2]] = st.merge(out[parts[2]], value) if parts[2] in out else value
    return out


def pick_window(step: int, windows: st.Windows) -> int:
    """The widest window that divides the step."""
    fits = [w for w in windows.sizes if step % w == 0]
    if step <= 0 or not fits:
        raise QueryError(f"step must be a positive multiple of one of {list(windows.sizes)} seconds, not {step}")
    return max(fits)


def series(table: Mapping, dim: str, start: float, end: float, step: int,
           windows: st.Windows = st.Windows()) -> dict[str, list[tuple[int, dict]]]:
    """Per name, the points [(t, aggregate)] of the steps in [start, end) that hold data;
    t is the step's start (unix seconds, a multiple of `step`)."""
    check_dim(dim)
    window = pick_window(step, windows)
    if not end > start:
        raise QueryError("end must be after start")
    first = int(start // step) * step
    if (end - first) / step > MAX_POINTS:
        raise QueryError(f"the range holds more than {MAX_POINTS} steps: widen the step or narrow the range")
    out: dict[str, dict[int, dict]] = {}
    for name, partition, starts in _series_keys(table, dim, window):
        for b in starts:
            if b < first or b >= end:
                continue
            value = table.get(st.bucket_key(partition, dim, name, window, b))
            if not value:
                continue
            t = int(b // step) * step
            points = out.setdefault(name, {})
            points[t] = st.merge(points[t], value) if t in points else value
    return {name: sorted(points.items()) for name, points in out.items()}
