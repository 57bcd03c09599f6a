"""Traces, logs and metrics of the whole mesh as `make up` starts it (scripts/mesh.py): one job
sent through the REST API is followed, by its trace id, across every service in the trace
file (COBOL_TRACE_FILE), and in the services' JSON logs; every service's /metrics is scraped
for the names cobol_mesh.metrics defines."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from corpora import ROOT
from mesh_api import admin_client
from waiting import wait_until

sys.path.insert(0, str(ROOT / "libs" / "mesh"))
from cobol_mesh import metrics, topology, tracing  # noqa: E402

MESH = [sys.executable, str(ROOT / "scripts" / "mesh.py")]
pytestmark = pytest.mark.e2e
OFFSET = int(os.environ.get("COBOL_PORT_OFFSET") or 0)
API = f"http://127.0.0.1:{topology.shift_port(8000, OFFSET)}"
PIPELINE = ("cobol-api", "cobol-ingest", "cobol-compressor", "cobol-archive", "cobol-coordinator")


@pytest.fixture(scope="module")
def traced_mesh(infra, tmp_path_factory):
    trace_file = tmp_path_factory.mktemp("traces") / "traces.jsonl"
    # a busy machine can take minutes to start faust (analytics): the start wait is a deadline
    env = os.environ | {"COBOL_TRACE_FILE": str(trace_file), "OTEL_BSP_SCHEDULE_DELAY": "200",
                        "COBOL_MESH_TIMEOUT": os.environ.get("COBOL_MESH_TIMEOUT", "300")}
    subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True, env=env)
    up = subprocess.run([*MESH, "up"], cwd=ROOT, capture_output=True, text=True, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield trace_file
    finally:
        subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True, env=env)


@pytest.fixture(scope="module")
def client(traced_mesh):
    with admin_client(API) as c:
        yield c


@pytest.fixture(scope="module")
def job(client):
    """One 3.5 MB job through POST /api/jobs (several chunks), done, and read back."""
    data = b"".join(b"%08d GET /index.html 200 %d\n" % (i, i * 7 % 1000) for i in range(120_000))
    r = client.post("/api/jobs", files={"file": ("access.log", data)})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    wait_until(f"job {job_id} done", lambda: client.get(f"/api/jobs/{job_id}").json()["status"] == "done",
               timeout=300)
    assert client.get(f"/api/jobs/{job_id}/original").content == data
    return job_id, data


def _spans(path) -> list[dict]:
    return [tracing.decode_line(line) for line in path.read_text().splitlines() if line.strip()]


def test_one_trace_follows_the_job_across_every_service(traced_mesh, job):
    job_id, data = job

    def job_trace():
        spans = _spans(traced_mesh)
        ingest = [s for s in spans if s["name"] == "/cobol.v1.Ingest/Upload"
                  and any(x["attributes"].get("cobol.job_id") == job_id and x["trace_id"] == s["trace_id"] for x in spans)]
        if not ingest:
            return None
        mine = [s for s in spans if s["trace_id"] == ingest[0]["trace_id"]]
        archived = [s for s in mine if s["name"] == "coordinator.apply" and s["attributes"].get("cobol.event") == "archived"]
        chunks = {s["attributes"].get("cobol.seq") for s in mine if s["name"] == "compress.chunk"}
        # every chunk compressed, archived by both replicas, counted by the coordinator
        return mine if len(chunks) >= 4 and len(archived) >= 2 * len(chunks) else None

    mine = wait_until("the job's spans in the trace file", job_trace, timeout=60)
    by_service: dict[str, list[dict]] = {}
    for s in mine:
        by_service.setdefault(s["service"], []).append(s)
    assert set(PIPELINE) <= set(by_service), sorted(by_service)
    ids = {s["span_id"]: s for s in mine}
    root = [s for s in mine if not s["parent_id"]]
    assert len(root) == 1 and root[0]["service"] == "cobol-api" and root[0]["name"] == "POST /api/jobs"
    # the chain: API -> ingest -> compressor -> archive -> coordinator, each a child of the one before
    parent_service = {"cobol-ingest": "cobol-api", "cobol-compressor": "cobol-ingest",
                      "cobol-archive": "cobol-compressor"}
    for svc, parent in parent_service.items():
        for s in by_service[svc]:
            assert ids[s["parent_id"]]["service"] == parent, (svc, s["name"])
    for s in by_service["cobol-coordinator"]:
        assert ids[s["parent_id"]]["service"] in ("cobol-ingest", "cobol-archive")
    assert all(s["attributes"].get("cobol.job_id") == job_id for s in by_service["cobol-compressor"])


def test_logs_carry_the_trace_and_span_ids(traced_mesh, job):
    job_id, _ = job
    spans = _spans(traced_mesh)
    upload = next(s for s in spans if s["name"] == "/cobol.v1.Ingest/Upload"
                  and any(x["trace_id"] == s["trace_id"] and x["attributes"].get("cobol.job_id") == job_id for x in spans))
    lines = [json.loads(x) for x in (ROOT / ".run" / "ingest-1.log").read_text().splitlines() if x.startswith("{")]
    sealed = [x for x in lines if x.get("event") == "upload.sealed" and x.get("job_id") == job_id]
    assert len(sealed) == 1
    assert sealed[0]["trace_id"] == upload["trace_id"] and sealed[0]["span_id"] == upload["span_id"]
    api = [json.loads(x) for x in (ROOT / ".run" / "api-1.log").read_text().splitlines() if x.startswith("{")]
    assert any(x.get("trace_id") == upload["trace_id"] and x.get("job_id") == job_id for x in api)


def _scrape(port: int) -> str:
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200
    return r.text


def _exported(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        m = re.match(r"([a-z_]+)(\{|\s)", line)
        if m and not line.startswith("#"):
            names.add(re.sub(r"_(bucket|sum|count|created)$", "", m.group(1)))
    return names


def _upload_without_start() -> None:
    """An Ingest.Upload whose first message is not `start` (refused: INVALID_ARGUMENT)."""
    import grpc
    from cobol_mesh import grpc_auth
    from cobol_mesh.proto import pb, pb_grpc
    addr = f"127.0.0.1:{topology.load().service('ingest').instance(1, OFFSET).port}"
    with grpc_auth.channel(addr, "api") as ch:
        with pytest.raises(grpc.RpcError) as err:
            pb_grpc.IngestStub(ch).Upload(iter([pb.UploadRequest(data=b"no start")]), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_service_serves_its_metrics(traced_mesh, job, infra):
    """Faults first, so that errors have something to count (a record that is not a Chunk, one
    that is not a Frame, one that is not a JobEvent, an upload without `start`), and a device
    stream for ingest's record and transaction counters."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": infra["kafka"]["bootstrap_servers"]})
    for topic in ("cobol.chunks", "cobol.frames", "cobol.jobs.events"):
        p.produce(topic, key=b"x", value=b"\xff\xff not a protobuf message of this topic")
    stream = f"dev-{uuid.uuid4().hex[:8]}"
    for i in range(20):
        p.produce("cobol.ingest.raw", key=stream.encode(), value=b"temp=%d" % i)     # a record is one line
    assert p.flush(30) == 0
    _upload_without_start()
    topo = topology.load()
    ports: dict[str, list[int]] = {}
    for inst in topo.instances():
        if inst.metrics_port and inst.service != "api":
            ports.setdefault(inst.service, []).append(inst.metrics_port)
    want = {kind: {n for n, kinds in metrics.NAMES.items() if kind in kinds} for kind in ports}

    def missing():
        # a kind's instances together (which worker got the malformed chunk, which
        # coordinator leads, is up to Kafka and Redis)
        out = {kind: sorted(want[kind] - set().union(*(_exported(_scrape(port)) for port in kind_ports)))
               for kind, kind_ports in ports.items()}
        return {k: v for k, v in out.items() if v}

    wait_until("every metric name exported by its service", lambda: not missing(), timeout=90,
               describe=missing)
    leader = "".join(_scrape(port) for port in ports["coordinator"])
    assert re.search(r'cobol_nodes\{role="compressor",status="alive"\} 2\.0', leader), leader
    ingest = _scrape(ports["ingest"][0])
    assert re.search(r'cobol_errors_total\{[^}]*kind="grpc_invalid_argument"[^}]*service="ingest"', ingest)
    assert re.search(r'cobol_records_total\{[^}]*outcome="accepted"\} [1-9]', ingest)
    assert "cobol_api_requests_total" in httpx.get(f"{API}/metrics", timeout=10).text
