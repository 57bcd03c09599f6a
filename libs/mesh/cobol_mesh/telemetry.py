"""OpenTelemetry for the mesh: a tracer per service, and W3C trace context (`traceparent`)
carried through Kafka record headers and gRPC metadata, so one job's trace follows each chunk
from the API and ingest through compressor and archive to the coordinator.

The hooks live here so that a service changes by a line:
- producing: `cobol_mesh.kafka.produce()` adds the current context's headers by itself;
- consuming: `with telemetry.consumed(msg, "compress.chunk"):` continues the producer's trace
  and records the record's queue time and the processing time (metrics.CHUNK_SECONDS);
- gRPC: `ServerTracing` (every `grpc_server.Server`) continues the caller's trace;
  `client_interceptors()` / `aio_client_interceptors()` send it (grpc_auth's channels);
- HTTP: the API uses FastAPI's own server spans, configured by `fastapi_config()`.

Where spans go (OTLP, a JSON-lines file, nowhere) is `cobol_mesh.tracing`'s business.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterable

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from . import metrics

_tracer: trace.Tracer | None = None
_provider = None
_instance = ""      # sent as the `cobol-instance` Kafka header: who produced a record
QUIET_PATHS = ("/metrics", "/api/health", "/healthz", "/readyz")   # polled constantly: no spans


def setup(service: str, instance: str, exporter: str = "none") -> trace.Tracer:
    """Install this process's tracer provider (exporter="console" adds stderr output); once:
    OpenTelemetry keeps the first provider of a process (the API's main and lifespan both ask)."""
    global _tracer, _instance, _provider
    from . import tracing
    if _provider is not None:
        return tracer()
    _instance = instance
    _provider = tracing.provider(f"cobol-{service}", instance, console=exporter == "console")
    trace.set_tracer_provider(_provider)
    _tracer = trace.get_tracer(f"cobol.{service}")
    return _tracer


def shutdown() -> None:
    """Export what is still batched (a clean stop calls it; so does the SDK at exit)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return _tracer or trace.get_tracer("cobol")


# ---- Kafka headers ------------------------------------------------------------------------

def trace_headers(ctx=None) -> list[tuple[str, bytes]]:
    """The current (or given) trace context as Kafka headers ([] when there is none)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return [(k, v.encode()) for k, v in carrier.items()]


def kafka_headers(ctx=None) -> list[tuple[str, bytes]]:
    """Trace context plus `cobol-instance` (who produced the record)."""
    return trace_headers(ctx) + ([("cobol-instance", _instance.encode())] if _instance else [])


def context_from_kafka(headers: Iterable[tuple[str, bytes]] | None):
    carrier = {}
    for k, v in headers or []:
        if k in ("traceparent", "tracestate") and v is not None:
            carrier[k] = v.decode("latin-1") if isinstance(v, bytes) else str(v)
    return propagate.extract(carrier)       # a malformed traceparent is ignored: a new trace


@contextlib.contextmanager
def consumed(msg, name: str, **attributes):
    """A CONSUMER span for one Kafka record, child of the producer's span; records the
    record's age at pick-up (stage=queue) and the time spent in the block (stage=process),
    and counts an exception escaping the block as an error of its type."""
    ts_type, ts_ms = msg.timestamp() if hasattr(msg, "timestamp") else (0, 0)
    if ts_type and ts_ms > 0:
        metrics.chunk_latency("queue", time.time() - ts_ms / 1000.0)
    t0 = time.perf_counter()
    with tracer().start_as_current_span(name, context=context_from_kafka(msg.headers()),
                                        kind=trace.SpanKind.CONSUMER) as span:
        span.set_attribute("messaging.destination.name", msg.topic() or "")
        span.set_attribute("messaging.kafka.partition", msg.partition())
        span.set_attribute("messaging.kafka.offset", msg.offset())
        for k, v in attributes.items():
            span.set_attribute(f"cobol.{k}", v)
        try:
            yield span
        except Exception as exc:
            metrics.error(type(exc).__name__)
            raise
        finally:
            metrics.chunk_latency("process", time.perf_counter() - t0)


# ---- gRPC metadata ------------------------------------------------------------------------

def grpc_metadata(ctx=None) -> list[tuple[str, str]]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return list(carrier.items())


def _with_trace(metadata) -> list:
    md = [(k, v) for k, v in (metadata or ()) if k not in ("traceparent", "tracestate")]
    return md + grpc_metadata()


class _ClientDetails(grpc.ClientCallDetails):
    def __init__(self, d, metadata) -> None:
        self.method, self.timeout, self.credentials = d.method, d.timeout, d.credentials
        self.wait_for_ready, self.compression = getattr(d, "wait_for_ready", None), getattr(d, "compression", None)
        self.metadata = metadata


class ClientTracing(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Sends the caller's current trace context (if any) as `traceparent` metadata."""

    def _d(self, d):
        return _ClientDetails(d, _with_trace(d.metadata))

    def intercept_unary_unary(self, continuation, d, request):
        return continuation(self._d(d), request)

    def intercept_unary_stream(self, continuation, d, request):
        return continuation(self._d(d), request)

    def intercept_stream_unary(self, continuation, d, request_iterator):
        return continuation(self._d(d), request_iterator)

    def intercept_stream_stream(self, continuation, d, request_iterator):
        return continuation(self._d(d), request_iterator)


def client_interceptors() -> list:
    return [ClientTracing()]


def aio_client_interceptors() -> list:
    """The same for grpc.aio channels (the API's)."""
    from grpc import aio

    def details(d):
        return aio.ClientCallDetails(d.method, d.timeout, _with_trace(d.metadata), d.credentials, d.wait_for_ready)

    class UU(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, d, request):
            return await continuation(details(d), request)

    class US(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, d, request):
            return await continuation(details(d), request)

    class SU(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, d, request_iterator):
            return await continuation(details(d), request_iterator)

    class SS(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, d, request_iterator):
            return await continuation(details(d), request_iterator)

    return [UU(), US(), SU(), SS()]


class ServerTracing(grpc.ServerInterceptor):
    """Continues the caller's trace (from the `traceparent` metadata), times every RPC
    (metrics.RPC_SECONDS) and counts a failed call as an error of kind grpc_<status>.

    A call that arrives without a trace starts one only when it streams requests (an upload:
    where a job begins). Timers' polls (GetRound, ListJobs...) would otherwise each make a
    one-span trace, many a second, that nobody follows."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        name = handler_call_details.method
        if name.startswith(("/grpc.health.v1.Health/", "/grpc.reflection.")):
            return handler
        carrier = {k: v for k, v in (handler_call_details.invocation_metadata or ())
                   if k in ("traceparent", "tracestate") and isinstance(v, str)}
        parent = propagate.extract(carrier)
        svc = metrics._me["service"]
        traced = bool(carrier) or handler.request_streaming

        def finish(span, context, t0, exc=None):
            metrics.RPC_SECONDS.labels(svc, name).observe(time.perf_counter() - t0)
            code = context.code() if hasattr(context, "code") else None
            if exc is not None and code is None:
                code = grpc.StatusCode.UNKNOWN
            if code is not None and code != grpc.StatusCode.OK:
                cname = getattr(code, "name", str(code)).lower()
                metrics.error(f"grpc_{cname}")
                span.set_attribute("rpc.grpc.status_code", cname)
                span.set_status(trace.StatusCode.ERROR, cname)

        def span():
            if traced:
                return tracer().start_as_current_span(name, kind=trace.SpanKind.SERVER)
            return contextlib.nullcontext(trace.INVALID_SPAN)

        def wrap(fn, streaming_response: bool):
            if fn is None:
                return None

            if streaming_response:
                def gen(request, context):
                    token = otel_context.attach(parent)
                    t0 = time.perf_counter()
                    try:
                        with span() as span_:
                            try:
                                yield from fn(request, context)
                            except BaseException as exc:
                                finish(span_, context, t0, exc)
                                raise
                            finish(span_, context, t0)
                    finally:
                        otel_context.detach(token)
                return gen

            def call(request, context):
                token = otel_context.attach(parent)
                t0 = time.perf_counter()
                try:
                    with span() as span_:
                        try:
                            reply = fn(request, context)
                        except BaseException as exc:
                            finish(span_, context, t0, exc)
                            raise
                        finish(span_, context, t0)
                        return reply
                finally:
                    otel_context.detach(token)
            return call

        return handler._replace(
            unary_unary=wrap(handler.unary_unary, False),
            unary_stream=wrap(handler.unary_stream, True),
            stream_unary=wrap(handler.stream_unary, False),
            stream_stream=wrap(handler.stream_stream, True),
        )


# ---- HTTP (the API) --------------------------------------------------------------------------

def _quiet(scope) -> bool:
    return scope.get("type") != "http" or scope.get("path", "").startswith(QUIET_PATHS)


def fastapi_config() -> dict:
    """`FastAPI(telemetry=...)`: FastAPI's own OpenTelemetry server spans (continuing an
    incoming `traceparent`; the provider is the one `setup` installs), without the constantly
    polled paths and WebSockets, and without a span per dependency and serialization step."""
    return {"exclude": _quiet, "operation_spans": False, "metrics": False, "logs": False}
