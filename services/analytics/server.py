"""gRPC queries (cobol.v1.Analytics) over the faust tables.

The gRPC server runs in its own threads (cobol_mesh.grpc_server: health, reflection,
tracing); each query is computed on the faust event loop, which owns the tables, so it
never sees half of an event's updates.
"""
from __future__ import annotations

import asyncio
import concurrent.futures

import grpc
from cobol_proto import analytics_pb2 as apb
from cobol_proto import analytics_pb2_grpc as arpc

from . import query
from . import stats as st

QUERY_TIMEOUT = 10.0


def aggregate(name: str, s: dict) -> apb.Aggregate:
    d = st.derived(s)
    return apb.Aggregate(name=name, count=s["n"], bytes_in=s["in"], bytes_out=s["out"],
                         codec_seconds=s["us"] / 1e6, ratio=d["ratio"], mb_per_s=d["mb_per_s"],
                         latency_mean=d["latency_mean"], latency_p50=d["latency_p50"],
                         latency_p99=d["latency_p99"], latency_max=d["latency_max"])


class AnalyticsServicer(arpc.AnalyticsServicer):
    def __init__(self, analytics, loop: asyncio.AbstractEventLoop) -> None:
        self.analytics = analytics
        self.loop = loop

    def _on_loop(self, context, fn, *args):
        if not self.analytics.ready():
            context.abort(grpc.StatusCode.UNAVAILABLE, "analytics is restoring its tables; retry shortly")

        async def run():
            return fn(self.analytics.state, *args)
        try:
            return asyncio.run_coroutine_threadsafe(run(), self.loop).result(QUERY_TIMEOUT)
        except query.QueryError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except concurrent.futures.TimeoutError:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the query took too long")

    def Totals(self, request, context):
        if request.end or request.start:
            groups = self._on_loop(context, query.totals_between, request.dimension, request.start,
                                   request.end, self.analytics.cfg.windows)
        else:
            groups = self._on_loop(context, query.totals, request.dimension)
        return apb.TotalsReply(groups=[aggregate(n, s) for n, s in sorted(groups.items())])

    def Series(self, request, context):
        windows = self.analytics.cfg.windows
        result = self._on_loop(context, query.series, request.dimension, request.start,
                               request.end, request.step, windows)
        return apb.SeriesReply(
            step=request.step, window=query.pick_window(request.step, windows),
            series=[apb.Series(name=name, points=[apb.Point(t=t, value=aggregate(name, s))
                                                  for t, s in points])
                    for name, points in sorted(result.items())])
