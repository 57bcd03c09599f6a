"""The whole mesh as `make up` starts it (scripts/mesh.py, the API in front), exporting to the
real collector (scripts/otel/collector.py) with the default OTLP exporter: one job sent through
POST /api/jobs is one trace in the collector, rooted at the API's request span, through ingest,
compressor, both archive replicas and the coordinator. Run by `make test-otlp`."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from corpora import ROOT
from otlp_support import check_trace, collector, job_trace
from mesh_api import admin_client
from waiting import wait_until

from cobol_mesh import topology

MESH = [sys.executable, str(ROOT / "scripts" / "mesh.py")]
pytestmark = pytest.mark.e2e
API = f"http://127.0.0.1:{topology.shift_port(8000, int(os.environ.get('COBOL_PORT_OFFSET') or 0))}"


@pytest.fixture(scope="module")
def api(infra):
    was_running = collector.running()
    ep = collector.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "COBOL_TRACE_FILE"}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": ep["otlp_http"], "OTEL_BSP_SCHEDULE_DELAY": "200",
            "COBOL_MESH_TIMEOUT": os.environ.get("COBOL_MESH_TIMEOUT", "300")}
    subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True, env=env)
    try:
        up = subprocess.run([*MESH, "up", "--no-supervise"], cwd=ROOT, capture_output=True, text=True, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        with admin_client(API) as c:
            yield c
    finally:
        subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True, env=env)
        if not was_running:
            collector.stop()


def test_a_rest_job_is_one_trace_from_the_api_to_the_coordinator(api):
    data = b"".join(b"%08d GET /index.html 200 %d\n" % (i, i * 7 % 1000) for i in range(120_000))
    since = time.time()
    r = api.post("/api/jobs", files={"file": ("access.log", data)})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = wait_until(f"job {job_id} done", lambda: (j := api.get(f"/api/jobs/{job_id}").json())["status"] == "done"
                     and j, timeout=300)
    assert job["chunk_count"] >= 4
    spans = wait_until(f"job {job_id}'s whole trace in the collector",
                       lambda: job_trace(job_id, job["chunk_count"], since), timeout=90)
    by_service = check_trace(spans, job_id, root=("cobol-api", "POST /api/jobs"))   # ingest's parent: the API
    assert {s["name"] for s in by_service["cobol-ingest"]} >= {"/cobol.v1.Ingest/Upload"}
