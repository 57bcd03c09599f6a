"""The operator, as a real process, against kopf's Kubernetes API emulator (kmock on 127.0.0.1).

One CobolCluster's life: create, scale up, scale down (draining one worker at a time), a new
version (rolling update), a pod that breaks and heals, deletion. The test plays the
controllers the emulator does not have (it creates and deletes pods as a ReplicaSet would,
and bumps metadata.generation as the API server does) and asserts on the objects and the
status that the emulator then holds.
"""
from __future__ import annotations

import base64
import json
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from deploy_support import ROOT
from kube_emulator import Emulator
from waiting import wait_until
from ports import free_port

NS = "cobol-test"
NAME = "prod"
UID = "5f1d6c1e-0000-4000-8000-000000000001"
BASE = f"/apis/cobolprotocol.io/v1/namespaces/{NS}/cobolclusters"
SPEC = {
    "nodeCount": 2, "nodeClass": "compute-optimized", "storageClass": "fast-ssd", "version": "1.0.0",
    "kafka": {"bootstrapServers": ["kafka-0.kafka:9092", "kafka-1.kafka:9092", "kafka-2.kafka:9092"]},
    "redis": {"secretRef": {"name": "cobol-redis"}},
    "postgres": {"secretRef": {"name": "cobol-postgres", "key": "dsn"}},
    "archive": {"replicas": 2, "storageSize": "10Gi"},
    "resources": {"compressor": {"limits": {"cpu": "3"}}},
}
DEADLINE = 90.0


def die_with_parent() -> None:
    """In the operator's child process: SIGTERM when the test process dies, even killed, so a
    timed-out run leaves no operator behind (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class Kubectl:
    """What the test sees and does, over the emulator's REST API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)      # a loaded test machine is slow

    def get(self, path: str) -> dict | None:
        r = self.http.get(path)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def items(self, api: str, plural: str) -> list[dict]:
        return (self.get(f"{api}/namespaces/{NS}/{plural}") or {}).get("items", [])

    def create(self, api: str, plural: str, obj: dict) -> None:
        self.http.post(f"{api}/namespaces/{NS}/{plural}", json=obj).raise_for_status()

    def patch(self, path: str, body: dict) -> None:
        self.http.patch(path, json=body, headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()

    def delete(self, path: str) -> None:
        self.http.delete(path).raise_for_status()

    def cluster(self) -> dict | None:
        obj = self.get(f"{BASE}/{NAME}")
        SEEN[:] = [(obj or {}).get("status")]
        return obj

    def workload(self, service: str) -> dict | None:
        kind = "statefulsets" if service == "archive" else "deployments"
        return self.get(f"/apis/apps/v1/namespaces/{NS}/{kind}/{NAME}-{service}")

    def pods(self, service: str | None = None) -> list[dict]:
        out = [p for p in self.items("/api/v1", "pods") if not p["metadata"].get("deletionTimestamp")]
        return [p for p in out if service is None or p["metadata"]["labels"]["app.kubernetes.io/component"] == service]

    def condition(self, ctype: str) -> dict:
        for c in ((self.cluster() or {}).get("status") or {}).get("conditions") or []:
            if c["type"] == ctype:
                return c
        return {}


SEEN: list = []      # the last cluster status the test saw (printed when a wait times out)


def wait(what: str, check, operator: subprocess.Popen, log: Path):
    """wait_until, failing at once if the operator exits; the timeout names the last cluster
    status seen and the operator's log tail."""
    def step():
        assert operator.poll() is None, f"the operator exited ({operator.returncode}):\n{log.read_text()[-3000:]}"
        return check()
    return wait_until(what, step, DEADLINE, 0.5,
                      describe=lambda: f"last status seen: {SEEN[-1:]}\noperator log tail:\n{log.read_text()[-3000:]}")


def make_pod(k: Kubectl, service: str, image: str, serial: int) -> str:
    wl = k.workload(service)
    name = f"{NAME}-{service}-{serial}" if service == "archive" else f"{NAME}-{service}-{serial:05d}"
    k.create("/api/v1", "pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": wl["spec"]["template"]["metadata"]["labels"],
                     "creationTimestamp": f"2026-11-30T00:{serial // 60 % 60:02d}:{serial % 60:02d}Z"},
        "spec": {"containers": [{"name": service, "image": image}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": service, "ready": True, "restartCount": 0,
                                          "state": {"running": {}}}]},
    })
    return name


def fill(k: Kubectl, serial: list[int]) -> None:
    """Play the ReplicaSet/StatefulSet controllers: create pods until each workload has its replicas."""
    for wl in k.items("/apis/apps/v1", "deployments") + k.items("/apis/apps/v1", "statefulsets"):
        service = wl["metadata"]["labels"]["app.kubernetes.io/component"]
        image = wl["spec"]["template"]["spec"]["containers"][0]["image"]
        for _ in range(wl["spec"]["replicas"] - len(k.pods(service))):
            serial[0] += 1
            make_pod(k, service, image, serial[0])


def bump(k: Kubectl, spec: dict) -> int:
    """A spec change as the API server records it: the spec, and generation + 1."""
    gen = k.cluster()["metadata"]["generation"] + 1
    k.patch(f"{BASE}/{NAME}", {"metadata": {"generation": gen}, "spec": spec})
    return gen


@pytest.fixture
def world(tmp_path, request):
    emu = Emulator().start()
    log = tmp_path / "operator.log"
    # the cluster's API: a test's own server (fixture `api_server`), else nothing listens (unreachable)
    api = request.getfixturevalue("api_server").url if "api_server" in request.fixturenames \
        else f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, COBOL_KUBE_API=emu.url, COBOL_OPERATOR_INTERVAL="1", COBOL_OPERATOR_API_URL=api,
               COBOL_OPERATOR_API_TIMEOUT="20",         # a busy test machine must not look like an outage
               PYTHONPATH=os.pathsep.join([str(ROOT / "k8s" / "operator"), str(ROOT / "libs" / "mesh")]))
    k = Kubectl(emu.url)
    k.create("/api/v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for name, key, value in (("cobol-redis", "url", "redis://redis:6379/0"),
                             ("cobol-postgres", "dsn", "postgresql://cobol:x@pg:5432/cobol")):
        k.create("/api/v1", "secrets", {"apiVersion": "v1", "kind": "Secret",
                                        "metadata": {"name": name, "namespace": NS}, "stringData": {key: value}})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cobol_operator", "--all-namespaces",   # kmock cannot list namespaces
             "--liveness", "http://127.0.0.1:0/healthz"],   # port 0: no race for a free port
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent)
    try:
        yield k, emu, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        emu.stop()


def owned_writes(emu: Emulator) -> int:
    """Writes to the objects the operator owns (not its own status, not kopf's events)."""
    return sum(1 for r in list(emu.handler) if r.method in ("POST", "PATCH", "PUT", "DELETE")
               and "/cobolclusters" not in r.url.path and "/events" not in r.url.path)


def status_patches(emu: Emulator) -> int:
    return sum(1 for r in list(emu.handler) if r.method == "PATCH" and "/cobolclusters/" in r.url.path)


def test_cluster_lifecycle(world):
    k, emu, op, log = world
    serial = [0]
    k.create("/apis/cobolprotocol.io/v1", "cobolclusters", {
        "apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster",
        "metadata": {"name": NAME, "namespace": NS, "uid": UID, "generation": 1, "resourceVersion": "1"},
        "spec": SPEC})

    # --- create: every service of the topology, wired as the topology says ------------------
    from cobol_mesh import topology
    topo = topology.load()
    wait("every workload", lambda: all(k.workload(s) for s in topo.services), op, log)
    comp = k.workload("compressor")
    assert comp["spec"]["replicas"] == 2
    assert comp["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    c0 = comp["spec"]["template"]["spec"]["containers"][0]
    assert c0["image"] == "ghcr.io/cobol-protocol/cobol:1.0.0"
    assert c0["resources"]["limits"]["cpu"] == "3" and c0["resources"]["requests"]["cpu"] == "1"
    assert c0["readinessProbe"]["exec"]["command"][-1].startswith("test -s")
    assert comp["spec"]["template"]["spec"]["nodeSelector"] == {"cobolprotocol.io/node-class": "compute-optimized"}
    arch = k.workload("archive")
    assert arch["kind"] == "StatefulSet" and arch["spec"]["replicas"] == 2
    vct = arch["spec"]["volumeClaimTemplates"][0]["spec"]
    assert vct["storageClassName"] == "fast-ssd" and vct["resources"]["requests"]["storage"] == "10Gi"
    api_env = {e["name"]: e for e in k.workload("api")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert api_env["COBOL_PG_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "cobol-postgres", "key": "dsn"}
    assert api_env["COBOL_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "cobol-redis", "key": "url"}
    mesh = k.get(f"/api/v1/namespaces/{NS}/configmaps/{NAME}-mesh")
    assert mesh["data"]["COBOL_KAFKA_BOOTSTRAP"] == ",".join(SPEC["kafka"]["bootstrapServers"])
    assert mesh["data"]["COBOL_COORDINATOR_ADDR"] == f"{NAME}-coordinator:50052"
    assert k.get(f"/api/v1/namespaces/{NS}/secrets/{NAME}-api-secrets") is not None
    jobs = k.items("/apis/batch/v1", "jobs")               # creates the Kafka topics
    assert len(jobs) == 1 and "cobol.chunks" in jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"][-1]

    # NetworkPolicies: a service admits exactly the services whose talks_to names it
    for svc in topo.services.values():
        pol = k.get(f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/{NAME}-{svc.name}")
        admitted = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                    for rule in pol["spec"]["ingress"] for p in rule.get("from", [])
                    if "podSelector" in p and "namespaceSelector" not in p}
        callers = {s.name for s in topo.services.values() if svc.name in s.talks_to}
        assert admitted == callers, svc.name
    assert k.get(f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/{NAME}-compressor")["spec"]["maxUnavailable"] == 1

    # every object is owned by the cluster (the garbage collector deletes them with it)
    owned = (k.items("/apis/apps/v1", "deployments") + k.items("/apis/apps/v1", "statefulsets")
             + k.items("/api/v1", "services") + k.items("/api/v1", "configmaps")
             + k.items("/apis/networking.k8s.io/v1", "networkpolicies")
             + k.items("/apis/policy/v1", "poddisruptionbudgets") + k.items("/apis/batch/v1", "jobs"))
    assert len(owned) >= 4 * len(topo.services)
    for o in owned:
        assert o["metadata"]["ownerReferences"] == [{
            "apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster", "name": NAME, "uid": UID,
            "controller": True, "blockOwnerDeletion": True}], o["metadata"]["name"]

    # no pods yet: not ready, progressing
    st = wait("a first status", lambda: (k.cluster().get("status") or {}).get("conditions") and k.cluster()["status"], op, log)
    assert st["observedGeneration"] == 1 and st["nodes"] == 0 and st["readyNodes"] == 0
    assert k.condition("Ready")["status"] == "False" and k.condition("Progressing")["status"] == "True"
    assert st["selector"] == f"cobolprotocol.io/cluster={NAME},app.kubernetes.io/component=compressor"
    assert st["coordinator"]["reachable"] is False and st["coordinator"]["message"]

    # the controllers start the pods: Ready
    fill(k, serial)
    wait("Ready=True", lambda: k.condition("Ready").get("status") == "True", op, log)
    assert k.condition("Progressing")["status"] == "False" and k.condition("Degraded")["status"] == "False"
    assert k.cluster()["status"]["readyNodes"] == 2

    # --- idempotent: further passes write nothing to the owned objects -----------------------
    writes, ticks = owned_writes(emu), status_patches(emu)
    wait("three more reconcile passes", lambda: status_patches(emu) >= ticks + 3, op, log)
    assert owned_writes(emu) == writes

    # --- scale up (kubectl scale patches spec.nodeCount through the scale subresource) -------
    bump(k, {"nodeCount": 4})
    wait("4 compressor replicas", lambda: k.workload("compressor")["spec"]["replicas"] == 4, op, log)
    wait("Progressing=True while pods come", lambda: k.condition("Progressing").get("reason") == "Scaling", op, log)
    fill(k, serial)
    wait("4 ready nodes", lambda: (k.cluster()["status"].get("readyNodes") == 4
                                   and k.condition("Ready")["status"] == "True"), op, log)

    # --- scale down: one worker drained at a time -------------------------------------------
    bump(k, {"nodeCount": 2})
    for remaining in (3, 2):
        # first the mark on one pod, then replicas one lower (never all at once)
        marked = wait(f"a worker marked for draining and replicas {remaining}",
                      lambda: k.workload("compressor")["spec"]["replicas"] == remaining and
                      [p for p in k.pods("compressor")
                       if "cobolprotocol.io/drain" in (p["metadata"].get("annotations") or {})], op, log)
        assert len(marked) == 1
        assert marked[0]["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] == "-1000"
        wait("Progressing=Draining", lambda: k.condition("Progressing").get("reason") == "Draining", op, log)
        assert k.workload("compressor")["spec"]["replicas"] == remaining   # waits for the drained pod to go
        k.delete(f"/api/v1/namespaces/{NS}/pods/{marked[0]['metadata']['name']}")   # the ReplicaSet removes it
        if remaining == 3:
            wait("the next step", lambda: k.workload("compressor")["spec"]["replicas"] == 2, op, log)
    wait("2 nodes, settled", lambda: (k.condition("Progressing").get("status") == "False"
                                      and k.cluster()["status"]["nodes"] == 2), op, log)
    assert k.condition("Ready")["status"] == "True"

    # --- a new version: rolling update, one pod at a time, no capacity lost --------------------
    gen = bump(k, {"version": "1.1.0"})
    new = "ghcr.io/cobol-protocol/cobol:1.1.0"
    wait("every workload on 1.1.0", lambda: all(
        k.workload(s)["spec"]["template"]["spec"]["containers"][0]["image"] == new for s in topo.services), op, log)
    wait("Progressing=RollingUpdate", lambda: k.condition("Progressing").get("reason") == "RollingUpdate", op, log)
    assert k.condition("Ready")["status"] == "True"        # old pods still serve: no downtime
    for svc in topo.services:                              # the Deployment controller, maxSurge 1 / maxUnavailable 0
        for old in [p for p in k.pods(svc) if p["spec"]["containers"][0]["image"] != new]:
            serial[0] += 1
            make_pod(k, svc, new, serial[0])
            k.delete(f"/api/v1/namespaces/{NS}/pods/{old['metadata']['name']}")
    wait("rolled out", lambda: k.condition("Progressing").get("status") == "False", op, log)
    st = k.cluster()["status"]
    assert st["version"] == "1.1.0" and st["observedGeneration"] == gen
    assert k.condition("Ready")["status"] == "True"

    # --- a pod breaks: Degraded, then heals --------------------------------------------------
    victim = k.pods("compressor")[0]["metadata"]["name"]
    k.patch(f"/api/v1/namespaces/{NS}/pods/{victim}", {"status": {
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "compressor", "ready": False, "restartCount": 5,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}})
    wait("Degraded=True", lambda: k.condition("Degraded").get("status") == "True", op, log)
    deg = k.condition("Degraded")
    assert deg["reason"] == "PodsFailing" and victim in deg["message"] and "CrashLoopBackOff" in deg["message"]
    assert k.condition("Ready")["status"] == "False" and k.cluster()["status"]["readyNodes"] == 1
    k.patch(f"/api/v1/namespaces/{NS}/pods/{victim}", {"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "compressor", "ready": True, "restartCount": 5, "state": {"running": {}}}]}})
    wait("Degraded=False again", lambda: k.condition("Degraded").get("status") == "False", op, log)
    assert k.condition("Ready")["status"] == "True"

    # --- a referenced Secret disappears: Degraded says which -----------------------------------
    k.delete(f"/api/v1/namespaces/{NS}/secrets/cobol-redis")
    wait("SecretMissing", lambda: k.condition("Degraded").get("reason") == "SecretMissing", op, log)
    assert "cobol-redis" in k.condition("Degraded")["message"]

    # --- a spec the API server's schema would refuse (the emulator does not validate) --------
    k.create("/apis/cobolprotocol.io/v1", "cobolclusters", {
        "apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster",
        "metadata": {"name": "broken", "namespace": NS, "uid": "u-broken", "generation": 1, "resourceVersion": "1"},
        "spec": {"nodeCount": "many", "version": "1"}})
    broken = wait("InvalidSpec on the broken cluster", lambda: next(
        (c for c in ((k.get(f"{BASE}/broken") or {}).get("status") or {}).get("conditions") or []
         if c["type"] == "Degraded" and c["reason"] == "InvalidSpec"), None), op, log)
    assert broken["status"] == "True" and "kafka" in broken["message"]        # the first field it lacks
    assert not [d for d in k.items("/apis/apps/v1", "deployments") if d["metadata"]["name"].startswith("broken-")]
    assert k.workload("compressor")["spec"]["replicas"] == 2                 # the good cluster is untouched

    # --- delete: the cluster goes; what it owned carries its ownerReferences ------------------
    k.delete(f"{BASE}/{NAME}")
    wait("the cluster gone", lambda: k.cluster() is None, op, log)
    for o in k.items("/apis/apps/v1", "deployments") + k.items("/apis/apps/v1", "statefulsets"):
        assert o["metadata"]["ownerReferences"][0]["uid"] == UID


# --- gRPC mTLS certificates and the coordinator's view ---------------------------------------

class ClusterAPI:
    """A real HTTP server answering as the cluster's API does for the operator: the admin's
    login (the password the operator generated into <cluster>-api-secrets), then
    `GET /api/cluster/nodes` as pages ({"items", "total", "limit", "offset"}, LIMIT a page)."""
    LIMIT = 2

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.nodes: list[dict] = []
        self.password = lambda: None          # set by the test: reads the Secret in the emulator
        self.logins: list[bool] = []
        self.pages: list[int] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # the operator gave up (its timeout)
                    pass

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                ok = self.path == "/api/auth/token" and form.get("username") == ["admin"] and \
                    api.password() is not None and form.get("password") == [api.password()]
                api.logins.append(ok)
                self.answer(200, {"access_token": "t0k", "token_type": "bearer"}) if ok else \
                    self.answer(401, {"detail": "Incorrect username or password"})

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != "/api/cluster/nodes" or self.headers.get("Authorization") != "Bearer t0k":
                    return self.answer(401, {"detail": "Not authenticated"})
                offset = int(parse_qs(url.query).get("offset", ["0"])[0])
                api.pages.append(offset)
                self.answer(200, {"items": api.nodes[offset:offset + api.LIMIT], "total": len(api.nodes),
                                  "limit": api.LIMIT, "offset": offset})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="cluster-api", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def api_server():
    api = ClusterAPI()
    try:
        yield api
    finally:
        api.close()


def secret_files(k: Kubectl, name: str) -> dict[str, bytes] | None:
    sec = k.get(f"/api/v1/namespaces/{NS}/secrets/{name}")
    return None if sec is None else {f: base64.b64decode(v) for f, v in (sec.get("data") or {}).items()}


def test_mesh_certificates_and_the_coordinators_view(world, api_server, tmp_path):
    from cobol_mesh import certs, topology
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import hashes

    k, emu, op, log = world
    topo = topology.load()
    api_server.password = lambda: (secret_files(k, f"{NAME}-api-secrets") or {}).get("admin-password", b"").decode() \
        or (((k.get(f"/api/v1/namespaces/{NS}/secrets/{NAME}-api-secrets") or {}).get("stringData") or {})
            .get("admin-password"))
    api_server.nodes = [
        {"instance": "compressor-1", "role": "compressor", "status": "alive", "lag": 0},
        {"instance": "compressor-2", "role": "compressor", "status": "down", "lag": 12},
        {"instance": "archive-1", "role": "archive", "status": "suspect", "lag": 0},
        {"instance": "compressor-9", "role": "compressor", "status": "left", "lag": 0}]
    k.create("/apis/cobolprotocol.io/v1", "cobolclusters", {
        "apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster",
        "metadata": {"name": NAME, "namespace": NS, "uid": UID, "generation": 1, "resourceVersion": "1"},
        "spec": SPEC})

    # --- the operator makes a CA and one certificate per service, owned by the cluster -----------
    wait("every workload", lambda: all(k.workload(s) for s in topo.services), op, log)
    ca_files, mesh = secret_files(k, f"{NAME}-mesh-ca"), secret_files(k, f"{NAME}-mesh-certs")
    assert set(ca_files) == {"ca.crt", "ca.key"}
    assert set(mesh) == {"ca.crt", *(f"{i}.{e}" for i in [*topo.services, "client"] for e in ("crt", "key"))}
    assert "ca.key" not in mesh and mesh["ca.crt"] == ca_files["ca.crt"]
    ca = x509.load_pem_x509_certificate(mesh["ca.crt"])
    for svc in topo.services:
        assert certs.usable_leaf(svc, mesh[f"{svc}.crt"], mesh[f"{svc}.key"], mesh["ca.crt"]), svc
        leaf = x509.load_pem_x509_certificate(mesh[f"{svc}.crt"])
        ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    for name in ("mesh-ca", "mesh-certs"):
        sec = k.get(f"/api/v1/namespaces/{NS}/secrets/{NAME}-{name}")
        assert sec["metadata"]["ownerReferences"][0]["uid"] == UID

    # every Deployment and StatefulSet mounts it where grpc_auth reads, with its own identity
    workloads = k.items("/apis/apps/v1", "deployments") + k.items("/apis/apps/v1", "statefulsets")
    assert {w["metadata"]["labels"]["app.kubernetes.io/component"] for w in workloads} == set(topo.services)
    digest = None
    for w in workloads:
        svc = w["metadata"]["labels"]["app.kubernetes.io/component"]
        tpl = w["spec"]["template"]
        vol = next(v for v in tpl["spec"]["volumes"] if v["name"] == "mesh-certs")
        assert vol["secret"]["secretName"] == f"{NAME}-mesh-certs"
        assert {i["key"] for i in vol["secret"]["items"]} == {"ca.crt", f"{svc}.crt", f"{svc}.key"}
        ctr = tpl["spec"]["containers"][0]
        mount = next(m for m in ctr["volumeMounts"] if m["name"] == "mesh-certs")
        env = {e["name"]: e.get("value") for e in ctr["env"]}
        assert env["COBOL_CERT_DIR"] == mount["mountPath"] and env["COBOL_GRPC_IDENTITY"] == svc
        digest = digest or tpl["metadata"]["annotations"]["cobolprotocol.io/certs"]
        assert tpl["metadata"]["annotations"]["cobolprotocol.io/certs"] == digest

    # --- the coordinator's view, read page by page, in the status ---------------------------------
    wait("the coordinator reachable", lambda: ((k.cluster().get("status") or {}).get("coordinator") or {})
         .get("reachable"), op, log)
    st = k.cluster()["status"]
    assert st["coordinator"]["nodes"] == 3 and st["coordinator"]["up"] == 1      # `left` is not counted
    assert {0, 2} <= set(api_server.pages) and all(api_server.logins)
    deg = k.condition("Degraded")
    assert deg["status"] == "True" and deg["reason"] == "NodesDown" and "compressor-2" in deg["message"]
    assert "compressor-9" not in deg["message"]
    api_server.nodes[1]["status"] = "alive"
    wait("Degraded=False once the view has no node down", lambda: (
        k.condition("Degraded").get("status") == "False"
        and (k.cluster()["status"].get("coordinator") or {}).get("up") == 2), op, log)   # archive-1: suspect

    # --- re-reconciling keeps the same certificates (and writes nothing) --------------------------
    writes, ticks = owned_writes(emu), status_patches(emu)
    wait("three more reconcile passes", lambda: status_patches(emu) >= ticks + 3, op, log)
    assert owned_writes(emu) == writes
    assert secret_files(k, f"{NAME}-mesh-certs") == mesh and secret_files(k, f"{NAME}-mesh-ca") == ca_files

    # --- a corrupted certificate is made again; nothing else changes --------------------------
    k.patch(f"/api/v1/namespaces/{NS}/secrets/{NAME}-mesh-certs",
            {"data": {"archive.crt": base64.b64encode(b"-----BEGIN CERTIFICATE-----\ngarbage\n").decode()}})
    wait("archive.crt re-issued", lambda: certs.usable_leaf(
        "archive", (secret_files(k, f"{NAME}-mesh-certs") or {}).get("archive.crt"),
        (secret_files(k, f"{NAME}-mesh-certs") or {}).get("archive.key"), ca_files["ca.crt"]), op, log)
    after = secret_files(k, f"{NAME}-mesh-certs")
    assert after["archive.crt"] != mesh["archive.crt"] and after["archive.key"] != mesh["archive.key"]
    assert {f: v for f, v in after.items() if not f.startswith("archive.")} == \
        {f: v for f, v in mesh.items() if not f.startswith("archive.")}
    assert secret_files(k, f"{NAME}-mesh-ca") == ca_files
    wait("the pods roll to the new certificate", lambda: k.workload("api")["spec"]["template"]["metadata"]
         ["annotations"]["cobolprotocol.io/certs"] != digest, op, log)

    # --- a cluster with the user's own Secret: never written, its absence reported ---------------
    k.create("/apis/cobolprotocol.io/v1", "cobolclusters", {
        "apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster",
        "metadata": {"name": "own", "namespace": NS, "uid": "u-own", "generation": 1, "resourceVersion": "1"},
        "spec": {**SPEC, "tls": {"secretName": "my-mesh-certs"}}})
    cond = wait("CertificatesMissing", lambda: next(
        (c for c in ((k.get(f"{BASE}/own") or {}).get("status") or {}).get("conditions") or []
         if c["type"] == "Degraded" and c["reason"] == "CertificatesMissing"), None), op, log)
    assert "my-mesh-certs" in cond["message"]
    assert k.get(f"/api/v1/namespaces/{NS}/secrets/own-mesh-certs") is None
    assert k.get(f"/api/v1/namespaces/{NS}/secrets/own-mesh-ca") is None
    own_api = k.get(f"/apis/apps/v1/namespaces/{NS}/deployments/own-api")
    assert next(v for v in own_api["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "mesh-certs")["secret"]["secretName"] == "my-mesh-certs"
    files, _ = certs.bundle([*topo.services, "client"], label="own")
    partial = {f: base64.b64encode(v).decode() for f, v in files.items() if f != "ca.key" and f != "api.key"}
    k.create("/api/v1", "secrets", {"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": "my-mesh-certs", "namespace": NS}, "data": partial})
    wait("the missing key named", lambda: "api.key" in next(
        (c["message"] for c in (k.get(f"{BASE}/own") or {}).get("status", {}).get("conditions") or []
         if c["type"] == "Degraded"), ""), op, log)
    k.patch(f"/api/v1/namespaces/{NS}/secrets/my-mesh-certs",
            {"data": {"api.key": base64.b64encode(files["api.key"]).decode()}})
    wait("own: certificates accepted", lambda: next(
        (c["reason"] for c in (k.get(f"{BASE}/own") or {}).get("status", {}).get("conditions") or []
         if c["type"] == "Degraded"), None) not in (None, "CertificatesMissing"), op, log)
    mine = k.get(f"/api/v1/namespaces/{NS}/secrets/my-mesh-certs")
    assert "ownerReferences" not in mine["metadata"]            # the user's, untouched
    assert {f: base64.b64decode(v) for f, v in mine["data"].items()} == \
        {f: v for f, v in files.items() if f != "ca.key"}
