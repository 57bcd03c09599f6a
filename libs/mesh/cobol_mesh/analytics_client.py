"""A small client of the analytics service (cobol.v1.Analytics, proto/cobol_proto/analytics.proto).

    from cobol_mesh.analytics_client import AnalyticsClient
    with AnalyticsClient() as c:                       # 127.0.0.1:50055 + COBOL_PORT_OFFSET
        c.totals("node")                               # {"compressor-1": {...}, ...}
        c.totals("layer", start, end)                  # summed over the buckets of [start, end)
        c.series("profile", start, end, step=60)       # {"fast": [(t, {...}), ...], ...}

Each aggregate is a dict: count, bytes_in, bytes_out, codec_seconds, ratio, mb_per_s,
latency_mean, latency_p50, latency_p99, latency_max. Errors are `AnalyticsError` with the
gRPC status code: INVALID_ARGUMENT (a bad dimension, step or range), UNAVAILABLE (the service
is down or still restoring its tables: retry), DEADLINE_EXCEEDED.
"""
from __future__ import annotations

import os

import grpc
from cobol_proto import analytics_pb2 as apb
from cobol_proto import analytics_pb2_grpc as arpc

from . import grpc_auth
from .grpc_server import OPTIONS
from .settings import local_port

DIMENSIONS = ("all", "node", "layer", "profile", "replica", "status")
DEFAULT_PORT = 50055      # topology.yaml, service `analytics`


def default_addr() -> str:
    return os.environ.get("COBOL_ANALYTICS_ADDR") or f"127.0.0.1:{local_port(DEFAULT_PORT)}"


class AnalyticsError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


FIELDS = ("count", "bytes_in", "bytes_out", "codec_seconds", "ratio", "mb_per_s",
          "latency_mean", "latency_p50", "latency_p99", "latency_max")


def as_dict(a: apb.Aggregate) -> dict:
    return {f: getattr(a, f) for f in FIELDS}


class AnalyticsClient:
    def __init__(self, addr: str | None = None, timeout: float = 10.0, metadata=None,
                 ident: str | None = None) -> None:
        self.addr = addr or default_addr()
        self.timeout = timeout
        self.metadata = metadata           # e.g. grpc_auth.bearer(token) for a non-mesh caller
        # the mesh certificate presented: this process's (grpc_auth.identity()) unless named
        self._channel = grpc_auth.channel(self.addr, ident, OPTIONS[:2])
        self._stub = arpc.AnalyticsStub(self._channel)

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise AnalyticsError(exc.code(), exc.details() or "") from None

    def totals(self, dimension: str = "all", start: float = 0.0, end: float = 0.0) -> dict[str, dict]:
        """All-time totals, or (end > start) the sums of the buckets overlapping [start, end)."""
        reply = self._call(self._stub.Totals, apb.TotalsRequest(dimension=dimension, start=start, end=end))
        return {g.name: as_dict(g) for g in reply.groups}

    def series(self, dimension: str, start: float, end: float, step: int = 60) -> dict[str, list[tuple[float, dict]]]:
        reply = self._call(self._stub.Series, apb.SeriesRequest(dimension=dimension, start=start,
                                                                end=end, step=step))
        return {s.name: [(p.t, as_dict(p.value)) for p in s.points] for s in reply.series}

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "AnalyticsClient":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
