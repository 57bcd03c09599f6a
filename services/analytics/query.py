"""Reading the tables: totals and time series per dimension, summed over partitions.

Pure functions over the `stats.State` mappings; the service calls them on the event loop
that owns the tables, so a query never sees half of an event's updates. Neither scans the
buckets: totals read the small totals table, series go through the series index.
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


def _sum_into(out: dict, value, dim: str) -> None:
    for name, agg in st.grouped_dim(value, dim).items():
        out[name] = st.merge(out[name], agg) if name in out else agg


def totals(state: st.State, dim: str) -> dict[str, dict]:
    check_dim(dim)
    out: dict[str, dict] = {}
    for value in list(state.totals.values()):
        _sum_into(out, value, dim)
    return out


def pick_window(step: int, windows: st.Windows) -> int:
    """The widest window that divides the step."""
    fits = [w for w in windows.sizes if step % w == 0]
    if step <= 0 or not fits:
        raise QueryError(f"step must be a positive multiple of one of {list(windows.sizes)} seconds, not {step}")
    return max(fits)


def series(state: st.State, dim: str, start: float, end: float, step: int,
           windows: st.Windows = st.Windows()) -> dict[str, list[tuple[int, dict]]]:
    """Per name, the points [(t, aggregate)] of the steps that overlap [start, end) and
    hold data; t is the step's start (unix seconds, a multiple of `step`)."""
    check_dim(dim)
    window = pick_window(step, windows)
    if not end > start:
        raise QueryError("end must be after start")
    first = int(start // step) * step
    if (end - first) / step > MAX_POINTS:
        raise QueryError(f"the range holds more than {MAX_POINTS} steps: widen the step or narrow the range")
    out: dict[int, dict[str, dict]] = {}
    for key, starts in list(state.series.items()):
        partition, w = json.loads(key)
        if w != window:
            continue
        for b in starts or []:
            if first <= b < end:
                t = int(b // step) * step
                _sum_into(out.setdefault(t, {}), state.buckets.get(st.bucket_key(partition, window, b)), dim)
    by_name: dict[str, list] = {}
    for t in sorted(out):
        for name, agg in out[t].items():
            by_name.setdefault(name, []).append((t, agg))
    return by_name


def range_window(start: float, end: float, windows: st.Windows) -> int:
    """The narrowest window whose retention covers [start, end): 10 s buckets for up to an
    hour, 1 min buckets beyond (the widest window for anything longer than every retention)."""
    span = end - start
    for window, keep in sorted(windows.retention):
        if span <= keep:
            return window
    return max(windows.sizes)


def totals_between(state: st.State, dim: str, start: float, end: float,
                   windows: st.Windows = st.Windows()) -> dict[str, dict]:
    """Per name, the aggregates of the buckets that overlap [start, end)."""
    check_dim(dim)
    if not end > start:
        raise QueryError("end must be after start")
    window = range_window(start, end, windows)
    first = int(start // window) * window
    out: dict[str, dict] = {}
    for key, starts in list(state.series.items()):
        partition, w = json.loads(key)
        if w != window:
            continue
        for b in starts or []:
            if first <= b < end:
                _sum_into(out, state.buckets.get(st.bucket_key(partition, window, b)), dim)
    return out
