#!/usr/bin/env python3
"""One big job through a running mesh (`make up`): upload over gRPC, wait for done, print figures.

    .venv/bin/python loadtests/mesh_job.py [--mib 256] [--kind mixed|text|random] [--verify]

Prints upload time, time to done (compression + archive) and MiB/s. Not a test: figures only.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

import grpc  # noqa: E402

from cobol_mesh.proto import pb, pb_grpc  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402


def pieces(mib: int, kind: str, seed: int = 1):
    rnd = random.Random(seed)
    for i in range(mib):
        if kind == "random" or (kind == "mixed" and i % 2):
            yield rnd.randbytes(1 << 20)
            continue
        out, size = [], 0
        while size < 1 << 20:
            line = (f"2026-11-23T21:{i % 60:02d}:{size % 60:02d} INFO node-{rnd.randint(1, 9)} "
                    f"req={rnd.getrandbits(32):x} bytes={rnd.randint(0, 99999)} path=/v1/items/{rnd.randint(1, 500)}\n").encode()
            out.append(line)
            size += len(line)
        yield b"".join(out)[:1 << 20]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--kind", default="mixed", choices=["mixed", "text", "random"])
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--verify", action="store_true", help="read the original back and compare sha256")
    a = ap.parse_args()
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    ingest = pb_grpc.IngestStub(grpc.insecure_channel(settings.ingest_addr, options=opts))
    coord = pb_grpc.CoordinatorStub(grpc.insecure_channel(settings.coordinator_addr, options=opts))
    data = list(pieces(a.mib, a.kind))          # generated up front: not part of the timing
    sha = hashlib.sha256(b"".join(data)).hexdigest()

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name=f"load-{a.mib}MiB-{a.kind}", profile=a.profile))
        for d in data:
            yield pb.UploadRequest(data=d)
    t0 = time.monotonic()
    reply = ingest.Upload(reqs(), timeout=3600)
    t_up = time.monotonic() - t0
    while True:
        j = coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10)
        if j.status in ("done", "failed"):
            break
        time.sleep(0.25)
    t_done = time.monotonic() - t0
    mib = reply.bytes_in / (1 << 20)
    print(f"job {reply.job_id}: {mib:.0f} MiB {a.kind}, {reply.chunk_count} chunks, status {j.status}")
    print(f"  upload {t_up:.1f}s ({mib / t_up:.1f} MiB/s); done after {t_done:.1f}s ({mib / t_done:.1f} MiB/s end to end); "
          f"ratio {j.bytes_in / max(j.bytes_out, 1):.2f}")
    if a.verify:
        arch = pb_grpc.ArchiveStub(grpc.insecure_channel(settings.archive_addr, options=opts))
        h = hashlib.sha256()
        for c in arch.ReadOriginal(pb.ReadRequest(job_id=reply.job_id), timeout=3600):
            h.update(c.data)
        print(f"  read back: {'identical' if h.hexdigest() == sha == reply.sha256 else 'MISMATCH'}")


if __name__ == "__main__":
    main()
