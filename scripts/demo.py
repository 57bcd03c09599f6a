#!/usr/bin/env python3
"""`make demo`: the main job on a running mesh (`make up` has started it).

1. A corpus file goes in through the REST API (`POST /api/jobs`), is compressed by the
   compressors, archived, and comes back byte for byte (`/result` decompressed, `/original`).
2. A device stream: records produced to Kafka's `cobol.ingest.raw` come back as jobs, in order.
Prints bytes in and out, ratio, throughput, and where the dashboard and APIs are.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from confluent_kafka import Producer  # noqa: E402

from cobol_codec import decompress  # noqa: E402
from cobol_mesh.client import ApiClient  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
API = os.environ.get("COBOL_API_URL", f"http://127.0.0.1:{os.environ.get('COBOL_API_PORT') or 8000 + int(os.environ.get('COBOL_PORT_OFFSET') or 0)}")


def admin_password() -> str:
    if os.environ.get("COBOL_ADMIN_PASSWORD"):
        return os.environ["COBOL_ADMIN_PASSWORD"]
    return (ROOT / ".data" / "admin-password").read_text().strip()


def demo_file(api: ApiClient, path: Path) -> None:
    data = path.read_bytes()
    t0 = time.monotonic()
    job = api.submit(path, profile="balanced")
    final = api.wait(job["id"], timeout=600)
    secs = time.monotonic() - t0
    if final["status"] != "done":
        raise SystemExit(f"job {job['id']} ended {final['status']}: {final.get('reason')}")
    container, original = io.BytesIO(), io.BytesIO()
    api.download(job["id"], container)
    api.download(job["id"], original, original=True)
    same = decompress(container.getvalue()) == data == original.getvalue()
    print(f"REST upload  {path.name}: {len(data):,} bytes -> {len(container.getvalue()):,} bytes "
          f"(ratio {len(data) / len(container.getvalue()):.2f}x), done in {secs:.1f} s "
          f"({len(data) / secs / 1e6:.2f} MB/s end to end); round trip {'byte-exact' if same else 'MISMATCH'}")
    if not same:
        raise SystemExit(1)


def demo_device_stream(api: ApiClient, records: list[bytes]) -> None:
    stream = f"sensor-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    t0 = time.monotonic()
    for rec in records:
        producer.produce(settings.topic_raw, key=stream.encode(), value=rec)
        producer.poll(0)
    producer.produce(settings.topic_raw, key=stream.encode(), value=b"bad\nrecord: holds a newline")
    producer.flush(30)
    want = b"".join(r + b"\n" for r in records)
    deadline = time.monotonic() + 120
    while True:
        jobs = [j for j in api.jobs(limit=500) if j.get("name") == stream]
        if jobs and all(j["status"] == "done" for j in jobs) and sum(j["bytes_in"] for j in jobs) >= len(want):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"device stream {stream}: jobs not done after 120 s: {jobs}")
        time.sleep(0.5)
    secs = time.monotonic() - t0
    jobs.sort(key=lambda j: int(j["id"].rsplit("-o", 1)[-1]))   # kafka-p<partition>-o<first offset>
    back = io.BytesIO()
    for j in jobs:
        api.download(j["id"], back, original=True)
    same = back.getvalue() == want
    out = sum(j["bytes_out"] for j in jobs)
    print(f"Kafka device stream {stream}: {len(records):,} records, {len(want):,} bytes -> {out:,} bytes "
          f"in {len(jobs)} job(s) (ratio {len(want) / max(out, 1):.2f}x), all done {secs:.1f} s after the first "
          f"record; records back in order: {'yes' if same else 'NO'}; the malformed record went to {settings.topic_dlq}")
    if not same:
        raise SystemExit(1)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Environment: COBOL_API_URL (default http://127.0.0.1:8000) and "
                                   "every COBOL_* of cobol_mesh.settings.").parse_args()
    api = ApiClient(API, user="admin", password=admin_password(), use_cache=False)
    api.login()
    log_file = CORPORA / "loghub" / "Thunderbird_2k.log"
    if not log_file.exists():
        raise SystemExit(f"missing corpus file {log_file}: clone the project beside ../shared")
    demo_file(api, log_file)
    series = (CORPORA / "nab" / "realKnownCause" / "machine_temperature_system_failure.csv").read_bytes()
    demo_device_stream(api, series.splitlines()[1:5001])
    print(f"\nDashboard and REST API: {API}/  (OpenAPI {API}/api/openapi.json, docs {API}/api/docs; "
          f"user admin, password in .data/admin-password)")
    print(f"gRPC ingest: {settings.ingest_addr}   Kafka: {settings.kafka_bootstrap} (devices -> {settings.topic_raw})")
    print("Stop everything with: make down")


if __name__ == "__main__":
    main()
