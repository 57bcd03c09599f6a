"""Where a process's spans go: OTLP when a collector is configured, else a JSON-lines file.

- `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set: spans are sent
  over OTLP. `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` (the default when the optional
  `opentelemetry-exporter-otlp-proto-http` package is absent) posts OTLP's JSON encoding to
  `<endpoint>/v1/traces` with httpx; `http/protobuf` and `grpc` use OpenTelemetry's own
  exporter packages, which must then be installed. A collector that is away costs spans, not
  work, and is said once in the log (ReportedExporter).
- otherwise `COBOL_TRACE_FILE` set: one span a line, each line an OTLP/JSON
  `ExportTraceServiceRequest` holding that one span with its resource (`service.name`) and
  scope, so `jq`, the collector's `otlpjsonfile` receiver or a test can read it. Several
  processes may share one file: each batch is one `write()` on an O_APPEND descriptor.
- neither: spans are still made (their ids reach the JSON logs) but go nowhere.

Spans are batched (BatchSpanProcessor; OTEL_BSP_* tune it) and sampled by trace
(`COBOL_TRACE_SAMPLE`, a ratio in [0, 1], default 1): a job's trace is kept or dropped whole,
because every span below the root follows its parent's decision.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from typing import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased


class TracingConfigError(SystemExit):
    """A tracing setting that cannot work: the process refuses to start, saying which."""


# ---- OTLP's JSON encoding (opentelemetry-proto's trace.proto, as the spec's JSON mapping) --

def _value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}          # int64 is a string in proto3 JSON
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _attributes(attrs) -> list[dict]:
    return [{"key": str(k), "value": _value(v)} for k, v in (attrs or {}).items()]


def encode_span(span: ReadableSpan) -> dict:
    """One finished span as an OTLP/JSON ExportTraceServiceRequest holding just that span."""
    ctx = span.get_span_context()
    out = {
        "traceId": format(ctx.trace_id, "032x"),
        "spanId": format(ctx.span_id, "016x"),
        "name": span.name,
        "kind": span.kind.value + 1,        # SDK INTERNAL=0.. ; OTLP UNSPECIFIED=0, INTERNAL=1..
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
        "attributes": _attributes(span.attributes),
        "status": {"code": span.status.status_code.value}
        | ({"message": span.status.description} if span.status.description else {}),
    }
    if span.parent is not None and span.parent.is_valid:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.events:
        out["events"] = [{"timeUnixNano": str(e.timestamp), "name": e.name,
                          "attributes": _attributes(e.attributes)} for e in span.events]
    if span.links:
        out["links"] = [{"traceId": format(link.context.trace_id, "032x"),
                         "spanId": format(link.context.span_id, "016x"),
                         "attributes": _attributes(link.attributes)} for link in span.links]
    scope = span.instrumentation_scope
    return {"resourceSpans": [{
        "resource": {"attributes": _attributes(span.resource.attributes)},
        "scopeSpans": [{"scope": {"name": scope.name if scope else "", "version": (scope.version or "") if scope else ""},
                        "spans": [out]}],
    }]}


def decode_line(line: str) -> dict:
    """The flat view of one trace-file line (what tests and tools need): trace_id, span_id,
    parent_id, name, service, attributes. Raises ValueError on a line that is not one span."""
    doc = json.loads(line)
    try:
        rs = doc["resourceSpans"][0]
        span = rs["scopeSpans"][0]["spans"][0]
    except (KeyError, IndexError, TypeError):
        raise ValueError("not an OTLP/JSON line with one span") from None

    def flat(attrs):
        return {a["key"]: next(iter(a["value"].values())) for a in attrs or []}
    return {"trace_id": span["traceId"], "span_id": span["spanId"], "parent_id": span.get("parentSpanId", ""),
            "name": span["name"], "kind": span.get("kind", 0),
            "service": flat(rs["resource"]["attributes"]).get("service.name", ""),
            "attributes": flat(span.get("attributes")),
            "start_ns": int(span["startTimeUnixNano"]), "end_ns": int(span["endTimeUnixNano"])}


def request_body(spans: Sequence[ReadableSpan]) -> dict:
    """Spans as one OTLP/JSON ExportTraceServiceRequest (one resourceSpans entry per span:
    simple, and equally valid to a collector)."""
    return {"resourceSpans": [rs for s in spans for rs in encode_span(s)["resourceSpans"]]}


# ---- exporters ---------------------------------------------------------------------------

class JsonLinesExporter(SpanExporter):
    """Appends each span as one OTLP/JSON line to a file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise TracingConfigError(f"COBOL_TRACE_FILE={path!r} cannot be opened for appending: "
                                     f"{exc.strerror}") from None
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(json.dumps(encode_span(s), separators=(",", ":")) + "\n" for s in spans).encode()
        try:
            with self._lock:
                os.write(self._fd, data)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class OtlpJsonExporter(SpanExporter):
    """OTLP/HTTP with the JSON encoding: needs nothing beyond httpx."""

    log = logging.getLogger("cobol_mesh.tracing.otlp_json")

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 10.0) -> None:
        import httpx
        self.url = url
        self._client = httpx.Client(timeout=timeout, headers={"Content-Type": "application/json", **headers})

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        import httpx
        try:
            r = self._client.post(self.url, content=json.dumps(request_body(spans), separators=(",", ":")))
        except httpx.HTTPError as exc:
            self.log.warning("POST %s: %s: %s", self.url, type(exc).__name__, exc)
            return SpanExportResult.FAILURE
        if r.status_code >= 300:
            self.log.warning("POST %s: HTTP %d %s", self.url, r.status_code, r.text[:200])
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._client.close()


class _Held(logging.Filter):
    """Keeps the first line an exporter's own logger says during one export (the cause; later
    lines are its retries) instead of letting it through."""

    def __init__(self) -> None:
        super().__init__()
        self.first = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.first:
            self.first = record.getMessage()
        return False


_HELD = _Held()


class ReportedExporter(SpanExporter):
    """Wraps the configured exporter so that a collector that is down or refuses is said once in
    the log (and its return once), not at every batch: OpenTelemetry's OTLP exporter logs each
    failed batch and each retry, which a collector that is away turns into a line a second.
    Every failed batch still counts in `cobol_errors_total{kind="trace_export"}`. Exporting runs
    on the batch processor's thread, so the service itself never waits on the collector."""

    QUIET = ("opentelemetry.exporter.otlp.proto.http.trace_exporter",
             "opentelemetry.exporter.otlp.proto.grpc.exporter", OtlpJsonExporter.log.name)

    def __init__(self, inner: SpanExporter, where: str) -> None:
        self.inner, self.where = inner, where
        self.failing = False
        self.lost_batches = self.lost_spans = 0     # while failing: said when it answers again
        for name in self.QUIET:          # their per-batch lines are held: the first is the reason
            if _HELD not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_HELD)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from . import logging as mlog
        from . import metrics
        _HELD.first = ""
        try:
            result = self.inner.export(spans)
            reason = _HELD.first
        except Exception as exc:          # noqa: BLE001 - an exporter's bug must not stop the batching thread
            result, reason = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        if result is SpanExportResult.FAILURE:
            metrics.error("trace_export")
            self.lost_batches += 1
            self.lost_spans += len(spans)
            if not self.failing:
                self.failing = True
                mlog.get("cobol.tracing").warning(
                    "trace_export.failing", endpoint=self.where, spans=len(spans), reason=reason or None,
                    detail="spans are dropped until the collector answers; the service goes on; said once")
        elif self.failing:
            mlog.get("cobol.tracing").info("trace_export.recovered", endpoint=self.where,
                                           lost_batches=self.lost_batches, lost_spans=self.lost_spans)
            self.failing, self.lost_batches, self.lost_spans = False, 0, 0
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _otlp_headers(raw: str) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_HEADERS: `k=v,k2=v2` (values may be percent-encoded)."""
    from urllib.parse import unquote
    out = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise TracingConfigError(f"OTEL_EXPORTER_OTLP_HEADERS: {item!r} is not key=value")
        out[k.strip()] = unquote(v.strip())
    return out


def otlp_url(env=os.environ) -> str:
    """Where OTLP/HTTP spans are posted ("" when no collector is configured)."""
    traces_url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return traces_url or (base.rstrip("/") + "/v1/traces" if base else "")


def exporter_from_env(env=os.environ) -> SpanExporter | None:
    """The exporter the environment asks for (see the module docstring), or None."""
    url = otlp_url(env)
    if url:
        if not url.startswith(("http://", "https://")):
            raise TracingConfigError(f"OTLP endpoint {url!r} must start with http:// or https://")
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
        if protocol in ("", "http/protobuf"):
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
                return OTLPSpanExporter()          # reads the same OTEL_* variables
            except ImportError:
                if protocol:
                    raise TracingConfigError(
                        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf needs opentelemetry-exporter-otlp-proto-http "
                        "(pip install it), or set OTEL_EXPORTER_OTLP_PROTOCOL=http/json") from None
        elif protocol == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise TracingConfigError(
                    "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc "
                    "(pip install it), or set OTEL_EXPORTER_OTLP_PROTOCOL=http/json") from None
            return OTLPSpanExporter()
        elif protocol != "http/json":
            raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/json, http/protobuf or grpc")
        return OtlpJsonExporter(url, _otlp_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", "")))
    path = env.get("COBOL_TRACE_FILE", "")
    if path:
        if "\0" in path or "\n" in path:
            raise TracingConfigError("COBOL_TRACE_FILE must not contain NUL or newline")
        return JsonLinesExporter(path)
    return None


def sample_ratio(env=os.environ) -> float:
    raw = env.get("COBOL_TRACE_SAMPLE", "") or "1"
    try:
        ratio = float(raw)
    except ValueError:
        raise TracingConfigError(f"COBOL_TRACE_SAMPLE={raw!r} is not a number in [0, 1]") from None
    if not 0.0 <= ratio <= 1.0:
        raise TracingConfigError(f"COBOL_TRACE_SAMPLE={raw!r} is not a number in [0, 1]")
    return ratio


def provider(service_name: str, instance: str, env=os.environ, console: bool = False) -> TracerProvider:
    """A TracerProvider for this process: resource, sampler and the configured exporter."""
    p = TracerProvider(resource=Resource.create({"service.name": service_name, "service.instance.id": instance}),
                       sampler=ParentBased(TraceIdRatioBased(sample_ratio(env))))
    exporter = exporter_from_env(env)
    if exporter is not None:
        if not isinstance(exporter, JsonLinesExporter):
            exporter = ReportedExporter(exporter, otlp_url(env))
        p.add_span_processor(BatchSpanProcessor(exporter))
    if console:
        import sys
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter
        p.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return p
