#!/usr/bin/env python3
"""The peer a user would otherwise build: Kafka's own producer compression, on the same data
and machine as the mesh's throughput loadtest (loadtests/mesh_throughput.py). Figures only.

    COBOL_PORT_OFFSET=... .venv/bin/python loadtests/kafka_peer.py [--mib 256]
        [--kind text|mixed|random] [--codecs none,lz4,zstd] [--record-kib 1024] [--json OUT]

For each `compression.type` it creates a topic of its own (6 partitions like `cobol.chunks`,
replication factor = the broker count, 3 by default, min ISR 2), produces the data as records
of --record-kib (1 MiB = the mesh's chunk size) with acks=all, reads every record back from the
beginning and checks the bytes, then sums the `*.log` segment files of the topic's partitions
in every broker's log dir (.data/kafka-N/). It prints:

- produce MB/s: original bytes / (first produce -> last ack from every in-sync replica);
- consume MB/s: original bytes / time to read everything back (decompressed);
- end to end MB/s: original bytes / (produce + consume);
- stored: bytes on disk over all replicas, and per replica; ratio = original / per replica.

A reference row runs the cobol codec in this process (`encode_frame`, profile fast) on the
same records, so the ratio stands beside the peers. The topics are deleted afterwards
(--keep to look at them). Kafka itself comes from scripts/infra.py (started if needed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "loadtests"), str(ROOT / "scripts"), str(ROOT / "libs" / "mesh"),
                str(ROOT / "libs" / "codec")]

import figures  # noqa: E402
import infra  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from mesh_throughput import pieces  # noqa: E402  (the very same generator: same bytes)

CODECS = ("none", "lz4", "zstd", "gzip", "snappy")
PARTITIONS = 6
MB = 1_000_000
SOURCE = "loadtests/kafka_peer.py"


def ensure_kafka() -> str:
    """The brokers of scripts/infra.py: used as they are when running, started otherwise."""
    infra_py = [sys.executable, str(ROOT / "scripts" / "infra.py")]
    st = subprocess.run(infra_py + ["status", "--json"], cwd=ROOT, capture_output=True, text=True)
    try:
        up = all(i["running"] for i in json.loads(st.stdout)["kafka"]["instances"].values())
    except (ValueError, KeyError):
        up = False
    if not up:
        r = subprocess.run(infra_py + ["start", "kafka"], cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"scripts/infra.py start kafka failed:\n{r.stdout}{r.stderr}")
    return infra.bootstrap()


def records(data: list[bytes], record_kib: int) -> list[bytes]:
    size = record_kib << 10
    blob = b"".join(data)
    return [blob[i:i + size] for i in range(0, len(blob), size)]


def create_topic(admin: AdminClient, name: str, rf: int) -> None:
    cfg = {"max.message.bytes": str(infra.MAX_BYTES), "min.insync.replicas": str(min(2, rf)),
           "compression.type": "producer"}   # the broker keeps the producer's batches as they are
    fut = admin.create_topics([NewTopic(name, PARTITIONS, rf, config=cfg)])[name]
    fut.result(timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:         # wait until every partition has a leader
        md = admin.list_topics(name, timeout=10).topics.get(name)
        if md and not md.error and len(md.partitions) == PARTITIONS and all(p.leader >= 0 for p in md.partitions.values()):
            return
        time.sleep(0.2)
    raise SystemExit(f"topic {name}: partitions have no leader after 60 s")


def produce(bootstrap: str, topic: str, recs: list[bytes], codec: str) -> float:
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": codec,
                  "enable.idempotence": True, "linger.ms": 5, "batch.size": 1_000_000,
                  "message.max.bytes": infra.MAX_BYTES, "queue.buffering.max.kbytes": 1 << 20})
    t0 = time.perf_counter()
    for i, r in enumerate(recs):
        while True:
            try:
                p.produce(topic, r, key=str(i).encode(), on_delivery=on_delivery)
                break
            except BufferError:              # local queue full: let deliveries drain
                p.poll(0.05)
        p.poll(0)
    left = p.flush(600)
    secs = time.perf_counter() - t0
    if left or errors:
        raise SystemExit(f"topic {topic}: {left} record(s) undelivered, errors: {errors[:3]}")
    return secs


def consume(bootstrap: str, topic: str, count: int) -> tuple[float, str]:
    """Reads every partition from the start; returns seconds and the sha256 of the records in
    key order (partitions interleave, so order by the key the producer gave)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"peer-{secrets.token_hex(4)}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 4 * infra.MAX_BYTES, "max.partition.fetch.bytes": infra.MAX_BYTES,
                  "receive.message.max.bytes": 4 * infra.MAX_BYTES + 1_000_000})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    digests: dict[int, bytes] = {}
    t0 = time.perf_counter()
    deadline = time.monotonic() + 600
    try:
        while len(digests) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"topic {topic}: read {len(digests)} of {count} records in 600 s")
            for m in c.consume(500, timeout=1.0):
                if m.error():
                    raise KafkaException(m.error())
                digests[int(m.key())] = hashlib.sha256(m.value()).digest()
        secs = time.perf_counter() - t0
    finally:
        c.close()
    return secs, hashlib.sha256(b"".join(digests[i] for i in range(count))).hexdigest()


def stored_bytes(topic: str) -> int:
    """Sum of the topic's partition log segments (`*.log`) over every broker's log dir."""
    total = 0
    for node in infra.kafka_nodes():
        for part in (infra.DATA / node["name"]).glob(f"{topic}-*"):
            if part.name.rsplit("-", 1)[0] == topic:
                total += sum(f.stat().st_size for f in part.glob("*.log"))
    return total


def wait_replicated(topic: str, per_replica: int, rf: int) -> int:
    """Followers fetch asynchronously after acks=all's ISR ack; wait until every replica's
    files hold the same total (bounded), then return the sum over all replicas."""
    deadline = time.monotonic() + 30
    total = stored_bytes(topic)
    while total < per_replica * rf and time.monotonic() < deadline:
        time.sleep(0.2)
        total = stored_bytes(topic)
    return total


def leader_bytes(topic: str) -> int:
    """Bytes of one copy of each partition: the largest of its replicas."""
    best: dict[str, int] = {}
    for node in infra.kafka_nodes():
        for part in (infra.DATA / node["name"]).glob(f"{topic}-*"):
            if part.name.rsplit("-", 1)[0] == topic:
                best[part.name] = max(best.get(part.name, 0), sum(f.stat().st_size for f in part.glob("*.log")))
    return sum(best.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256, help="MiB of data, as mesh_throughput.py (default 256)")
    ap.add_argument("--kind", default="text", choices=["mixed", "text", "random"])
    ap.add_argument("--codecs", default="none,lz4,zstd", help=f"compression.type values, from {','.join(CODECS)}")
    ap.add_argument("--record-kib", type=int, default=1024, help="record size (default 1024 = the mesh's chunk)")
    ap.add_argument("--no-cobol", action="store_true", help="skip the in-process cobol reference row")
    ap.add_argument("--keep", action="store_true", help="keep the topics afterwards")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args()
    codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    bad = [c for c in codecs if c not in CODECS]
    if bad or not codecs:
        ap.error(f"--codecs: unknown {bad or 'empty list'}; choose from {', '.join(CODECS)}")
    if not 1 <= a.mib <= 4096:
        ap.error("--mib must be between 1 and 4096")
    if not 1 <= a.record_kib <= (infra.MAX_BYTES >> 10) - 64:
        ap.error(f"--record-kib must be between 1 and {(infra.MAX_BYTES >> 10) - 64}")

    bootstrap = ensure_kafka()
    rf = len(infra.kafka_nodes())
    recs = records(pieces(a.mib, a.kind), a.record_kib)   # generated up front: not timed
    original = sum(map(len, recs))
    want = hashlib.sha256(b"".join(hashlib.sha256(r).digest() for r in recs)).hexdigest()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    run = secrets.token_hex(3)
    print(f"{a.mib} MiB of {a.kind} as {len(recs)} records of {a.record_kib} KiB, {rf} broker(s), RF {rf}, "
          f"acks=all, {PARTITIONS} partitions, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'peer':<22} {'produce MB/s':>12} {'consume MB/s':>12} {'end-to-end MB/s':>15} "
          f"{'stored (all replicas)':>21} {'per replica':>12} {'ratio':>7}")

    def emit(peer: str, name: str, value: float, unit: str, **labels) -> None:
        figures.append(a.json, source=SOURCE, name=name, value=value, unit=unit, peer=peer, kind=a.kind,
                       mib=a.mib, record_kib=a.record_kib, brokers=rf, **labels)

    for codec in codecs:
        topic = f"peer.{run}.{a.kind}.{codec}"
        create_topic(admin, topic, rf)
        try:
            t_prod = produce(bootstrap, topic, recs, codec)
            t_cons, got = consume(bootstrap, topic, len(recs))
            if got != want:
                raise SystemExit(f"topic {topic}: the records read back differ from those produced")
            one = leader_bytes(topic)
            total = wait_replicated(topic, one, rf)
        finally:
            if not a.keep:
                admin.delete_topics([topic])[topic].result(timeout=60)
        peer = f"kafka {codec}"
        e2e = original / MB / (t_prod + t_cons)
        print(f"  {peer:<22} {original / MB / t_prod:12.1f} {original / MB / t_cons:12.1f} {e2e:15.1f} "
              f"{total / MB:18.1f} MB {one / MB:9.1f} MB {original / max(one, 1):6.2f}x")
        emit(peer, "kafka_peer.produce_mbs", original / MB / t_prod, "MB/s")
        emit(peer, "kafka_peer.consume_mbs", original / MB / t_cons, "MB/s")
        emit(peer, "kafka_peer.throughput", e2e, "MB/s")
        emit(peer, "kafka_peer.stored_bytes", total, "bytes", replicas=rf)
        emit(peer, "codec.ratio", original / max(one, 1), "x", group=f"mesh {a.kind}")

    if not a.no_cobol:
        from cobol_codec import encode_frame
        t0 = time.perf_counter()
        out = sum(len(encode_frame(r, "fast")) for r in recs)
        secs = time.perf_counter() - t0
        print(f"  {'cobol fast (in-proc)':<22} {original / MB / secs:12.1f} {'':>12} {'':>15} "
              f"{'':>21} {out / MB:9.1f} MB {original / out:6.2f}x   (codec only, 1 process, no Kafka)")
        emit("cobol fast", "codec.ratio", original / out, "x", group=f"mesh {a.kind}")
        emit("cobol fast", "codec.compress_mbs", original / MB / secs, "MB/s", group=f"mesh {a.kind}")


if __name__ == "__main__":
    main()
