"""/api/cluster/*, /api/health from Cluster.Health, and the WebSocket's node events and alerts,
against the real mesh (coordinator, archive, two compressors, ingest on real Kafka, Redis and
PostgreSQL) and a real API process. The faults (killed compressors, a killed coordinator)
come last in the module: each test leaves the mesh as it found it."""
from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

try:
    from . import api_harness as h  # type: ignore
except ImportError:  # tests/integration is not a package
    import api_harness as h  # type: ignore

from infra_support import run_infra
from waiting import wait_until

pytestmark = pytest.mark.integration

LOG_FILE = (h.ROOT / ".." / "shared" / "corpora" / "loghub" / "HDFS_2k.log").resolve()
JOB_DEADLINE = 180


@pytest.fixture(scope="module")
def mesh(infra, tmp_path_factory):
    procs = h.MeshProcs(infra, tmp_path_factory.mktemp("cluster-mesh"))
    try:
        procs.start_all()
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def api(infra, mesh, tmp_path_factory):
    env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
           **{k: v for k, v in mesh.env.items()
              if k.endswith("_ADDR") or k.startswith("COBOL_TOPIC_") or k in ("COBOL_JOBS_CHANNEL", "COBOL_KAFKA_BOOTSTRAP")}}
    proc = h.start_api(tmp_path_factory.mktemp("cluster-api"), extra_env=env)
    yield proc
    h.stop_api(proc)


@pytest.fixture(scope="module")
def client(api):
    with api.client(api.token()) as c:
        yield c


@pytest.fixture(scope="module")
def viewer(api, client):
    r = client.post("/api/users", json={"name": "cluster-viewer", "password": "Gr33n-Tea-Kettle!", "role": "viewer"})
    assert r.status_code == 201, r.text
    with api.client(api.token("cluster-viewer", "Gr33n-Tea-Kettle!")) as c:
        yield c


def nodes(client, **params) -> dict[str, dict]:
    r = client.get("/api/cluster/nodes", params=params)
    assert r.status_code == 200, r.text
    return {n["instance"]: n for n in r.json()["items"]}


def all_alive(client) -> dict | None:
    got = nodes(client)
    want = [i for i, _m, _a in h.MESH_SERVICES]
    return got if all(got.get(i, {}).get("status") == "alive" for i in want) else None


def run_job(client) -> str:
    r = client.post("/api/jobs", files={"file": ("cluster.log", LOG_FILE.read_bytes())})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    wait_until(f"job {job_id} done", lambda: client.get(f"/api/jobs/{job_id}").json()["status"] == "done",
               JOB_DEADLINE, 0.5, describe=lambda: client.get(f"/api/jobs/{job_id}").json())
    return job_id


def test_nodes_list_every_instance_with_its_fields(client, viewer):
    got = wait_until("every mesh instance alive in /api/cluster/nodes", lambda: all_alive(client), 60,
                     describe=lambda: client.get("/api/cluster/nodes").text)
    c1 = got["compressor-1"]
    assert c1["role"] == "compressor" and c1["pid"] > 0 and c1["host"] and c1["beats"] >= 1
    assert c1["last_heartbeat"].endswith("Z") and c1["started_at"].endswith("Z")
    assert c1["rss_bytes"] > 10 << 20 and c1["cpu_percent"] >= 0
    assert set(c1) >= {"instance", "role", "host", "pid", "version", "status", "last_heartbeat", "status_since",
                       "cpu_percent", "rss_bytes", "partitions", "started_at", "beats", "reason", "lag"}
    # viewers read the cluster too; filters and paging as on every list
    page = viewer.get("/api/cluster/nodes", params={"role": "compressor", "limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and page["limit"] == 1 and page["offset"] == 1
    assert [n["instance"] for n in page["items"]] == ["compressor-2"]
    assert set(nodes(client, status="alive")) >= {"compressor-1", "compressor-2", "archive-1", "ingest-1"}
    assert nodes(client, status="down") == {} and nodes(client, role="nobody") == {}


def test_compressor_heartbeats_carry_partitions_and_lag(client, mesh):
    run_job(client)
    chunks = mesh.env["COBOL_TOPIC_CHUNKS"]

    def with_lag():
        got = nodes(client, role="compressor")
        parts = [p for n in got.values() for p in n["partitions"] if p["topic"] == chunks]
        # every chunk partition is assigned to one of the two, each with a computed lag
        if sorted(p["partition"] for p in parts) == list(range(len(parts))) and parts \
                and all(p["lag"] >= 0 for p in parts) and all(n["lag"] is not None for n in got.values()):
            return got
        return None

    got = wait_until("compressors reporting their chunk partitions with lag", with_lag, 30,
                     describe=lambda: nodes(client, role="compressor"))
    for n in got.values():
        assert n["lag"] == sum(p["lag"] for p in n["partitions"] if p["lag"] >= 0)
    archive = nodes(client, role="archive")["archive-1"]
    assert {p["topic"] for p in archive["partitions"]} == {mesh.env["COBOL_TOPIC_FRAMES"]}
    assert all(p["lag"] >= -1 for p in archive["partitions"])


def test_node_detail_unknown_and_hostile_ids(client):
    r = client.get("/api/cluster/nodes/compressor-1")
    assert r.status_code == 200 and r.json()["instance"] == "compressor-1"
    assert client.get("/api/cluster/nodes/compressor-99").status_code == 404
    hostile = ["..", "%2e%2e", "a%2fb", "%00", "a%0a", "a%0Ab", "x" * 300, "%C3%BC", "nodes:compressor-1",
               "cobol%3Anodes", "%20", "-rf", ".hidden", "compressor-1%0A", "%E2%80%AE"]
    for bad in hostile:
        r = client.get(f"/api/cluster/nodes/{bad}")
        assert r.status_code in (400, 404, 422), (bad, r.status_code, r.text)
        assert "detail" in r.json()
    for params in ({"instance": "a\nb"}, {"instance": ".."}, {"before_seq": -1}, {"before_seq": "x"},
                   {"limit": 0}, {"limit": 5000}, {"instance": "ü"}):
        r = client.get("/api/cluster/events", params=params)
        assert r.status_code in (400, 422), (params, r.status_code, r.text)
    for params in ({"role": "Compressor;"}, {"status": "dead"}, {"limit": 0}, {"offset": -1}):
        assert client.get("/api/cluster/nodes", params=params).status_code in (400, 422), params
    for params in ({"job_id": ".."}, {"job_id": "a/b"}, {"limit": 501}):
        assert client.get("/api/cluster/replicas", params=params).status_code in (400, 404, 422), params
    assert client.get("/api/cluster/replicas", params={"job_id": "no-such-job"}).status_code == 404


def test_events_are_paged_and_filtered(client):
    first = client.get("/api/cluster/events", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["total"] == 2 and first["next_before_seq"]
    seqs = [e["seq"] for e in first["items"]]
    assert seqs == sorted(seqs, reverse=True)
    older = client.get("/api/cluster/events", params={"limit": 2, "before_seq": first["next_before_seq"]}).json()
    assert older["items"] and all(e["seq"] < min(seqs) for e in older["items"])
    mine = client.get("/api/cluster/events", params={"instance": "compressor-2", "limit": 50}).json()["items"]
    assert mine and {e["instance"] for e in mine} == {"compressor-2"}
    assert "joined" in {e["kind"] for e in mine} and mine[0]["role"] == "compressor"


def test_replicas_with_kafka_in_sync_replicas(client, mesh):
    job_id = run_job(client)
    rep = client.get("/api/cluster/replicas").json()
    assert rep["min_replicas"] >= 1
    assert [a["replica"] for a in rep["archives"]] == ["archive-1"] and rep["archives"][0]["status"] == "alive"
    job = next(j for j in rep["jobs"] if j["job_id"] == job_id)
    assert job["healthy"] and job["chunks_under"] == 0 and job["chunks_at_min"] == job["chunk_count"] > 0
    assert job["per_replica"] == {"archive-1": job["chunk_count"]}
    one = client.get("/api/cluster/replicas", params={"job_id": job_id}).json()
    assert [j["job_id"] for j in one["jobs"]] == [job_id]
    kafka = rep["kafka"]
    assert kafka["available"] and kafka["brokers"] >= 1 and kafka["error"] is None
    topics = {t["topic"]: t for t in kafka["topics"]}
    chunks = topics[mesh.env["COBOL_TOPIC_CHUNKS"]]
    assert chunks["partitions"] >= 2 and chunks["replication_factor"] == kafka["brokers"]
    assert chunks["min_isr"] == chunks["replication_factor"] and chunks["under_replicated"] == 0
    assert kafka["under_replicated"] == [] and kafka["offline"] == []


def test_leader(client):
    r = client.get("/api/cluster/leader").json()
    assert r["leader"] == "coordinator-1" and r["fencing_token"] >= 1
    assert r["answered_by"] == "coordinator-1" and r["answered_by_leader"] is True


def test_health_ok_with_a_whole_cluster(api):
    def ok():
        body = httpx.get(f"{api.url}/api/health", timeout=10).json()
        return body if body["status"] == "ok" else None
    body = wait_until("health ok", ok, 30, describe=lambda: httpx.get(f"{api.url}/api/health", timeout=10).json())
    assert body["cluster"]["status"] == "ok" and body["cluster"]["alive"]["compressor"] == 2
    assert body["reasons"] == [] and body["checks"]["cluster"] == "ok" and body["checks"]["watch"] == "ok"


def _recv_until(sock, predicate, timeout: float) -> list[dict]:
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = json.loads(sock.recv(timeout=max(0.05, end - time.monotonic())))
        except TimeoutError:
            break
        seen.append(msg)
        if predicate(msg):
            return seen
    raise AssertionError(f"not seen within {timeout}s; got {[m.get('type') for m in seen]}: {seen[-5:]}")


def test_a_stopped_broker_shows_under_replicated_partitions_and_alerts(api, mesh, client):
    token = client.headers["Authorization"].split()[1]
    chunks = mesh.env["COBOL_TOPIC_CHUNKS"]
    assert run_infra("stop", "kafka-3").returncode == 0
    try:
        def under():
            k = client.get("/api/cluster/replicas", params={"limit": 1}).json()["kafka"]
            return k if k["available"] and any(p["topic"] == chunks for p in k["under_replicated"]) else None
        k = wait_until("under-replicated chunk partitions with kafka-3 stopped", under, 60)
        row = next(p for p in k["under_replicated"] if p["topic"] == chunks)
        assert len(row["isr"]) < len(row["replicas"]) and row["leader"] >= 0
        assert next(t for t in k["topics"] if t["topic"] == chunks)["under_replicated"] >= 1
        sock, _snap = api.ws(token)
        with sock:
            got = _recv_until(sock, lambda m: m["type"] == "alert" and m["alert"]["kind"] == "under_replicated"
                              and not m["alert"].get("resolved"), 30)
            assert "under-replicated" in got[-1]["alert"]["message"]
    finally:
        assert run_infra("start", "kafka").returncode == 0
    wait_until("every partition back in sync", lambda: client.get(
        "/api/cluster/replicas", params={"limit": 1}).json()["kafka"]["under_replicated"] == [], 120)
    # a socket read all along (an unread one stops answering pings): the end is alerted too
    sock, snap = api.ws(token)
    with sock:
        assert any(a["kind"] == "under_replicated" for a in snap["alerts"])      # the recent alerts
        _recv_until(sock, lambda m: m["type"] == "alert" and m["alert"]["kind"] == "under_replicated"
                    and m["alert"].get("resolved"), 30)


def test_killing_every_compressor_degrades_health_and_is_pushed(api, mesh, client):
    sock, snap = api.ws(client.headers["Authorization"].split()[1])
    with sock:
        assert snap["type"] == "snapshot" and snap["live"] is True and isinstance(snap["alerts"], list)
        _recv_until(sock, lambda m: m["type"] == "nodes" and any(n["instance"] == "compressor-1" for n in m["nodes"]), 15)
        for name in ("compressor-1", "compressor-2"):
            mesh.procs[name].send_signal(signal.SIGKILL)
            mesh.procs[name].wait(10)
        got = _recv_until(sock, lambda m: m["type"] == "alert" and m["alert"]["kind"] == "node_down", 20)
        downs = [m for m in got if m["type"] == "node" and m["event"]["kind"] in ("suspect", "down")]
        assert downs and downs[0]["event"]["instance"].startswith("compressor-")

    def degraded():
        body = httpx.get(f"{api.url}/api/health", timeout=10).json()
        return body if body["status"] == "degraded" and any("no live compressor" in r for r in body["reasons"]) else None
    body = wait_until("health degraded with no live compressor", degraded, 20,
                      describe=lambda: httpx.get(f"{api.url}/api/health", timeout=10).json())
    assert body["cluster"]["status"] == "degraded" and body["checks"]["cluster"].startswith("degraded: ")
    ready = httpx.get(f"{api.url}/api/ready", timeout=10)
    assert ready.status_code == 200 and any("no live compressor" in r for r in ready.json()["reasons"])
    wait_until("both compressors down", lambda: {n: v["status"] for n, v in nodes(client, role="compressor").items()}
               == {"compressor-1": "down", "compressor-2": "down"}, 20)

    for name in ("compressor-1", "compressor-2"):
        mesh.start(name, "services.compressor", None)
    wait_until("health ok again", lambda: httpx.get(f"{api.url}/api/health", timeout=10).json()["status"] == "ok", 60)
    assert {n["status"] for n in nodes(client, role="compressor").values()} == {"alive"}


def test_a_dead_coordinator_is_a_503_not_a_500(api, mesh, client):
    mesh.procs["coordinator-1"].send_signal(signal.SIGKILL)
    mesh.procs["coordinator-1"].wait(10)
    try:
        for path in ("/api/cluster/nodes", "/api/cluster/nodes/compressor-1", "/api/cluster/events",
                     "/api/cluster/replicas", "/api/cluster/leader"):
            r = client.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert "coordinator is unavailable" in r.json()["detail"] and r.headers["retry-after"] == "1"
        body = httpx.get(f"{api.url}/api/health", timeout=15).json()
        assert body["status"] == "degraded" and body["cluster"]["status"] == "unknown"
        assert any("coordinator is unavailable" in r for r in body["reasons"])
    finally:
        mesh.start("coordinator-1", "services.coordinator", mesh.env["COBOL_COORDINATOR_ADDR"])
    wait_until("the cluster answering again", lambda: client.get("/api/cluster/leader").status_code == 200, 30)
    # the WebSocket's Watch stream came back on its own
    wait_until("the API watching again",
               lambda: httpx.get(f"{api.url}/api/health", timeout=10).json()["checks"]["watch"] == "ok", 30)
