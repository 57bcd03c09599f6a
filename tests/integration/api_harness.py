"""Helpers for the API's integration tests: start real `python -m services.api` processes.

Each API instance gets its own PostgreSQL schema (COBOL_API_DB_SCHEMA), a random admin
password and JWT secret, and a free port on 127.0.0.1; it is stopped by its pid and its
schema dropped afterwards.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT / "libs" / "codec", ROOT / "libs" / "mesh", ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
from ports import free_port  # noqa: E402,F401  (tests/ports.py; re-exported to the tests)
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PYTHONPATH = os.pathsep.join(str(p) for p in (ROOT, ROOT / "libs" / "mesh", ROOT / "libs" / "codec"))


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHONPATH + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


@dataclass
class ApiProcess:
    proc: subprocess.Popen
    url: str
    port: int
    schema: str
    admin_password: str
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def rss_bytes(self) -> int:
        """Resident set size of the API process, from /proc/<pid>/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def login(self, user: str = "admin", password: str | None = None) -> dict:
        """The whole token response (access_token, refresh_token, ...)."""
        r = httpx.post(f"{self.url}/api/auth/token",
                       data={"username": user, "password": password or self.admin_password}, timeout=30)
        r.raise_for_status()
        return r.json()

    def token(self, user: str = "admin", password: str | None = None) -> str:
        return self.login(user, password)["access_token"]

    def ws(self, token: str):
        """A WebSocket to /api/ws, authenticated by its first message; returns (socket, snapshot)."""
        import websockets.sync.client as wsc

        sock = wsc.connect(f"ws://127.0.0.1:{self.port}/api/ws", open_timeout=10)
        sock.send(json.dumps({"type": "auth", "token": token}))
        return sock, json.loads(sock.recv(timeout=30))

    def client(self, token: str | None = None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def start_api(tmp_dir: Path, *, extra_env: dict[str, str] | None = None, admin_password: str | None = "",
              wait: bool = True, timeout: float = 60, port: int | None = None,
              schema: str | None = None) -> ApiProcess:
    """Start an API instance. admin_password="" picks a random one; None leaves it unset.
    `schema`: its PostgreSQL schema (default a fresh one), e.g. the one mesh services audit into."""
    port = port or free_port()
    schema = schema or "api_test_" + secrets.token_hex(6)
    password = secrets.token_urlsafe(12) if admin_password == "" else admin_password
    env = base_env({
        "COBOL_API_PORT": str(port),
        "COBOL_API_HOST": "127.0.0.1",
        "COBOL_API_DB_SCHEMA": schema,
        "COBOL_JWT_SECRET": secrets.token_urlsafe(32),
        "COBOL_INSTANCE": f"api-test-{port}",
        # a cheap argon2 keeps the many logins of the tests quick; production keeps t=3, 64 MiB
        "COBOL_API_ARGON2_TIME_COST": "1",
        "COBOL_API_ARGON2_MEMORY_KIB": "8192",
        "COBOL_API_REDIS_PREFIX": f"cobol:apitest:{schema}:",
        "COBOL_API_RATE_PER_USER": "100000",
        "COBOL_API_RATE_PER_ADDR": "100000",
        "COBOL_API_LOGIN_RATE": "100000",
        "COBOL_API_LOCKOUT_FAILURES": "1000",
        "COBOL_JWT_TTL_SECONDS": "3600",   # the module-wide tokens outlive the slowest module
    })
    env.pop("COBOL_ADMIN_PASSWORD", None)
    if password is not None:
        env["COBOL_ADMIN_PASSWORD"] = password
    env.update(extra_env or {})
    log_path = tmp_dir / f"api-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([PYTHON, "-m", "services.api"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    api = ApiProcess(proc, f"http://127.0.0.1:{port}", port, schema, password or "", log_path, env)
    if wait:
        wait_ready(api, timeout)
    return api


def wait_ready(api: ApiProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.proc.poll() is not None:
            raise RuntimeError(f"API exited with {api.proc.returncode}:\n{api.log()}")
        try:
            r = httpx.get(f"{api.url}/api/health", timeout=5)
            if r.status_code in (200, 503):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"API not ready after {timeout}s:\n{api.log()}")


def stop_api(api: ApiProcess, drop_schema: bool = True) -> None:
    if api.proc.poll() is None:
        api.proc.send_signal(signal.SIGTERM)
        try:
            api.proc.wait(15)
        except subprocess.TimeoutExpired:
            api.proc.kill()
            api.proc.wait(5)
    if drop_schema:
        drop(api.env.get("COBOL_PG_DSN") or pg_dsn(), api.schema)


def pg_dsn() -> str:
    try:
        from cobol_mesh.settings import load

        return load().pg_dsn
    except ImportError:
        return os.environ.get("COBOL_PG_DSN", "postgresql://cobol:cobol@127.0.0.1:5432/cobol")


def drop(dsn: str, schema: str) -> None:
    import psycopg

    with contextlib.suppress(Exception):
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def reachable(addr: str, timeout: float = 1.0) -> bool:
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


# ---- the mesh services, for the API's tests --------------------------------------------------

MESH_SERVICES = [  # (instance, module, which gRPC address to health-check)
    ("federator-1", "services.federator", "COBOL_FEDERATOR_ADDR"),
    ("coordinator-1", "services.coordinator", "COBOL_COORDINATOR_ADDR"),
    ("archive-1", "services.archive", "COBOL_ARCHIVE_ADDR"),
    ("compressor-1", "services.compressor", None),
    ("compressor-2", "services.compressor", None),
    ("ingest-1", "services.ingest", "COBOL_INGEST_ADDR"),
]


class MeshProcs:
    """The mesh's services (not the API) as subprocesses of this test session, on free ports,
    with their own Redis prefix, jobs channel, archive directory and run directory; stopped
    by pid."""

    def __init__(self, infra: dict, tmp: Path) -> None:
        tag = secrets.token_hex(4)
        self.tmp = tmp
        self.run = tmp / "run"
        self.run.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {
            "COBOL_INGEST_ADDR": f"127.0.0.1:{free_port()}",
            "COBOL_COORDINATOR_ADDR": f"127.0.0.1:{free_port()}",
            "COBOL_ARCHIVE_ADDR": f"127.0.0.1:{free_port()}",
            "COBOL_FEDERATOR_ADDR": f"127.0.0.1:{free_port()}",
            # the federator's own schema, versions topic and keys; no training reaches quorum
            # here (tests seed its store), so the API's tests are not slowed by rounds
            "COBOL_FED_PG_SCHEMA": f"fedapi{tag}",
            "COBOL_TOPIC_DICT_VERSIONS": f"cobol.apitest-{tag}.dict.versions",
            "COBOL_FED_KEY_DIR": str(tmp / "fedkeys"),
            "COBOL_FED_MIN_NODES": "10000",
            "COBOL_ARCHIVE_BACKEND": "fs",
            "COBOL_ARCHIVE_DIR": str(tmp / "archive"),
            "COBOL_RUN_DIR": str(self.run),
            "COBOL_REDIS_PREFIX": f"cobol:apitest:{tag}:",
            "COBOL_JOBS_CHANNEL": f"cobol:apitest:{tag}:jobs",
            "COBOL_GROUP_PREFIX": f"cobol-apitest-{tag}",
            "COBOL_LINGER_MS": "300",
            # the services' gRPC audit rows go to the audit log of the API started with this schema
            "COBOL_AUDIT_DB_SCHEMA": f"api_test_mesh_{tag}",
            "COBOL_TXN_TIMEOUT_MS": "10000",
            "COBOL_MAX_UPLOAD_BYTES": str(4 << 30),
        }
        # the API the services ask about external callers' tokens (gRPC auth); tests that
        # check gRPC auth start an API on exactly this port
        self.api_port = free_port()
        self.env["COBOL_API_URL"] = f"http://127.0.0.1:{self.api_port}"
        self.infra = infra
        self.env["COBOL_KAFKA_BOOTSTRAP"] = infra["kafka"]["bootstrap_servers"]
        self.env["COBOL_REDIS_URL"] = infra["redis"]["url"]
        self.env["COBOL_PG_DSN"] = infra["postgres"]["dsn"]
        # Topics of this session alone: services of other test sessions on the same Kafka
        # (other consumer groups) would otherwise archive and report our jobs' chunks too.
        self.topics = {f"COBOL_TOPIC_{key}": f"cobol.apitest-{tag}.{suffix}" for key, suffix in
                       (("RAW", "ingest.raw"), ("CHUNKS", "chunks"), ("FRAMES", "frames"),
                        ("EVENTS", "jobs.events"), ("DLQ", "ingest.dlq"))}
        self.env.update(self.topics)

    def _admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.env["COBOL_KAFKA_BOOTSTRAP"]})

    def create_topics(self, timeout: float = 60) -> None:
        from confluent_kafka.admin import NewTopic

        spec = json.loads((ROOT / "scripts" / "infra" / "topics.json").read_text())
        parts = {t["name"].removeprefix("cobol."): int(t["partitions"]) for t in spec["topics"]}
        rf = len(self.infra["kafka"].get("instances", {})) or 1
        admin = self._admin()
        new = [NewTopic(name, num_partitions=parts.get(name.split(".", 2)[2], 6), replication_factor=rf,
                        config=dict(spec.get("defaults", {})))
               for name in self.topics.values()]
        for fut in admin.create_topics(new, request_timeout=timeout).values():
            fut.result()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # every partition led before the services start
            md = admin.list_topics(timeout=5).topics
            if all(n in md and md[n].error is None and md[n].partitions
                   and all(p.leader >= 0 for p in md[n].partitions.values()) for n in self.topics.values()):
                return
            time.sleep(0.2)
        raise RuntimeError("the test topics did not get leaders in time")

    def delete_topics(self) -> None:
        try:
            admin = self._admin()  # keep the client alive until the futures are done
            names = [*self.topics.values(), self.env["COBOL_TOPIC_DICT_VERSIONS"]]   # the federator made the last
            for name, fut in admin.delete_topics(names, request_timeout=30).items():
                try:
                    fut.result()
                except Exception as exc:  # noqa: BLE001 - a leftover topic is harmless, say so
                    print(f"api tests: could not delete topic {name}: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001
            print(f"api tests: could not delete the test topics: {exc}", file=sys.stderr)

    def start_all(self, timeout: float = 120) -> None:
        self.create_topics()
        for instance, module, addr_key in MESH_SERVICES:
            self.start(instance, module, self.env[addr_key] if addr_key else None, timeout)

    def start(self, instance: str, module: str, addr: str | None, timeout: float = 120) -> None:
        env = base_env({**self.env, "COBOL_INSTANCE": instance, "COBOL_METRICS_PORT": str(free_port()),
                        "PYTHONUNBUFFERED": "1"})
        with open(self.run / f"{instance}.log", "ab") as log:
            p = subprocess.Popen([PYTHON, "-m", module], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[instance] = p
        ready = self.run / f"{instance}.ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"{instance} exited ({p.returncode}):\n{self.log(instance)}")
            if ready.exists() and ready.read_text().strip() == str(p.pid):
                if addr is None:
                    return
                from cobol_mesh.grpc_server import health_status

                if health_status(addr) == "SERVING":
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{instance} not ready after {timeout}s:\n{self.log(instance)}")

    def log(self, instance: str, n: int = 60) -> str:
        try:
            return "\n".join((self.run / f"{instance}.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop_all(self) -> None:
        for p in list(self.procs.values())[::-1]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        self.procs.clear()
        self.delete_topics()
        drop(self.env["COBOL_PG_DSN"], self.env["COBOL_FED_PG_SCHEMA"])
