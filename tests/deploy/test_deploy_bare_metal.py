"""Bare metal, several hosts: the mesh on this host (scripts/infra.py + scripts/mesh.py), and one
more compressor started as another host would start it (docs/deploy.md): its own environment
(nothing inherited but PATH), its own run directory, its own instance name, the Kafka, Redis,
PostgreSQL and coordinator addresses given explicitly. It must join the consumer group, take
partitions and compress part of a job that still comes back byte-exact.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import functools
import time
import urllib.request

import grpc
import pytest
from confluent_kafka.admin import AdminClient

from deploy_support import ROOT

sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]
from cobol_mesh import grpc_auth  # noqa: E402
from cobol_mesh.proto import pb, pb_grpc  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402  (this host's addresses, COBOL_PORT_OFFSET applied)

pytestmark = pytest.mark.integration
MESH = [sys.executable, str(ROOT / "scripts" / "mesh.py")]
REMOTE = "compressor-hostb"
PREFIX = settings.group_prefix
GROUP = f"{PREFIX}-compressor"


import waiting  # noqa: E402
from ports import free_port  # noqa: E402

wait_until = functools.partial(waiting.wait_until, timeout=120, interval=0.5)


@pytest.fixture(scope="module")
def mesh(infra):
    # small chunks: one job spreads over every partition, so every worker gets some
    env = dict(os.environ, COBOL_CHUNK_SIZE=str(256 * 1024))
    up = subprocess.run([*MESH, "up"], cwd=ROOT, capture_output=True, text=True, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield infra
    finally:
        subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True)


def members(admin: AdminClient) -> dict[str, list[int]]:
    """client.id -> partitions of the compressor group, from the admin API."""
    desc = admin.describe_consumer_groups([GROUP], request_timeout=10)[GROUP].result()
    return {m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members}


def metric(port: int, name: str, **labels) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_worker_on_another_host_joins_and_works(mesh, tmp_path):
    infra = mesh
    host_b = tmp_path / "host-b"
    (host_b / "run").mkdir(parents=True)
    metrics_port = free_port()
    env = {   # nothing from this host's environment but PATH: every address is explicit
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(host_b), "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "COBOL_INSTANCE": REMOTE,
        "COBOL_RUN_DIR": str(host_b / "run"),
        "COBOL_KAFKA_BOOTSTRAP": infra["kafka"]["bootstrap_servers"],
        "COBOL_REDIS_URL": infra["redis"]["url"],
        "COBOL_PG_DSN": infra["postgres"]["dsn"],
        "COBOL_COORDINATOR_ADDR": settings.coordinator_addr,
        "COBOL_GROUP_PREFIX": PREFIX,
        "COBOL_METRICS_PORT": str(metrics_port),
    }
    log = open(host_b / "compressor.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.compressor"], cwd=host_b, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    admin = AdminClient({"bootstrap.servers": infra["kafka"]["bootstrap_servers"]})
    try:
        wait_until("host B's ready file", lambda: (host_b / "run" / f"{REMOTE}.ready").exists()
                   or proc.poll() is not None)
        assert proc.poll() is None, (host_b / "compressor.log").read_text()
        group = wait_until("host B in the group with partitions",
                           lambda: (m := members(admin)).get(f"cobol-{REMOTE}") and m)
        assert len(group) >= 2, group                        # the mesh's own workers are there too
        taken = group[f"cobol-{REMOTE}"]
        others = {p for cid, parts in group.items() if cid != f"cobol-{REMOTE}" for p in parts}
        assert taken and not set(taken) & others             # its partitions are its own

        payload = b"".join(b"%08d host=b level=%s msg=the quick brown fox %d\n"
                           % (i, (b"INFO", b"WARN", b"ERROR")[i % 3], i * 7919 % 100003)
                           for i in range(110_000))          # ~6 MiB: 24 chunks of 256 KiB
        ingest = pb_grpc.IngestStub(grpc_auth.channel(settings.ingest_addr, "api"))

        def parts():
            yield pb.UploadRequest(start=pb.UploadStart(name="bare-metal.log", profile="fast"))
            for i in range(0, len(payload), 1 << 20):
                yield pb.UploadRequest(data=payload[i:i + (1 << 20)])
            yield pb.UploadRequest(end=pb.UploadEnd(bytes=len(payload)))
        reply = ingest.Upload(parts(), timeout=120)
        assert reply.sha256 == hashlib.sha256(payload).hexdigest()

        coord = pb_grpc.CoordinatorStub(grpc_auth.channel(settings.coordinator_addr, "api"))
        job = wait_until("the job done", lambda: (j := coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10))
                         .status in ("done", "failed") and j, timeout=300)
        assert job.status == "done", job.reason
        archive = pb_grpc.ArchiveStub(grpc_auth.channel(settings.archive_addr, "api"))
        original = b"".join(c.data for c in archive.ReadOriginal(pb.ReadRequest(job_id=reply.job_id), timeout=120))
        assert original == payload
        import cobol_codec
        packed = b"".join(c.data for c in archive.ReadResult(pb.ReadRequest(job_id=reply.job_id), timeout=120))
        assert cobol_codec.decompress(packed) == payload

        done = metric(metrics_port, "cobol_chunks_total", instance=REMOTE, outcome="ok")
        assert done >= 1, "host B compressed none of the job's chunks"
        assert metric(metrics_port, "cobol_assigned_partitions", instance=REMOTE) == len(taken)
    finally:
        proc.send_signal(signal.SIGTERM)                   # drains: commits, leaves the group
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(10)
        log.close()
    assert rc == 0, (host_b / "compressor.log").read_text()[-2000:]
    wait_until("host B gone from the group", lambda: f"cobol-{REMOTE}" not in members(admin))
    assert re.search(r'"event": ?"stopped"', (host_b / "compressor.log").read_text())
