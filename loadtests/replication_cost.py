#!/usr/bin/env python3
"""What replication costs: one job through the mesh with Kafka topics at replication factor 1,
then at 3 with acks=all, then at 3 with two archive replicas (issue 7's figures).

Each configuration gets its own pipeline (tests/mesh_harness.Mesh: coordinator, compressors,
ingest, archive replicas) on the running Kafka/Redis/PostgreSQL of scripts/infra.py, with its
own topics, and runs the same generated job: throughput from the first byte uploaded to the
coordinator's `done`. Every producer of the mesh already uses acks=all (idempotent or
transactional); on an RF 1 topic (min.insync.replicas 1) that waits for the leader only, so
RF 1 against RF 3 is what Kafka's replication costs. With two archive replicas the job is
done when both hold every chunk (COBOL_MIN_REPLICAS=2).

Beside the pipeline, Kafka alone: the job's chunks produced with acks=all to an RF 1 and an
RF 3 topic by one idempotent producer (what ingest does), MB/s.

    loadtests/replication_cost.py [--mib 32] [--rounds 1] [--workers 2] [--json FILE]

Prints one row per configuration and the overheads; --json appends the figures
(replication.overhead_percent, replication.archive_overhead_percent, mesh.throughput with
labels rf, archives). Figures are measured, never asserted; on a loaded machine compare
rows of one run, not runs.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts"), str(ROOT / "libs" / "mesh"),
                str(ROOT / "libs" / "codec"), str(ROOT)]

import figures  # noqa: E402
from infra_support import infra_status  # noqa: E402
from mesh_harness import Mesh, gen_data, wait_until  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402

SHIFT = 260            # ports: the topology's + COBOL_PORT_OFFSET + 260 (clear of the test suites')
CHUNK = 1024 * 1024
CONFIGS = (("RF 1", 1, 1), ("RF 3, acks=all", 3, 1), ("RF 3, acks=all, 2 archive replicas", 3, 2))


def run_job(m: Mesh, data: list[bytes], label: str) -> float:
    """Seconds from the first byte uploaded to `done` (checked byte-exact afterwards)."""
    job_id = f"repl-{label}-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    reply = m.upload(iter(data), "replication", "fast", job_id, timeout=3600)
    m.wait_status(job_id, "done", 3600)
    seconds = time.monotonic() - t0
    h = hashlib.sha256()
    for c in m.stub("archive").ReadOriginal(pb.ReadRequest(job_id=job_id), timeout=3600):
        h.update(c.data)
    if h.hexdigest() != reply.sha256:
        raise SystemExit(f"job {job_id} does not read back byte-exact")
    return seconds


def kafka_alone(bootstrap: str, data: list[bytes], rf: int) -> float:
    """MB/s of producing the chunks with acks=all to a fresh topic of this replication factor."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f"cobol.repl-{rf}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"max.message.bytes": "16777216", **({"min.insync.replicas": "1"} if rf == 1 else {})}
    admin.create_topics([NewTopic(topic, 6, rf, config=config)])[topic].result(60)
    try:
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                      "message.max.bytes": 16 << 20, "linger.ms": 5})
        failed = []
        t0 = time.monotonic()
        for i, d in enumerate(data):
            while True:
                try:
                    p.produce(topic, key=str(i).encode(), value=d,
                              on_delivery=lambda err, _m: err and failed.append(err))
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        if p.flush(600) or failed:
            raise SystemExit(f"produce to {topic} failed: {failed[:1]}")
        return sum(map(len, data)) / (time.monotonic() - t0) / 1e6
    finally:
        admin.delete_topics([topic])[topic].result(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=32, help="job size in MiB (default 32)")
    ap.add_argument("--rounds", type=int, default=1, help="jobs per configuration; the median counts (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="compressor workers (default 2)")
    ap.add_argument("--json", default=None, help="append the figures to this JSON-lines file")
    args = ap.parse_args()
    if args.mib < 1 or args.rounds < 1 or args.workers < 1:
        ap.error("--mib, --rounds and --workers must be at least 1")
    infra = infra_status()
    missing = [c for c in ("kafka", "redis", "postgres") if not all(i["running"] for i in infra[c]["instances"].values())]
    if missing:
        raise SystemExit(f"start the engines first (`scripts/infra.py start`): {', '.join(missing)} not running")
    brokers = len(infra["kafka"]["instances"])
    if brokers < 3:
        raise SystemExit(f"RF 3 needs 3 brokers; scripts/infra.py runs {brokers}")
    data = list(gen_data(args.mib, seed=11))
    mb = sum(map(len, data)) / 1e6
    print(f"replication cost: a {args.mib} MiB job (generated text and noise, profile fast), {args.workers} "
          f"compressors, {args.rounds} round(s) per configuration, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    bootstrap = infra["kafka"]["bootstrap_servers"]
    alone = {rf: kafka_alone(bootstrap, data, rf) for rf in (1, 3)}
    print(f"Kafka alone, one idempotent producer, acks=all: RF 1 {alone[1]:.1f} MB/s, RF 3 {alone[3]:.1f} MB/s "
          f"({100 * (1 - alone[3] / alone[1]):+.1f}% slower)", flush=True)
    for rf in (1, 3):
        figures.append(args.json, source="loadtests/replication_cost.py", name="kafka.produce_throughput",
                       value=round(alone[rf], 2), unit="MB/s", peer="kafka acks=all", rf=rf)
    rate: dict[tuple[int, int], float] = {}
    for label, rf, archives in CONFIGS:
        tmp = Path(tempfile.mkdtemp(prefix="repl-"))
        m = Mesh(infra, tmp, shift=SHIFT, chunk=CHUNK, archives=archives, workers=args.workers, replication=rf,
                 extra_env={"COBOL_MIN_REPLICAS": str(archives)})
        try:
            m.start_all()
            wait_until("compressors hold every partition", lambda: sum(
                len(v) for v in m.group_members("compressor").values()) == 6, 120)
            secs = [run_job(m, data, f"rf{rf}-a{archives}") for _ in range(args.rounds)]
        finally:
            m.close()
            shutil.rmtree(tmp, ignore_errors=True)
        s = statistics.median(secs)
        rate[(rf, archives)] = mb / s
        print(f"  {label:<38} {mb / s:7.2f} MB/s  (job done after {s:.1f} s; rounds {', '.join(f'{x:.1f}' for x in secs)})",
              flush=True)
        figures.append(args.json, source="loadtests/replication_cost.py", name="mesh.throughput",
                       value=round(mb / s, 2), unit="MB/s", peer="cobol mesh", rf=rf, archives=archives,
                       workers=args.workers, mib=args.mib)
    rf_cost = 100 * (1 - rate[(3, 1)] / rate[(1, 1)])
    archive_cost = 100 * (1 - rate[(3, 2)] / rate[(3, 1)])
    print(f"replication overhead, RF 3 + acks=all against RF 1: {rf_cost:+.1f}% (the brief promises < 20%)")
    print(f"second archive replica (done when both hold every chunk): {archive_cost:+.1f}%")
    figures.append(args.json, source="loadtests/replication_cost.py", name="replication.overhead_percent",
                   value=round(rf_cost, 1), unit="%", peer="cobol mesh", mib=args.mib, workers=args.workers)
    figures.append(args.json, source="loadtests/replication_cost.py", name="replication.archive_overhead_percent",
                   value=round(archive_cost, 1), unit="%", peer="cobol mesh", mib=args.mib, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
