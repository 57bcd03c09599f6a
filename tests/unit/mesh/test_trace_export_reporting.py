"""A collector that is away: the OTLP exporters (protobuf and JSON) fail against a port where
nothing listens, the service's log says so once (not per batch), every failed batch is counted,
and when a receiver appears on that port the spans flow again and the log says that once too.
(tests/otlp follows a whole job into a real collector; this is the exporter alone.)"""
from __future__ import annotations

import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cobol_mesh import metrics, tracing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _errors(kind: str) -> float:
    return metrics.ERRORS.labels("tracetest", "tracetest-1", kind)._value.get()


class _Receiver:
    def __init__(self, port: int):
        got = self.got = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                got.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.mark.parametrize("protocol", ["", "http/json"])
def test_a_collector_that_is_away_is_logged_once_and_its_return_once(protocol, monkeypatch, caplog):
    from cobol_mesh import logging as mlog
    port = _free_port()                      # nothing listens here (yet)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
           **({"OTEL_EXPORTER_OTLP_PROTOCOL": protocol} if protocol else {})}
    for k, v in env.items():
        monkeypatch.setenv(k, v)             # OpenTelemetry's exporter reads os.environ itself
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    mlog.configure("tracetest-1")
    metrics.identify("tracetest", "tracetest-1")
    before = _errors("trace_export")
    p = tracing.provider("cobol-tracetest", "tracetest-1", env=env)
    tracer = p.get_tracer("t")
    for i in range(3):                       # three batches, each refused
        with tracer.start_as_current_span(f"lost-{i}"):
            pass
        p.force_flush()
    assert _errors("trace_export") - before == 3
    rx = _Receiver(port)
    try:
        with tracer.start_as_current_span("delivered"):
            pass
        p.force_flush()
        p.shutdown()
    finally:
        rx.close()
    lines = [json.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]
    failing = [x for x in lines if x["event"] == "trace_export.failing"]
    assert len(failing) == 1 and failing[0]["endpoint"] == f"http://127.0.0.1:{port}/v1/traces"
    assert failing[0]["level"] == "warning" and failing[0]["reason"]      # the exporter's own words
    assert [x["endpoint"] for x in lines if x["event"] == "trace_export.recovered"] == [failing[0]["endpoint"]]
    assert len(rx.got) == 1 and b"delivered" in rx.got[0] and b"lost-" not in rx.got[0]
    # OpenTelemetry's own per-batch and per-retry lines are held back: the wrapper spoke instead
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry.exporter") and r.levelname != "DEBUG"]


def test_the_trace_file_is_not_wrapped(tmp_path):
    """The JSON-lines file reports its own errors at start (TracingConfigError); only OTLP is wrapped."""
    p = tracing.provider("cobol-x", "x-1", env={"COBOL_TRACE_FILE": str(tmp_path / "t.jsonl")})
    exporters = [sp.span_exporter for sp in p._active_span_processor._span_processors]
    assert [type(e) for e in exporters] == [tracing.JsonLinesExporter]
    p.shutdown()
