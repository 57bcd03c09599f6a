#!/usr/bin/env python3
"""What tracing costs a chunk, in-process: the hooks one chunk goes through in a service
(`telemetry.consumed` around the work, `kafka_headers()` for the record it produces), timed
with spans exported to a JSON-lines file, with spans made but not exported, and with the trace
sampled out; beside the codec's own time on a 1 MiB chunk of log text. Figures only.

    .venv/bin/python loadtests/trace_overhead.py [--chunks 20000] [--json OUT]
    .venv/bin/python loadtests/trace_overhead.py --mesh [--mib 32] [--rounds 3] [--json OUT]

A job's chunk passes these hooks about five times (compressor, two archive replicas, two
coordinator events), so the per-job overhead is about 5 x the per-chunk figure per chunk.

--mesh: the same on a running mesh (`make up`, with COBOL_TRACE_FILE or OTLP configured):
jobs of --mib MiB sent to ingest alternately traced (no context: ingest starts a sampled trace)
and not (a `traceparent` whose sampled flag is off: every service follows that decision), in
--rounds pairs, so both see the same machine; upload-to-done throughput of each kind.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts"), str(ROOT / "loadtests")]

import figures  # noqa: E402
from cobol_mesh import telemetry, tracing  # noqa: E402
from opentelemetry import trace  # noqa: E402

HOOKS_PER_CHUNK = 5


class Record:
    """The parts of a confluent_kafka.Message the hooks read."""

    def __init__(self, headers) -> None:
        self._headers = headers
        self._ts = (1, int(time.time() * 1000))

    def headers(self):
        return self._headers

    def timestamp(self):
        return self._ts

    def topic(self):
        return "cobol.chunks"

    def partition(self):
        return 0

    def offset(self):
        return 42


def per_chunk_us(n: int, env: dict) -> float:
    p = tracing.provider("cobol-bench", "bench-1", env=env)
    telemetry._tracer = p.get_tracer("bench")
    with p.get_tracer("bench").start_as_current_span("upload"):
        rec = Record(telemetry.kafka_headers())
    t0 = time.perf_counter()
    for i in range(n):
        with telemetry.consumed(rec, "compress.chunk", job_id="j", seq=i):
            telemetry.kafka_headers()
    secs = time.perf_counter() - t0   # the batch exporter writes on its own thread, off the chunk's
    p.shutdown()                      # path (its CPU still counts on a busy machine: see the mesh run)
    return 1e6 * secs / n


def codec_ms_per_mib() -> float:
    from cobol_codec import encode_frame
    line = b"2026-11-30T03:31:00 INFO node-3 req=9f3a1c22 GET /v1/items/417 200 ms=12\n"
    chunk = (line * ((1 << 20) // len(line) + 1))[: 1 << 20]
    encode_frame(chunk, "fast")
    t0 = time.perf_counter()
    for _ in range(5):
        encode_frame(chunk, "fast")
    return 1000 * (time.perf_counter() - t0) / 5


def mesh_job_mibs(data: list[bytes], traced: bool) -> float:
    """One job through ingest; MiB/s from the first byte sent to the coordinator's done."""
    import grpc
    from cobol_mesh.grpc_auth import channel
    from cobol_mesh.proto import pb, pb_grpc
    from cobol_mesh.settings import settings
    ingest = pb_grpc.IngestStub(channel(settings.ingest_addr, "api"))
    coord = pb_grpc.CoordinatorStub(channel(settings.coordinator_addr, "api"))
    # W3C traceparent with flags 00: "not sampled", which every ParentBased sampler follows
    md = [] if traced else [("traceparent", f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-00")]

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="trace-overhead", profile="fast"))
        yield from (pb.UploadRequest(data=d) for d in data)
        yield pb.UploadRequest(end=pb.UploadEnd(bytes=sum(map(len, data))))
    t0 = time.monotonic()
    reply = ingest.Upload(reqs(), metadata=md, timeout=3600)
    while True:
        try:
            if coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10).status in ("done", "failed"):
                break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        time.sleep(0.1)
    return len(data) / (time.monotonic() - t0)


def mesh_main(a) -> int:
    import statistics

    from mesh_throughput import pieces
    data = pieces(a.mib, "text")
    got: dict[bool, list[float]] = {True: [], False: []}
    for r in range(a.rounds):
        for traced in ((True, False) if r % 2 == 0 else (False, True)):
            got[traced].append(mesh_job_mibs(data, traced))
            print(f"  round {r + 1}: {'traced    ' if traced else 'not traced'} {got[traced][-1]:6.2f} MiB/s", flush=True)
    on, off = statistics.median(got[True]), statistics.median(got[False])
    print(f"{a.mib} MiB jobs, median of {a.rounds}: traced {on:.2f} MiB/s, not traced {off:.2f} MiB/s "
          f"({100 * (off - on) / off:+.1f}% slower traced)")
    for traced, v in ((True, on), (False, off)):
        figures.append(a.json, source="loadtests/trace_overhead.py", name="trace.mesh_throughput", value=v,
                       unit="MiB/s", peer="cobol mesh", traced=traced, mib=a.mib, rounds=a.rounds)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=20000, help="chunks to time per mode")
    ap.add_argument("--mesh", action="store_true", help="measure jobs on the running mesh instead")
    ap.add_argument("--mib", type=int, default=32, help="--mesh: size of each job")
    ap.add_argument("--rounds", type=int, default=3, help="--mesh: traced/untraced pairs")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args(argv)
    if a.chunks < 100 or a.mib < 1 or a.rounds < 1:
        ap.error("--chunks must be at least 100, --mib and --rounds at least 1")
    if a.mesh:
        return mesh_main(a)
    trace.set_tracer_provider(tracing.provider("cobol-bench", "bench-0", env={}))
    with tempfile.TemporaryDirectory() as tmp:
        modes = {"exported to COBOL_TRACE_FILE": {"COBOL_TRACE_FILE": os.path.join(tmp, "t.jsonl")},
                 "made, not exported": {},
                 "sampled out (COBOL_TRACE_SAMPLE=0)": {"COBOL_TRACE_FILE": os.path.join(tmp, "u.jsonl"),
                                                        "COBOL_TRACE_SAMPLE": "0"}}
        us = {m: per_chunk_us(a.chunks, env) for m, env in modes.items()}
    codec = codec_ms_per_mib()
    print(f"tracing hooks per chunk ({a.chunks} chunks each), beside the codec on 1 MiB of log text "
          f"({codec:.1f} ms, profile fast):")
    for mode, v in us.items():
        pct = 100 * HOOKS_PER_CHUNK * v / 1000 / codec
        print(f"  {mode:38} {v:7.1f} µs per hook; x{HOOKS_PER_CHUNK} per chunk = {pct:.2f}% of the codec time")
        figures.append(a.json, source="loadtests/trace_overhead.py", name="trace.overhead_us", value=v, unit="us",
                       peer="cobol tracing hooks", mode=mode)
        figures.append(a.json, source="loadtests/trace_overhead.py", name="trace.overhead_percent", value=pct,
                       unit="%", peer="cobol tracing hooks", mode=mode, codec_ms_per_mib=round(codec, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
