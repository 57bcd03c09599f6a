"""A mesh for the coordinator's integration and chaos tests (and loadtests/cluster_figures.py):
real `python -m services.*` subprocesses on the real Kafka/Redis/PostgreSQL of scripts/infra.py,
with topics, consumer groups and a Redis prefix of their own; every coordinator replica on its
own gRPC port. Processes are stopped by pid.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import functools
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, ROOT / "libs" / "mesh", ROOT / "libs" / "codec", ROOT / "tests", Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import api_harness as h  # noqa: E402
from cobol_mesh.proto import pb, pb_grpc  # noqa: E402

CLUSTER_TOPICS = ("nodes.heartbeats", "nodes.events", "jobs.status", "jobs.dlq")


import waiting  # noqa: E402

wait_until = functools.partial(waiting.wait_until, interval=0.1)   # the coordinator's tests poll faster


class CoordMesh(h.MeshProcs):
    def __init__(self, infra: dict, tmp: Path, **env) -> None:
        super().__init__(infra, tmp)
        base = self.topics["COBOL_TOPIC_EVENTS"].removesuffix("jobs.events")
        self.cluster_topics = [base + t for t in CLUSTER_TOPICS]
        self.env.update({"COBOL_CHUNK_SIZE": str(256 * 1024), "COBOL_LINGER_MS": "200"})
        self.env.update({k: str(v) for k, v in env.items()})
        self.coord_addrs: dict[str, str] = {}

    @property
    def topic_events(self) -> str:
        return self.topics["COBOL_TOPIC_EVENTS"]

    @property
    def topic_dlq(self) -> str:
        return self.cluster_topics[3]

    def start_coordinator(self, instance: str, timeout: float = 90) -> str:
        addr = self.coord_addrs.get(instance) or f"127.0.0.1:{h.free_port()}"
        self.coord_addrs[instance] = addr
        saved = self.env["COBOL_COORDINATOR_ADDR"]
        self.env["COBOL_COORDINATOR_ADDR"] = addr
        try:
            self.start(instance, "services.coordinator", addr, timeout)
        finally:
            self.env["COBOL_COORDINATOR_ADDR"] = saved
        return addr

    def start_service(self, instance: str, timeout: float = 90) -> None:
        kind = instance.rsplit("-", 1)[0]
        addr = {"ingest": self.env["COBOL_INGEST_ADDR"], "archive": self.env["COBOL_ARCHIVE_ADDR"]}.get(kind)
        self.start(instance, f"services.{kind}", addr, timeout)

    def signal(self, instance: str, sig: int) -> None:
        self.procs[instance].send_signal(sig)

    def kill(self, instance: str) -> None:
        p = self.procs.pop(instance)
        p.kill()
        p.wait(10)

    def client(self):
        from cobol_mesh.cluster_client import ClusterClient

        return ClusterClient(list(self.coord_addrs.values()), timeout=5)

    def job(self, job_id: str):
        """The job's JobStatus, None while the ledger does not know it (or no replica answers)."""
        import grpc

        try:
            return self.client().get_job(job_id)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                return None
            raise

    def ingest(self):
        return pb_grpc.IngestStub(_channel(self.env["COBOL_INGEST_ADDR"]))

    def archive(self):
        return pb_grpc.ArchiveStub(_channel(self.env["COBOL_ARCHIVE_ADDR"]))

    def stop_all(self) -> None:
        for p in self.procs.values():          # SIGCONT first: a frozen process cannot stop
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
        super().stop_all()
        try:
            admin = self._admin()
            for fut in admin.delete_topics(self.cluster_topics, request_timeout=30).values():
                try:
                    fut.result()
                except Exception:  # noqa: BLE001 - a topic never created
                    pass
        except Exception as exc:  # noqa: BLE001
            print(f"coordinator tests: could not delete the cluster topics: {exc}", file=sys.stderr)

    # -- jobs ------------------------------------------------------------------------------
    def upload(self, data: bytes, name: str = "t.bin", piece: int = 64 * 1024, pause=None,
               job_id: str = "") -> pb.UploadReply:
        """A gRPC upload; `pause(offset)` runs before each piece (a test's hook to act mid-job)."""
        def reqs():
            yield pb.UploadRequest(start=pb.UploadStart(name=name, profile="fast", source="grpc", job_id=job_id))
            for i in range(0, len(data), piece):
                if pause:
                    pause(i)
                yield pb.UploadRequest(data=data[i:i + piece])
            yield pb.UploadRequest(end=pb.UploadEnd(bytes=len(data)))
        return self.ingest().Upload(reqs(), timeout=600)

    def read_original(self, job_id: str) -> bytes:
        return b"".join(c.data for c in self.archive().ReadOriginal(pb.ReadRequest(job_id=job_id), timeout=120))

    def redis(self):
        import redis

        return redis.Redis.from_url(self.env["COBOL_REDIS_URL"])

    def redis_keys(self) -> set[bytes]:
        return set(self.redis().scan_iter(match=self.env["COBOL_REDIS_PREFIX"].encode() + b"*", count=1000))

    def produce_events(self, events: list[tuple[bytes, bytes]]) -> None:
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": self.env["COBOL_KAFKA_BOOTSTRAP"], "enable.idempotence": True,
                      "message.max.bytes": 16 * 1024 * 1024})
        for key, value in events:
            p.produce(self.topic_events, key=key, value=value)
        assert p.flush(30) == 0

    def read_topic(self, topic: str, timeout: float = 20) -> list:
        """Every record of `topic` so far (all partitions, from the start)."""
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": self.env["COBOL_KAFKA_BOOTSTRAP"], "group.id": "coord-test-reader",
                      "enable.auto.commit": False})
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
            c.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
            out, left = [], {p for p, end in ends.items() if end > 0}
            deadline = time.monotonic() + timeout
            while left and time.monotonic() < deadline:
                for m in c.consume(500, 0.5):
                    if m.error():
                        continue
                    out.append(m)
                    if m.offset() >= ends[m.partition()] - 1:
                        left.discard(m.partition())
            return out
        finally:
            c.close()


_CHANNELS: dict = {}


@contextlib.contextmanager
def cluster(infra: dict, tmp: Path, services=("compressor-1", "archive-1", "ingest-1"), **env):
    """Two coordinator replicas and `services`, stopped (by pid) at the end."""
    m = CoordMesh(infra, tmp, **env)
    try:
        m.create_topics()
        m.start_coordinator("coordinator-1")
        m.start_coordinator("coordinator-2")
        for s in services:
            m.start_service(s)
        yield m
    finally:
        m.stop_all()


def _channel(addr: str):
    from cobol_mesh.grpc_server import channel

    if addr not in _CHANNELS:
        _CHANNELS[addr] = channel(addr)
    return _CHANNELS[addr]


def job_events(job_id: str, chunks: int = 1, replica: str = "archive-1") -> list[tuple[bytes, bytes]]:
    """Opened, the chunks archived, Sealed: what ingest and archive would send for a job."""
    key = job_id.encode()
    evs = [pb.JobEvent(job_id=job_id, at=time.time(), opened=pb.JobOpened(source="grpc", name="n", profile="fast"))]
    evs += [pb.JobEvent(job_id=job_id, at=time.time(), archived=pb.ChunkArchived(seq=i, bytes_in=10, bytes_out=5,
                                                                                 replica=replica))
            for i in range(chunks)]
    evs.append(pb.JobEvent(job_id=job_id, at=time.time(), sealed=pb.JobSealed(chunk_count=chunks, bytes_in=10 * chunks)))
    return [(key, e.SerializeToString()) for e in evs]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_of(mib: float, seed: int = 7) -> bytes:
    """Compressible but not trivial bytes (log-like lines)."""
    import random

    rnd = random.Random(seed)
    lines = []
    size = 0
    while size < mib * 1024 * 1024:
        line = f"2026-11-30T00:{rnd.randrange(60):02d}:{rnd.randrange(60):02d} node-{rnd.randrange(50)} " \
               f"GET /api/v1/items/{rnd.randrange(10**6)} {rnd.choice([200, 200, 404, 500])} {rnd.random():.4f}\n"
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[: int(mib * 1024 * 1024)]


def infra_component(action: str, component: str) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), action, component], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0, f"infra.py {action} {component} failed:\n{r.stdout}\n{r.stderr}"
