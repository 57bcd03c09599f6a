"""A test mesh on the real Kafka, Redis and PostgreSQL of scripts/infra.py, shaped by the
topology (topology.yaml through cobol_mesh.topology): which services, how many instances,
which ports. Used by tests/integration/test_mesh_pipeline.py and tests/chaos.

Each mesh has its own topics, consumer-group prefix, Redis prefix and ports (the topology's
ports + COBOL_PORT_OFFSET + a per-suite `shift`), so it never mixes with a `make up` mesh or
another suite on the same engines. Services run as subprocesses, started and stopped by pid;
every wait polls a condition against a deadline.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "libs" / "mesh", ROOT / "libs" / "codec", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from cobol_mesh import grpc_auth, topology  # noqa: E402
from cobol_mesh.proto import pb, pb_grpc  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
FIGURES: list[str] = []           # figures a suite measured (printed at the end, never asserted)
ROLES = ("ingest.raw", "chunks", "frames", "jobs.events", "ingest.dlq", "chunks.dlq")
SERVICES = ("coordinator", "archive", "compressor", "ingest")      # the pipeline (no API)


from waiting import wait_until  # noqa: E402,F401  (re-exported to the tests)


class Mesh:
    """The pipeline services of the topology, started, faulted and stopped by pid."""

    def __init__(self, infra: dict, tmp: Path, *, shift: int, chunk: int, archives: int = 2,
                 workers: int = 2, extra_env: dict | None = None, replication: int | None = None) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tmp, self.chunk, self.tag = tmp, chunk, tag
        self.run = tmp / "run"
        self.run.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.topo = topology.load()
        off = self.topo.port_offset + shift
        counts = {"coordinator": 1, "archive": archives, "compressor": workers, "ingest": 1}
        self.planned = {i.name: i for svc in SERVICES
                        for i in (self.topo.service(svc).instance(n, off) for n in range(1, counts[svc] + 1))}
        self.module = {s: self.topo.service(s).module for s in SERVICES}
        self.archives = [n for n in self.planned if n.startswith("archive-")]
        self.bootstrap = infra["kafka"]["bootstrap_servers"]
        self.s3 = infra.get("s3", {})
        self.topics = {role: f"cobol.t{tag}.{role}" for role in ROLES}
        self.replication = replication           # topic replication factor (default: min(3, brokers))
        self.env = dict(os.environ)
        self.env.update({
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "COBOL_KAFKA_BOOTSTRAP": self.bootstrap,
            "COBOL_REDIS_URL": infra["redis"]["url"],
            "COBOL_PG_DSN": infra["postgres"]["dsn"],
            "COBOL_INGEST_ADDR": self.addr("ingest-1"),
            "COBOL_COORDINATOR_ADDR": self.addr("coordinator-1"),
            "COBOL_ARCHIVE_ADDR": self.addr("archive-1"),
            "COBOL_CHUNK_SIZE": str(chunk), "COBOL_LINGER_MS": "500",
            "COBOL_ARCHIVE_BACKEND": "fs",
            "COBOL_RUN_DIR": str(self.run), "COBOL_METRICS_PORT": "0",
            "COBOL_REDIS_PREFIX": f"cobol:t:{tag}:",
            "COBOL_JOBS_CHANNEL": f"cobol:t:{tag}:jobs",
            "COBOL_MAX_UPLOAD_BYTES": str(1024 * 1024 * 1024),
            "COBOL_TOPIC_RAW": self.topics["ingest.raw"], "COBOL_TOPIC_CHUNKS": self.topics["chunks"],
            "COBOL_TOPIC_FRAMES": self.topics["frames"], "COBOL_TOPIC_EVENTS": self.topics["jobs.events"],
            "COBOL_TOPIC_DLQ": self.topics["ingest.dlq"], "COBOL_TOPIC_CHUNKS_DLQ": self.topics["chunks.dlq"],
            "COBOL_GROUP_PREFIX": f"cobol-t{tag}",
        })
        self.env.update(extra_env or {})
        self._admin("create")

    # -- shape ---------------------------------------------------------------------------------
    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.planned[name].port}"

    def archive_dir(self, name: str) -> Path:
        return self.tmp / "archive" / name

    def instance_env(self, name: str) -> dict:
        env = {}
        if name.startswith("archive-"):
            env = {"COBOL_ARCHIVE_ADDR": self.addr(name), "COBOL_ARCHIVE_DIR": str(self.archive_dir(name)),
                   "COBOL_ARCHIVE_PEERS": ",".join(self.addr(a) for a in self.archives if a != name)}
        return env

    def group(self, role: str) -> str:
        return f"{self.env['COBOL_GROUP_PREFIX']}-{role}"

    def _admin(self, op: str) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        brokers = len(admin.list_topics(timeout=10).brokers)
        if op == "create":
            rf = self.replication or min(3, brokers)
            config = {"max.message.bytes": "16777216", **({"min.insync.replicas": "1"} if rf == 1 else {})}
            futs = admin.create_topics([NewTopic(t, 1 if role.endswith("dlq") else 6, rf, config=config)
                                        for role, t in self.topics.items()], operation_timeout=30)
        else:
            futs = admin.delete_topics(list(self.topics.values()), operation_timeout=30)
        for f in futs.values():
            f.result(60)

    # -- processes -----------------------------------------------------------------------------
    def start_all(self) -> None:
        for name in self.planned:
            self.start_planned(name)

    def start_planned(self, name: str, **env) -> None:
        kind = name.rsplit("-", 1)[0]
        grpc_addr = self.addr(name) if self.planned[name].port else None
        self.start(name, self.module[kind], grpc_addr, **self.instance_env(name), **env)

    def start(self, instance: str, module: str, addr: str | None = None, **env) -> None:
        e = dict(self.env, COBOL_INSTANCE=instance, **env)
        log = open(self.run / f"{instance}.log", "ab")
        p = subprocess.Popen([PY, "-m", module], cwd=ROOT, env=e, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs[instance] = p
        (self.run / f"{instance}.pid").write_text(str(p.pid))
        ready = self.run / f"{instance}.ready"

        def up():
            if p.poll() is not None:
                raise AssertionError(f"{instance} exited ({p.returncode}):\n{self.log(instance)}")
            if not (ready.exists() and ready.read_text().strip() == str(p.pid)):
                return False
            if addr:
                from cobol_mesh.grpc_server import health_status
                return health_status(addr) == "SERVING"
            return True
        try:
            wait_until(f"{instance} ready", up, 90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {instance} log ---\n{self.log(instance)}") from None

    def alive(self, instance: str) -> bool:
        p = self.procs.get(instance)
        return p is not None and p.poll() is None

    def log(self, instance: str, n: int = 40) -> str:
        try:
            return "\n".join((self.run / f"{instance}.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def pid(self, instance: str) -> int:
        return self.procs[instance].pid

    def kill(self, instance: str) -> None:
        p = self.procs.pop(instance)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)

    def signal(self, instance: str, sig: int) -> None:
        os.kill(self.procs[instance].pid, sig)

    def stop_all(self) -> None:
        for p in list(self.procs.values())[::-1]:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        self.procs.clear()

    def close(self) -> None:
        self.stop_all()
        try:
            self._admin("delete")
        except Exception:
            pass

    # -- clients -------------------------------------------------------------------------------
    def stub(self, kind: str, name: str | None = None, addr: str | None = None):
        target = addr or self.addr(name or f"{kind}-1")
        ch = grpc_auth.channel(target, "api", options=[("grpc.max_receive_message_length", 64 << 20)])  # plays the API
        return {"ingest": pb_grpc.IngestStub, "coordinator": pb_grpc.CoordinatorStub,
                "archive": pb_grpc.ArchiveStub}[kind](ch)

    def job(self, job_id: str) -> pb.JobStatus:
        return self.stub("coordinator").GetJob(pb.GetJobRequest(job_id=job_id), timeout=10)

    def exists(self, job_id: str) -> bool:
        try:
            self.job(job_id)
            return True
        except grpc.RpcError:
            return False

    def wait_status(self, job_id: str, status: str, timeout: float = 120) -> pb.JobStatus:
        def check():
            try:
                j = self.job(job_id)
            except grpc.RpcError:
                return None
            assert not (status == "done" and j.status == "failed"), f"job failed: {j.reason}"
            return j if j.status == status else None
        return wait_until(f"job {job_id} {status}", check, timeout)

    def read(self, rpc: str, job_id: str, name: str = "archive-1", addr: str | None = None,
             retry_s: float = 60) -> bytes:
        """The job's bytes. UNAVAILABLE (a peer replica did not answer in time, as on a loaded
        machine) is retried for `retry_s`, as a client should; other errors raise at once."""
        stub = self.stub("archive", name, addr)
        deadline = time.monotonic() + retry_s
        while True:
            try:
                return b"".join(c.data for c in getattr(stub, rpc)(pb.ReadRequest(job_id=job_id), timeout=300))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)     # backoff between attempts, not a wait for a condition

    def upload(self, pieces, name: str = "t", profile: str = "fast", job_id: str = "",
               ingest: str = "ingest-1", addr: str | None = None, with_end: bool = True,
               timeout: float = 600) -> pb.UploadReply:
        def reqs():
            yield pb.UploadRequest(start=pb.UploadStart(name=name, profile=profile, job_id=job_id))
            sent = 0
            for piece in pieces:
                sent += len(piece)
                yield pb.UploadRequest(data=piece)
            if with_end:
                yield pb.UploadRequest(end=pb.UploadEnd(bytes=sent))
        return self.stub("ingest", ingest, addr).Upload(reqs(), timeout=timeout)

    # -- Kafka views ---------------------------------------------------------------------------
    def high_watermarks(self, topic: str) -> dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                      "isolation.level": "read_committed"})
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
        finally:
            c.close()

    def read_topic(self, topic: str, start: dict[int, int], timeout: float = 60) -> list:
        """Committed messages of `topic` from `start` offsets up to the current end."""
        from confluent_kafka import Consumer, TopicPartition
        end = self.high_watermarks(topic)
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"t-reader-{uuid.uuid4().hex}",
                      "enable.auto.commit": False, "isolation.level": "read_committed",
                      "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 16 << 20,
                      "receive.message.max.bytes": (64 << 20) + (1 << 20), "enable.partition.eof": True})
        todo = {p for p in end if end[p] > start.get(p, 0)}
        c.assign([TopicPartition(topic, p, start.get(p, 0)) for p in todo])
        out = []
        deadline = time.monotonic() + timeout
        try:
            while todo and time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == msg.error()._PARTITION_EOF:
                        todo.discard(msg.partition())
                    continue
                out.append(msg)
                if msg.offset() + 1 >= end[msg.partition()]:
                    todo.discard(msg.partition())
        finally:
            c.close()
        return out

    def produce(self, topic: str, key, value: bytes) -> None:
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        p.produce(topic, key=key, value=value)
        assert p.flush(30) == 0

    def group_members(self, role: str) -> dict[str, list[int]]:
        """client id (cobol-<instance>) -> assigned partitions of the group's current state."""
        from confluent_kafka.admin import AdminClient
        a = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            d = a.describe_consumer_groups([self.group(role)], request_timeout=5)[self.group(role)].result(10)
        except Exception:
            return {}
        return {m.client_id: sorted(tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []))
                for m in d.members}


def infra_cmd(*args: str) -> None:
    """scripts/infra.py with this interpreter (faults on the engines: stop a broker, restart)."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), *args], cwd=ROOT,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"scripts/infra.py {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"


def split(data: bytes, n: int = 64 * 1024):
    for i in range(0, len(data), n):
        yield data[i:i + n]


def gen_data(mib: int, seed: int = 7):
    """Deterministic mixed data (log-like text and noise) in 1 MiB pieces."""
    rnd = random.Random(seed)
    for i in range(mib):
        if i % 2:
            yield rnd.randbytes(1 << 20)
        else:
            lines, size = [], 0
            while size < (1 << 20):
                line = (f"{i:06d} INFO node-{rnd.randint(1, 9)} req={rnd.getrandbits(40):x} "
                        f"bytes={rnd.randint(0, 99999)} path=/v1/items/{rnd.randint(1, 500)}\n").encode()
                lines.append(line)
                size += len(line)
            yield b"".join(lines)[:1 << 20]
