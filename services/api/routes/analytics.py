"""Analytics: ratio, MB/s, bytes and chunk latency over time, per node, layer and profile.

Read from the analytics service (faust tables, gRPC cobol.v1.Analytics) through
cobol_mesh.analytics_client. A time range is `from`/`to` (ISO 8601 or unix seconds; `to`
defaults to now) or a `window` ending now (`15m`, `6h`, `2d`); bad ranges are 422 here,
before the service is asked. The service down or still restoring its tables is a 503.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from cobol_mesh.analytics_client import AnalyticsError

from ..deps import Analytics, Viewer
from ..schemas.analytics import Breakdown, Dimension, Metric, Range, SeriesPage, Summary
from ..schemas.common import AUTHED, error_responses
from .common import utc

router = APIRouter(prefix="/api/analytics", tags=["analytics"],
                   responses={**AUTHED, **error_responses(503, 504)})

MAX_SPAN = 31 * 86400          # the widest range a query may cover
MAX_POINTS = 2000              # per series: a range / step that needs more is refused
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc).timestamp()
STEPS = (10, 60, 300, 900, 3600, 21600, 86400)   # the automatic bucket sizes
WINDOW_RE = re.compile(r"\A([1-9][0-9]{0,5})([smhd])\Z")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}

From = Annotated[dt.datetime | None, Query(alias="from", description="range start (ISO 8601 or unix seconds)")]
To = Annotated[dt.datetime | None, Query(alias="to", description="range end, exclusive; default now")]
Window = Annotated[str | None, Query(max_length=8, description="a range ending now instead of from/to: "
                                     "a number and s, m, h or d (`15m`, `6h`, `2d`)")]
Step = Annotated[int | None, Query(ge=10, le=86400, multiple_of=10,
                                   description="bucket size in seconds, a multiple of 10 (60 beyond an hour "
                                               "back); default: at most 500 buckets over the range")]


def bad(detail: str) -> HTTPException:
    return HTTPException(422, f"invalid range: {detail}")


def time_range(start: dt.datetime | None, end: dt.datetime | None, window: str | None,
               default_window: int | None, now: float | None = None) -> tuple[float, float] | None:
    """(start, end) in unix seconds, or None for "no range" (when default_window is None)."""
    now = time.time() if now is None else now
    if window is not None and start is not None:
        raise bad("give either `from` (and `to`) or `window`, not both")
    if window is not None:
        m = WINDOW_RE.match(window)
        if not m:
            raise bad(f"window must be a number and s, m, h or d (e.g. 15m), not {window[:8]!r}")
        span = int(m.group(1)) * UNIT[m.group(2)]
    elif start is None and end is None and default_window is None:
        return None
    else:
        span = default_window or 3600
    t1 = utc(end).timestamp() if end is not None else now
    t0 = utc(start).timestamp() if start is not None else t1 - span
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise bad("times must be finite")
    if not t1 > t0:
        raise bad("`to` must be after `from`")
    if t0 < EARLIEST or t1 > now + 86400:
        raise bad("times must lie between 2000-01-01 and a day from now")
    if t1 - t0 > MAX_SPAN:
        raise bad(f"a range may cover at most {MAX_SPAN // 86400} days")
    return t0, t1


def pick_step(t0: float, t1: float, step: int | None, now: float | None = None) -> int:
    """The bucket size: the one asked for (checked), or the smallest of STEPS giving at most
    500 buckets. 10 s buckets are kept for an hour: older ranges need a multiple of 60."""
    now = time.time() if now is None else now
    old = t0 < now - 3600
    if step is None:
        step = next((s for s in STEPS if (t1 - t0) / s <= 500 and not (old and s % 60)), STEPS[-1])
    elif step % 60 and old:
        raise bad("10 s buckets are kept for an hour: for older data use a step that is a multiple of 60")
    if (t1 - t0) / step > MAX_POINTS:
        raise bad(f"more than {MAX_POINTS} buckets: widen the step or narrow the range")
    return step


async def ask(fn, *args):
    """One call to the analytics service, off the event loop; its failures as HTTP errors."""
    try:
        return await run_in_threadpool(fn, *args)
    except AnalyticsError as exc:
        code = exc.code.name
        if code == "INVALID_ARGUMENT":
            raise HTTPException(422, f"analytics refused the query: {exc.message}")
        if code == "DEADLINE_EXCEEDED":
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, "the analytics service did not answer in time")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the analytics service is unavailable ({code}: {exc.message[:200]}); retry shortly",
                            headers={"Retry-After": "2"}) from None


def _items(groups: dict[str, dict]) -> list[dict]:
    return [{"name": name, **agg} for name, agg in sorted(groups.items())]


async def breakdown(client, by: str, start, end, window) -> dict:
    rng = time_range(start, end, window, None)
    if rng is None:
        groups = await ask(client.totals, by)
        return {"by": by, "range": None, "items": _items(groups)}
    groups = await ask(client.totals, by, *rng)
    return {"by": by, "range": Range(start=rng[0], end=rng[1], step=0), "items": _items(groups)}


@router.get("/summary", response_model=Summary)
async def summary(user: Viewer, client: Analytics, start: From = None, end: To = None, window: Window = None):
    """Every frame together, jobs by status and the number of nodes: all-time, or over a range."""
    rng = time_range(start, end, window, None)
    args = () if rng is None else rng
    everything = await ask(client.totals, "all", *args)
    jobs = await ask(client.totals, "status", *args)
    nodes = await ask(client.totals, "node", *args)
    empty = {f: 0 for f in ("count", "bytes_in", "bytes_out", "codec_seconds", "ratio", "mb_per_s",
                            "latency_mean", "latency_p50", "latency_p99", "latency_max")}
    return {"all": {"name": "all", **everything.get("all", empty)},
            "jobs": {name: agg["count"] for name, agg in sorted(jobs.items())},
            "nodes": len(nodes), "range": None if rng is None else Range(start=rng[0], end=rng[1], step=0)}


@router.get("/series", response_model=SeriesPage)
async def series(user: Viewer, client: Analytics,
                 by: Annotated[Dimension, Query(description="one series per node, layer, profile, ...")] = "all",
                 metric: Annotated[Metric | None, Query(description="copied to each point's `value`")] = None,
                 start: From = None, end: To = None, window: Window = None, step: Step = None):
    """Buckets of the range (default: the last hour) with data, one series per name."""
    now = time.time()
    t0, t1 = time_range(start, end, window, 3600, now)
    step = pick_step(t0, t1, step, now)
    result = await ask(client.series, by, t0, t1, step)
    window_used = 60 if step % 60 == 0 else 10
    return {"by": by, "metric": metric, "range": Range(start=t0, end=t1, step=step), "window": window_used,
            "series": [{"name": name,
                        "points": [{"t": t, "value": agg[metric] if metric else None, "aggregate": {"name": name, **agg}}
                                   for t, agg in points]}
                       for name, points in sorted(result.items())]}


@router.get("/nodes", response_model=Breakdown)
async def per_node(user: Viewer, client: Analytics, start: From = None, end: To = None, window: Window = None):
    """Per compressor instance: all-time, or summed over a range."""
    return await breakdown(client, "node", start, end, window)


@router.get("/layers", response_model=Breakdown)
async def per_layer(user: Viewer, client: Analytics, start: From = None, end: To = None, window: Window = None):
    """Per codec layer (L1..L7, `unreadable`): the bytes each took in and gave out."""
    return await breakdown(client, "layer", start, end, window)


@router.get("/profiles", response_model=Breakdown)
async def per_profile(user: Viewer, client: Analytics, start: From = None, end: To = None, window: Window = None):
    """Per profile of the jobs (fast, balanced, max)."""
    return await breakdown(client, "profile", start, end, window)


@router.get("/replicas", response_model=Breakdown)
async def per_replica(user: Viewer, client: Analytics, start: From = None, end: To = None, window: Window = None):
    """Per archive replica: chunks and bytes stored."""
    return await breakdown(client, "replica", start, end, window)
