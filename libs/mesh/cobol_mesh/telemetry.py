"""OpenTelemetry: a tracer per service, and W3C trace-context propagation through Kafka
headers and gRPC metadata, so that one chunk's path can be followed across the mesh.

Spans are exported only when COBOL_OTEL_EXPORTER=console (to stderr); the trace ids always
reach the JSON logs.
"""
from __future__ import annotations

import sys
from typing import Iterable

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_tracer: trace.Tracer | None = None
_instance = ""      # sent as the `cobol-instance` Kafka header: who produced a record


def setup(service: str, instance: str, exporter: str = "none") -> trace.Tracer:
    global _tracer, _instance
    _instance = instance
    provider = TracerProvider(resource=Resource.create(
        {"service.name": f"cobol-{service}", "service.instance.id": instance}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer(f"cobol.{service}")
    return _tracer


def tracer() -> trace.Tracer:
    return _tracer or trace.get_tracer("cobol")


# ---- Kafka headers ------------------------------------------------------------------------

def kafka_headers(ctx=None) -> list[tuple[str, bytes]]:
    """The current (or given) trace context as Kafka headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return [(k, v.encode()) for k, v in carrier.items()] + ([("cobol-instance", _instance.encode())] if _instance else [])


def context_from_kafka(headers: Iterable[tuple[str, bytes]] | None):
    carrier = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in (headers or [])}
    return propagate.extract(carrier)


# ---- gRPC metadata ------------------------------------------------------------------------

def grpc_metadata(ctx=None) -> list[tuple[str, str]]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return list(carrier.items())


class ServerTracing(grpc.ServerInterceptor):
    """Continues the caller's trace (from the `traceparent` metadata) for every RPC."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        carrier = {k: v for k, v in (handler_call_details.invocation_metadata or ())
                   if isinstance(v, str)}
        parent = propagate.extract(carrier)
        name = handler_call_details.method

        def wrap(fn, streaming_response: bool):
            if fn is None:
                return None

            if streaming_response:
                def gen(request, context):
                    token = otel_context.attach(parent)
                    try:
                        with tracer().start_as_current_span(name, kind=trace.SpanKind.SERVER):
                            yield from fn(request, context)
                    finally:
                        otel_context.detach(token)
                return gen

            def call(request, context):
                token = otel_context.attach(parent)
                try:
                    with tracer().start_as_current_span(name, kind=trace.SpanKind.SERVER):
                        return fn(request, context)
                finally:
                    otel_context.detach(token)
            return call

        return handler._replace(
            unary_unary=wrap(handler.unary_unary, False),
            unary_stream=wrap(handler.unary_stream, True),
            stream_unary=wrap(handler.stream_unary, False),
            stream_stream=wrap(handler.stream_stream, True),
        )
