"""Tracing, trace ids in logs and scrape-time metrics, without Kafka: the OTLP/JSON trace
file, context through Kafka headers and real gRPC calls, the configuration's errors."""
from __future__ import annotations

import io
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client import generate_latest

from cobol_mesh import metrics, telemetry, tracing


def _provider(name: str, path, **env):
    p = tracing.provider(name, f"{name}-1", env={"COBOL_TRACE_FILE": str(path), **env})
    return p


def _lines(path) -> list[dict]:
    return [tracing.decode_line(x) for x in path.read_text().splitlines() if x]


def test_trace_file_follows_a_record_from_one_service_to_another(tmp_path):
    path = tmp_path / "traces.jsonl"
    a, b = _provider("cobol-ingest", path), _provider("cobol-compressor", path)
    with a.get_tracer("t").start_as_current_span("upload") as up:
        headers = telemetry.kafka_headers()
    with b.get_tracer("t").start_as_current_span("compress", context=telemetry.context_from_kafka(headers),
                                                 attributes={"cobol.seq": 3, "cobol.ok": True}):
        pass
    a.shutdown()
    b.shutdown()
    spans = {s["name"]: s for s in _lines(path)}
    assert set(spans) == {"upload", "compress"}
    assert spans["upload"]["trace_id"] == spans["compress"]["trace_id"] == format(up.get_span_context().trace_id, "032x")
    assert spans["compress"]["parent_id"] == spans["upload"]["span_id"]
    assert spans["upload"]["service"] == "cobol-ingest" and spans["compress"]["service"] == "cobol-compressor"
    assert spans["compress"]["attributes"] == {"cobol.seq": "3", "cobol.ok": True}
    # each line is an OTLP/JSON ExportTraceServiceRequest (hex ids, int64 as strings, OTLP kinds)
    raw = json.loads(path.read_text().splitlines()[0])
    span = raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16 and span["kind"] == 1
    assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 0


def test_hostile_trace_headers_start_a_new_trace(tmp_path):
    path = tmp_path / "t.jsonl"
    p = _provider("cobol-archive", path)
    for bad in (b"garbage", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01", "é\n".encode(), b"\0" * 10_000, None):
        with p.get_tracer("t").start_as_current_span("x", context=telemetry.context_from_kafka([("traceparent", bad)])) as s:
            assert s.get_span_context().is_valid
    p.shutdown()
    assert [s["parent_id"] for s in _lines(path)] == [""] * 5


def test_sampling_drops_whole_traces(tmp_path):
    path = tmp_path / "t.jsonl"
    api = _provider("cobol-api", path, COBOL_TRACE_SAMPLE="0")
    ingest = _provider("cobol-ingest", path, COBOL_TRACE_SAMPLE="1")
    with api.get_tracer("t").start_as_current_span("root"):
        headers = telemetry.trace_headers()
    assert int(headers[0][1].decode().rsplit("-", 1)[1], 16) & 1 == 0       # the sampled flag is off
    with ingest.get_tracer("t").start_as_current_span("child", context=telemetry.context_from_kafka(headers)):
        pass                                     # ParentBased: the root's decision holds downstream
    with ingest.get_tracer("t").start_as_current_span("own root"):
        pass
    api.shutdown()
    ingest.shutdown()
    assert [s["name"] for s in _lines(path)] == ["own root"]


@pytest.mark.parametrize("env, words", [
    ({"COBOL_TRACE_SAMPLE": "abc"}, "COBOL_TRACE_SAMPLE"),
    ({"COBOL_TRACE_SAMPLE": "1.5"}, "[0, 1]"),
    ({"COBOL_TRACE_FILE": "/nonexistent-dir/x/t.jsonl"}, "cannot be opened"),
    ({"COBOL_TRACE_FILE": "a\0b"}, "NUL"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://x"}, "http://"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, "http/json"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
      "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"),
])
def test_bad_tracing_settings_are_refused_clearly(env, words):
    with pytest.raises(tracing.TracingConfigError) as err:
        tracing.provider("cobol-x", "x-1", env=env)
    assert words in str(err.value)


def test_no_exporter_configured_means_no_export():
    assert tracing.exporter_from_env({}) is None


class _Receiver:
    """A plain HTTP server on 127.0.0.1 that keeps what OTLP exporters post to it."""

    def __init__(self):
        got = self.got = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                got.append((self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def _post_one_span(provider, name: str, rx: _Receiver) -> tuple[str, dict, bytes]:
    """End one span on `provider`, shut it down (exports), and return the one POST rx got."""
    try:
        with provider.get_tracer("t").start_as_current_span(name):
            pass
        provider.shutdown()
    finally:
        rx.close()
    assert len(rx.got) == 1
    return rx.got[0]


def test_otlp_default_protocol_posts_protobuf(monkeypatch):
    """No protocol named: OpenTelemetry's own OTLP/HTTP exporter (protobuf), to <endpoint>/v1/traces."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    rx = _Receiver()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.port}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)          # the official exporter reads os.environ itself
    path, headers, body = _post_one_span(tracing.provider("cobol-archive", "archive-1", env=env), "archive.frame", rx)
    assert path == "/v1/traces" and {k.lower(): v for k, v in headers.items()}["content-type"] == "application/x-protobuf"
    req = ExportTraceServiceRequest.FromString(body)
    rs = req.resource_spans[0]
    assert any(a.key == "service.name" and a.value.string_value == "cobol-archive" for a in rs.resource.attributes)
    assert rs.scope_spans[0].spans[0].name == "archive.frame"


def test_otlp_http_json_reaches_the_receiver():
    """OTLP/HTTP with the JSON encoding (needs no exporter package)."""
    rx = _Receiver()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.port}",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_HEADERS": "x-token=a%20b"}
    exporter = tracing.exporter_from_env(env)
    assert isinstance(exporter, tracing.OtlpJsonExporter)
    p = tracing.provider("cobol-federator", "federator-1", env={})
    p.add_span_processor(SimpleSpanProcessor(exporter))
    path, headers, raw = _post_one_span(p, "round", rx)
    body = json.loads(raw)
    assert path == "/v1/traces" and headers["x-token"] == "a b"
    assert headers["Content-Type"] == "application/json"
    rs = body["resourceSpans"][0]
    assert {"key": "service.name", "value": {"stringValue": "cobol-federator"}} in rs["resource"]["attributes"]
    assert rs["scopeSpans"][0]["spans"][0]["name"] == "round"


def test_logs_carry_the_active_span_ids(tmp_path, monkeypatch):
    import structlog

    from cobol_mesh import logging as mlog
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    try:
        mlog.configure("test-1")
        p = _provider("cobol-test", tmp_path / "t.jsonl")
        log = structlog.get_logger("x")
        log.info("outside")
        with p.get_tracer("t").start_as_current_span("work") as span:
            log.info("inside")
        p.shutdown()
    finally:
        structlog.reset_defaults()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    outside, inside = (next(x for x in lines if x["event"] == e) for e in ("outside", "inside"))
    assert "trace_id" not in outside
    ctx = span.get_span_context()
    assert inside["trace_id"] == format(ctx.trace_id, "032x") and inside["span_id"] == format(ctx.span_id, "016x")


class _Echo(grpc.GenericRpcHandler):
    """A real gRPC server handler: echoes the traceparent it sees, or aborts on request."""

    def __init__(self):
        self.seen: list[str] = []

    def service(self, details):
        def call(request, context):
            with telemetry.tracer().start_as_current_span("inner") as s:
                self.seen.append(format(s.get_span_context().trace_id, "032x"))
            if request == b"fail":
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")
            return request
        return grpc.unary_unary_rpc_method_handler(call)


def test_grpc_interceptors_carry_the_trace_and_count_failures(tmp_path, monkeypatch):
    path = tmp_path / "t.jsonl"
    p = _provider("cobol-coordinator", path)
    monkeypatch.setattr(telemetry, "_tracer", p.get_tracer("cobol.coordinator"))   # the server side's tracer()
    metrics.identify("coordinator", "coordinator-9")
    echo = _Echo()
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[telemetry.ServerTracing()],
                         handlers=[echo])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    before = _sample("cobol_errors_total", kind="grpc_failed_precondition", instance="coordinator-9")
    try:
        ch = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), *telemetry.client_interceptors())
        rpc = ch.unary_unary("/cobol.v1.Test/Echo")
        with p.get_tracer("client").start_as_current_span("caller") as caller:
            assert rpc(b"hi", timeout=5) == b"hi"
            with pytest.raises(grpc.RpcError) as err:
                rpc(b"fail", timeout=5)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert rpc(b"poll", timeout=5) == b"poll"      # no caller trace, not an upload: no server span
        ch.close()
    finally:
        server.stop(None)
        p.shutdown()
    want = format(caller.get_span_context().trace_id, "032x")
    assert echo.seen[:2] == [want, want] and echo.seen[2] != want
    spans = [s for s in _lines(path) if s["name"] == "/cobol.v1.Test/Echo"]
    assert len(spans) == 2 and all(s["trace_id"] == want for s in spans)
    assert _sample("cobol_errors_total", kind="grpc_failed_precondition", instance="coordinator-9") == before + 1


def _sample(name: str, **labels) -> float:
    """A sample of one of cobol_mesh.metrics' own metrics (collecting only that metric, so the
    scrape-time callbacks do not run)."""
    metric = {"cobol_errors_total": metrics.ERRORS}[name]
    for fam in metric.collect():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


class _State:
    current_id, candidate_id, seq = "00000000000000ab", "", 7


class _Node:
    def __init__(self, role, status):
        self.role, self.status = role, status


class _Budget:
    epsilon, epsilon_spent = 1.0, 0.25


def test_scrape_time_metrics_and_a_broken_source():
    metrics.identify("compressor", "compressor-7")
    metrics.on_scrape(lambda: metrics.dictionary_samples(_State()))
    metrics.on_scrape(lambda: metrics.budget_samples(_Budget()))
    metrics.on_scrape(lambda: metrics.node_samples({"a": _Node("archive", "down"), "b": _Node("archive", "down"),
                                                    "c": _Node("compressor", "alive")}))
    metrics.on_scrape(lambda: [("cobol_not_a_metric", {}, 1)])
    metrics.on_scrape(lambda: 1 / 0)
    before = _sample("cobol_errors_total", kind="metrics_callback", instance="compressor-7")
    text = generate_latest().decode()
    assert 'cobol_dictionary_in_use{dictionary_id="00000000000000ab",instance="compressor-7",role="current"} 1.0' in text
    assert 'cobol_dictionary_state_seq{instance="compressor-7"} 7.0' in text
    assert 'cobol_dp_epsilon_spent{instance="compressor-7"} 0.25' in text
    assert 'cobol_nodes{role="archive",status="down"} 2.0' in text
    assert 'cobol_nodes{role="compressor",status="alive"} 1.0' in text
    assert "cobol_not_a_metric" not in text
    assert _sample("cobol_errors_total", kind="metrics_callback", instance="compressor-7") == before + 2


def test_every_listed_name_is_defined():
    from prometheus_client.metrics import MetricWrapperBase
    defined = {metrics.CONSUMER_LAG, *metrics._SCRAPED}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            (fam,) = obj.describe()
            defined.add(fam.name + ("_total" if fam.type == "counter" else ""))
    assert set(metrics.NAMES) <= defined
    assert all(metrics.NAMES.values())


def test_consumer_lag_comes_from_the_consumers_statistics():
    metrics.identify("archive", "archive-7")
    stats = {"name": "cobol-archive-7#consumer-1", "topics": {"cobol.frames": {"partitions": {
        "0": {"fetch_state": "active", "ls_offset": 10, "app_offset": 4, "consumer_lag": 9},
        "1": {"fetch_state": "none", "ls_offset": 99, "app_offset": 0},          # not ours
        "2": {"fetch_state": "active", "ls_offset": 5, "app_offset": -1001, "consumer_lag": 2},
        "-1": {"fetch_state": "active", "consumer_lag": 50}}}}}          # librdkafka's UA partition
    metrics.lag_stats_config()["stats_cb"](json.dumps(stats))
    before = _sample("cobol_errors_total", kind="kafka_stats", instance="archive-7")
    metrics.lag_stats_config()["stats_cb"]("{not json")
    text = generate_latest().decode()
    assert 'cobol_consumer_lag{instance="archive-7",partition="0",service="archive",topic="cobol.frames"} 6.0' in text
    assert 'cobol_consumer_lag{instance="archive-7",partition="2",service="archive",topic="cobol.frames"} 2.0' in text
    assert 'partition="1"' not in text and 'partition="-1"' not in text
    assert _sample("cobol_errors_total", kind="kafka_stats", instance="archive-7") == before + 1
