#!/usr/bin/env python3
"""Latency from a device record produced to `cobol.ingest.raw` to its frame committed on
`cobol.frames`, at a steady rate, against a running mesh (`make up`). Figures only.

    COBOL_PORT_OFFSET=... .venv/bin/python loadtests/record_latency.py [--rate 1000,5000,10000]
        [--seconds 20] [--devices 20] [--until frames|chunks] [--json OUT]

Each record carries its send time; a read_committed consumer of the frames topic decodes
every frame and takes, per record, (time the frame was read) - (time the record was sent).
Several rates run one after another, each with its own run id (records of one rate are never
counted at another). Percentiles are nearest-rank (p50, p90, p99, p99.9, max); records not
back 60 s after the last send are counted as missing (figure `record.missing`), not as a
latency. Progress every 10 s; the rate the producer really kept is printed beside the target.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "loadtests"), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts")]

import figures  # noqa: E402
import loadspec  # noqa: E402
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


def measure(rate: int, seconds: int, devices: int, until: str) -> tuple[list[float], int, int, float]:
    """One steady run at `rate` records/s: (sorted latencies in ms, records sent, records that
    never came back within 60 s of the last send, the rate the producer really achieved)."""
    run = uuid.uuid4().hex[:8]
    topic = settings.topic_frames if until == "frames" else settings.topic_chunks
    consumer = end_consumer(topic)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 2})
    total = rate * seconds
    sent: dict[bytes, int] = {}
    latencies: list[float] = []
    t0 = time.monotonic()
    i = 0

    def drain(timeout: float) -> None:
        for msg in consumer.consume(500, timeout):
            if msg.error():
                continue
            now = time.time_ns()
            if until == "frames":
                body = decompress(FILE_HEADER + pb.Frame.FromString(msg.value()).frame)
            else:
                body = pb.Chunk.FromString(msg.value()).data
            for line in body.splitlines():
                parts = line.split(b" ")
                if len(parts) > 2 and parts[1] == run.encode() and parts[2] in sent:
                    latencies.append((now - sent.pop(parts[2])) / 1e6)

    next_note = t0 + 10
    while i < total:
        due = int((time.monotonic() - t0) * rate) + 1
        while i < min(due, total):
            key = f"dev-{i % devices}".encode()
            stamp = time.time_ns()
            seq = str(i).encode()
            sent[seq] = stamp
            value = b"%s %s %s t=%d temp=%.2f hum=%d" % (key, run.encode(), seq, stamp, 20 + (i % 97) / 10, 40 + i % 20)
            while True:
                try:
                    producer.produce(settings.topic_raw, key=key, value=value)
                    break
                except BufferError:          # local queue full: let deliveries drain
                    producer.poll(0.01)
            i += 1
        producer.poll(0)
        drain(0.002)
        if time.monotonic() >= next_note:
            next_note += 10
            print(f"    {rate}/s: {i}/{total} sent, {len(latencies)} back after {time.monotonic() - t0:.0f} s", flush=True)
    achieved = total / max(time.monotonic() - t0, 1e-9)
    if producer.flush(30):
        raise SystemExit(f"{rate}/s: records still undelivered to {settings.topic_raw} after 30 s: is Kafka up?")
    deadline = time.monotonic() + 60
    while sent and time.monotonic() < deadline:
        drain(0.2)
    consumer.close()
    latencies.sort()
    return latencies, total, len(sent), achieved


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="1000", help="records per second; a comma list runs each in turn, "
                    "e.g. 1000,5000,10000 (default 1000)")
    ap.add_argument("--seconds", type=int, default=20, help="seconds of load at each rate (default 20)")
    ap.add_argument("--devices", type=int, default=20, help="stream ids the records are spread over")
    ap.add_argument("--until", choices=["frames", "chunks"], default="frames",
                    help="measure to the frame committed (default), or only to ingest's chunk committed")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args(argv)
    try:
        a.rates = loadspec.counts(a.rate, "--rate", 1, 100_000)
    except ValueError as e:
        ap.error(str(e))
    if not 1 <= a.seconds <= 3600:
        ap.error("--seconds must be between 1 and 3600")
    if not 1 <= a.devices <= 100_000:
        ap.error("--devices must be between 1 and 100000")
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    print(f"record -> {a.until[:-1]} committed latency at {', '.join(map(str, a.rates))} records/s, "
          f"{a.seconds} s each, {a.devices} streams, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"(COBOL_LINGER_MS={settings.linger_ms})", flush=True)
    empty = []
    for rate in a.rates:
        latencies, total, missing, achieved = measure(rate, a.seconds, a.devices, a.until)
        if not latencies:
            empty.append(rate)
            print(f"  {rate:>6}/s: none of {total} records came back as committed {a.until}", flush=True)
            continue
        q = {name: loadspec.percentile(latencies, f) for name, f in loadspec.PERCENTILES}
        print(f"  {rate:>6}/s (sent at {achieved:.0f}/s): p50 {q['p50']:.0f} ms, p99 {q['p99']:.0f} ms, "
              f"p99.9 {q['p99.9']:.0f} ms, max {q['p100']:.0f} ms, mean {statistics.fmean(latencies):.0f} ms; "
              f"{len(latencies)}/{total} back, {missing} missing after 60 s", flush=True)
        common = dict(source="loadtests/record_latency.py", peer="cobol mesh", rate=rate, until=a.until,
                      linger_ms=settings.linger_ms, seconds=a.seconds, sent_rate=round(achieved))
        for pct, v in q.items():
            figures.append(a.json, name="record.latency_ms", value=v, unit="ms", percentile=pct, **common)
        figures.append(a.json, name="record.missing", value=missing, unit="count", sent=total, **common)
    if empty:
        raise SystemExit(f"no {a.until} came back at {', '.join(map(str, empty))}/s: is the mesh up (make up)?")


if __name__ == "__main__":
    main()
