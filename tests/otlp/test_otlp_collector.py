"""The mesh's traces in a real OpenTelemetry collector: Jaeger v2 (scripts/otel/collector.py,
built by `make collector`) receives the OTLP export of every pipeline service (ingest,
compressor, two archive replicas, coordinator on the real Kafka, Redis and PostgreSQL), once
with the default exporter (OTLP/HTTP protobuf) and once with OTEL_EXPORTER_OTLP_PROTOCOL=http/json.
One job is sent through; its trace is found and read back through the collector's query API
(/api/v3/traces): one trace id, spans of every service with their service.name, each span's
parent in the same trace. Then the collector is stopped: jobs still complete, every service's log
says so once (not per batch), and when the collector is back the next job's trace arrives and the
log says how much was lost.

Run by `make test-otlp` (not by `make test`: a cold build of the collector takes minutes)."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from mesh_harness import Mesh, gen_data, split
from otlp_support import check_trace, collector, job_trace
from waiting import wait_until

from cobol_mesh.settings import local_port

pytestmark = pytest.mark.integration
SHIFT = 460              # ports: the topology's + COBOL_PORT_OFFSET + 460 (ingest 50511)
METRICS = 9700           # + COBOL_PORT_OFFSET + SHIFT + n: each instance's /metrics (the harness has none)
CHUNK = 256 * 1024
PROTOCOLS = {"protobuf-default": {}, "http-json": {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}}


@pytest.fixture(scope="module")
def jaeger():
    was_running = collector.running()
    ep = collector.start()
    try:
        yield ep
    finally:
        if not was_running:
            collector.stop()
    assert was_running or not collector.running()


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def mesh(request, infra, jaeger, tmp_path_factory):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger["otlp_http"], "OTEL_BSP_SCHEDULE_DELAY": "200",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "2", **PROTOCOLS[request.param]}
    m = Mesh(infra, tmp_path_factory.mktemp(f"otlp-{request.param}"), shift=SHIFT, chunk=CHUNK, extra_env=env)
    for name in ("COBOL_TRACE_FILE", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                 *(() if "OTEL_EXPORTER_OTLP_PROTOCOL" in env else ("OTEL_EXPORTER_OTLP_PROTOCOL",))):
        m.env.pop(name, None)                # nothing from the caller's shell overrides the case
    m.metrics_ports = {name: local_port(METRICS + SHIFT + n) for n, name in enumerate(m.planned)}
    try:
        for name, port in m.metrics_ports.items():
            m.start_planned(name, COBOL_METRICS_PORT=str(port))
        yield m
    finally:
        m.close()


def send_job(m: Mesh, mib: int = 1) -> tuple[str, int]:
    """One job through ingest (as the API would send it, but with no trace context: ingest's
    Upload starts the trace), waited until done; (job id, chunk count)."""
    reply = m.upload(split(b"".join(gen_data(mib))), name="otlp.log")
    m.wait_status(reply.job_id, "done", timeout=180)
    return reply.job_id, reply.chunk_count


def test_one_job_is_one_trace_in_the_collector(mesh):
    since = time.time()
    job_id, chunks = send_job(mesh)
    assert chunks >= 4
    spans = wait_until(f"job {job_id}'s whole trace in the collector", lambda: job_trace(job_id, chunks, since),
                       timeout=90)
    by_service = check_trace(spans, job_id, root=("cobol-ingest", "/cobol.v1.Ingest/Upload"))
    assert {s["resource"]["service.instance.id"] for s in by_service["cobol-ingest"]} == {"ingest-1"}


def _log_events(m: Mesh, instance: str, event: str) -> list[dict]:
    out = []
    for line in (m.run / f"{instance}.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            out.append(json.loads(line))
    return [x for x in out if x.get("event") == event]


def export_failures(m: Mesh, instance: str) -> float:
    """cobol_errors_total{kind="trace_export"} of one instance (0 before its first failure)."""
    text = httpx.get(f"http://127.0.0.1:{m.metrics_ports[instance]}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("cobol_errors_total{") and f'instance="{instance}"' in line and 'kind="trace_export"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_collector_down_costs_spans_not_jobs_and_is_said_once(mesh, jaeger):
    said = ("ingest-1", "archive-1", "archive-2", "coordinator-1")      # each exports spans for every job
    collector.stop()
    try:
        assert not collector.running()
        send_job(mesh)                       # the services keep working without their collector
        wait_until("every service's log saying the collector is away",
                   lambda: all(_log_events(mesh, i, "trace_export.failing") for i in said), timeout=60)
        send_job(mesh)                       # a second job's batches fail too: counted, no new line
        wait_until("the second job's batches lost too", lambda: all(export_failures(mesh, i) >= 2 for i in said),
                   timeout=60, describe=lambda: {i: export_failures(mesh, i) for i in said})
    finally:
        collector.start()
    since = time.time()
    job_id, chunks = send_job(mesh)
    wait_until(f"job {job_id}'s trace in the restarted collector", lambda: job_trace(job_id, chunks, since),
               timeout=90)

    def recovered():
        return {i: _log_events(mesh, i, "trace_export.recovered") for i in said}
    back = wait_until("every service's log saying the collector answers again",
                      lambda: (r := recovered()) and all(r.values()) and r, timeout=60)
    for inst in mesh.planned:
        failing = _log_events(mesh, inst, "trace_export.failing")
        assert len(failing) <= 1, (inst, failing)
        if inst in said:
            assert len(failing) == 1 and failing[0]["level"] == "warning"
            assert failing[0]["endpoint"] == jaeger["otlp_http"] + "/v1/traces" and failing[0]["reason"]
            # the one line it says on return counts every batch the metric counted while away
            assert len(back[inst]) == 1 and back[inst][0]["lost_batches"] == export_failures(mesh, inst) >= 2, \
                (inst, back[inst], export_failures(mesh, inst))
