#!/usr/bin/env python3
"""Latency from a device record produced to `cobol.ingest.raw` to its frame committed on
`cobol.frames`, at a steady rate, against a running mesh (`make up`). Figures only.

    .venv/bin/python loadtests/record_latency.py [--rate 1000] [--seconds 20] [--devices 20] [--json OUT]

Each record carries its send time; a read_committed consumer of the frames topic decodes
every frame and takes, per record, (time the frame was read) - (time the record was sent).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts")]

import figures  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from cobol_codec import FILE_HEADER, decompress  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402


def end_consumer(topic: str) -> Consumer:
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"latency-{uuid.uuid4().hex}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "fetch.max.bytes": settings.kafka_max_bytes, "max.partition.fetch.bytes": settings.kafka_max_bytes})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    tps = []
    for p in parts:
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        tps.append(TopicPartition(topic, p, high))
    c.assign(tps)           # start at the end: only frames made from this run's records
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=1000, help="records per second")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--devices", type=int, default=20, help="stream ids the records are spread over")
    ap.add_argument("--until", choices=["frames", "chunks"], default="frames",
                    help="measure to the frame committed (default), or only to ingest's chunk committed")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args()
    run = uuid.uuid4().hex[:8]
    topic = settings.topic_frames if a.until == "frames" else settings.topic_chunks
    consumer = end_consumer(topic)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 2})
    total = a.rate * a.seconds
    sent: dict[bytes, int] = {}
    latencies: list[float] = []
    t0 = time.monotonic()
    i = 0

    def drain(timeout: float) -> None:
        for msg in consumer.consume(100, timeout):
            if msg.error():
                continue
            now = time.time_ns()
            if a.until == "frames":
                body = decompress(FILE_HEADER + pb.Frame.FromString(msg.value()).frame)
            else:
                body = pb.Chunk.FromString(msg.value()).data
            for line in body.splitlines():
                parts = line.split(b" ")
                if len(parts) > 2 and parts[1] == run.encode() and parts[2] in sent:
                    latencies.append((now - sent.pop(parts[2])) / 1e6)

    while i < total:
        due = int((time.monotonic() - t0) * a.rate) + 1
        while i < min(due, total):
            key = f"dev-{i % a.devices}".encode()
            stamp = time.time_ns()
            seq = str(i).encode()
            sent[seq] = stamp
            value = b"%s %s %s t=%d temp=%.2f hum=%d" % (key, run.encode(), seq, stamp, 20 + (i % 97) / 10, 40 + i % 20)
            producer.produce(settings.topic_raw, key=key, value=value)
            i += 1
        producer.poll(0)
        drain(0.005)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while sent and time.monotonic() < deadline:
        drain(0.2)
    consumer.close()
    if not latencies:
        raise SystemExit("no frames came back: is the mesh up (make up)?")
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))]  # noqa: E731
    print(f"records: {total} at {a.rate}/s over {a.devices} streams for {a.seconds}s; "
          f"{len(latencies)} came back as committed frames, {len(sent)} missing after 60 s")
    print(f"latency record->{a.until[:-1]} committed: p50 {q(0.50):.0f} ms, p90 {q(0.90):.0f} ms, "
          f"p99 {q(0.99):.0f} ms, max {latencies[-1]:.0f} ms, mean {statistics.fmean(latencies):.0f} ms "
          f"(COBOL_LINGER_MS={settings.linger_ms})")
    for pct, v in (("p50", q(0.50)), ("p90", q(0.90)), ("p99", q(0.99)), ("p99.9", q(0.999)), ("p100", latencies[-1])):
        figures.append(a.json, source="loadtests/record_latency.py", name="record.latency_ms", value=v, unit="ms",
                       peer="cobol mesh", percentile=pct, rate=a.rate, until=a.until, linger_ms=settings.linger_ms)


if __name__ == "__main__":
    main()
