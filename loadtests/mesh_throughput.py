#!/usr/bin/env python3
"""End-to-end throughput of one big job through a running mesh (`make up`), with 1 and then 2
compressor workers, beside the codec run in-process on the same bytes. Figures only.

    .venv/bin/python loadtests/mesh_throughput.py [--mib 256] [--kind text|mixed|random]
        [--profile fast] [--workers 1,2] [--verify] [--json OUT]

"End to end" runs from the first byte uploaded over gRPC to the coordinator's `done`
(chunked, compressed, archived, ledger updated). The in-process figure is `encode_frame`
over the same 1 MiB chunks in this one process: the mesh's target is >= 70% of it.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts")]


import figures  # noqa: E402
from cobol_codec import encode_frame  # noqa: E402
from cobol_mesh.grpc_auth import channel  # noqa: E402  (mTLS, as the API: it plays its part)
from cobol_mesh.proto import pb, pb_grpc  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402

OPTS = [("grpc.max_receive_message_length", 64 << 20)]


def pieces(mib: int, kind: str, seed: int = 1) -> list[bytes]:
    """1 MiB pieces: log-like text, random bytes, or both alternating."""
    rnd = random.Random(seed)
    out = []
    for i in range(mib):
        if kind == "random" or (kind == "mixed" and i % 2):
            out.append(rnd.randbytes(1 << 20))
            continue
        lines, size = [], 0
        while size < 1 << 20:
            line = (f"2026-11-23T21:{i % 60:02d}:{size % 60:02d}.{size % 1000:03d} INFO node-{rnd.randint(1, 9)} "
                    f"req={rnd.getrandbits(32):08x} bytes={rnd.randint(0, 99999)} path=/v1/items/{rnd.randint(1, 500)}\n").encode()
            lines.append(line)
            size += len(line)
        out.append(b"".join(lines)[:1 << 20])
    return out


def in_process(data: list[bytes], profile: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = sum(len(encode_frame(d, profile)) for d in data)
    return time.perf_counter() - t0, out


def run_job(data: list[bytes], name: str, profile: str, verify: bool) -> tuple[float, float, "pb.JobStatus"]:
    ingest = pb_grpc.IngestStub(channel(settings.ingest_addr, "api", OPTS))
    coord = pb_grpc.CoordinatorStub(channel(settings.coordinator_addr, "api", OPTS))

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name=name, profile=profile))
        for d in data:
            yield pb.UploadRequest(data=d)
        yield pb.UploadRequest(end=pb.UploadEnd(bytes=sum(map(len, data))))
    t0 = time.monotonic()
    reply = ingest.Upload(reqs(), timeout=3600)
    t_up = time.monotonic() - t0
    while True:
        j = coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10)
        if j.status in ("done", "failed"):
            break
        time.sleep(0.1)
    t_done = time.monotonic() - t0
    if verify and j.status == "done":
        arch = pb_grpc.ArchiveStub(channel(settings.archive_addr, "api", OPTS))
        h = hashlib.sha256()
        for c in arch.ReadOriginal(pb.ReadRequest(job_id=reply.job_id), timeout=3600):
            h.update(c.data)
        if h.hexdigest() != reply.sha256:
            raise SystemExit(f"job {reply.job_id} read back differs from what was sent")
    return t_up, t_done, j


def set_compressors(n: int) -> None:
    """`mesh.py scale compressor n` (the supervisor follows the new count)."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "mesh.py"), "scale", "compressor", str(n)],
                   check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--kind", default="text", choices=["mixed", "text", "random"])
    ap.add_argument("--profile", default="fast", choices=["fast", "balanced", "max"])
    ap.add_argument("--workers", default="1,2", help="compressor counts to run, e.g. 1,2")
    ap.add_argument("--verify", action="store_true", help="read each job back and compare sha256")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args()
    data = pieces(a.mib, a.kind)             # generated up front: not part of any timing
    secs, out = in_process(data, a.profile)
    base = a.mib / secs
    print(f"{a.mib} MiB of {a.kind}, profile {a.profile}, {os.cpu_count()} cores")
    print(f"  in-process codec, 1 process:  {base:6.1f} MiB/s  ratio {a.mib * (1 << 20) / out:.2f}")
    fig = dict(source="loadtests/mesh_throughput.py", kind=a.kind, profile=a.profile, mib=a.mib)
    figures.append(a.json, name="mesh.in_process_throughput", value=base, unit="MiB/s", peer="cobol codec, 1 process", **fig)
    for n in (int(x) for x in a.workers.split(",")):
        set_compressors(n)
        t_up, t_done, j = run_job(data, f"throughput-{n}w", a.profile, a.verify)
        mibs = a.mib / t_done
        print(f"  mesh, {n} compressor(s):       {mibs:6.1f} MiB/s  ({100 * mibs / base:.0f}% of in-process; "
              f"upload {t_up:.1f} s, done after {t_done:.1f} s, status {j.status}, "
              f"ratio {j.bytes_in / max(j.bytes_out, 1):.2f})")
        if j.status == "done":
            figures.append(a.json, name="mesh.throughput", value=mibs, unit="MiB/s", peer="cobol mesh",
                           workers=n, nodes=1, **fig)
    set_compressors(2)


if __name__ == "__main__":
    main()
