#!/usr/bin/env python3
"""End-to-end throughput of one big job through a running mesh (`make up`) with 1, 2 and 4
compressor workers, beside the codec run in-process on the same bytes, then jobs of 1 MiB to
1 GiB. Figures only.

    COBOL_PORT_OFFSET=... .venv/bin/python loadtests/mesh_throughput.py [--mib 256]
        [--kind text|mixed|random] [--profile fast] [--workers 1,2,4]
        [--sizes 1,16,256,1024] [--size-workers 2] [--verify] [--json OUT]

"End to end" runs from the first byte uploaded over gRPC to the coordinator's `done`
(chunked, compressed, archived, ledger updated). The in-process figure is `encode_frame`
over the same 1 MiB chunks in this one process: the mesh's target is >= 70% of it.

--workers: the --mib job once per compressor count (`mesh.py scale compressor N` before each).
--sizes: then one job of each size (MiB) at --size-workers compressors, the figure
`mesh.job_throughput`; a size equal to --mib at a count already run is not run twice.
Data is generated (seeded, log-like text or random bytes; no corpus file), every job is a
prefix of the same bytes, and --verify reads each job back and compares length and sha256.
Memory: the largest job is held in RAM (1 GiB for --sizes ...,1024).
Exit status 1 (with the reason) when a job fails, the mesh is not up, or a read-back differs.
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
sys.path[:0] = [str(ROOT / "loadtests"), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts")]


import figures  # noqa: E402
import grpc  # noqa: E402
import loadspec  # noqa: E402
from cobol_codec import encode_frame  # noqa: E402
from cobol_mesh.grpc_auth import channel  # noqa: E402  (mTLS, as the API: it plays its part)
from cobol_mesh.proto import pb, pb_grpc  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402

OPTS = [("grpc.max_receive_message_length", 64 << 20)]
MiB = 1 << 20
MAX_MIB = 4096


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


def mesh_error(what: str, exc: grpc.RpcError) -> SystemExit:
    return SystemExit(f"{what}: {exc.code().name}: {exc.details()} (is the mesh up? `make up` with the same "
                      f"COBOL_PORT_OFFSET={os.environ.get('COBOL_PORT_OFFSET', '0')})")


def run_job(data: list[bytes], name: str, profile: str, verify: bool) -> tuple[float, float, "pb.JobStatus"]:
    """Upload `data` as one job, wait for done/failed, optionally read it back; progress is
    printed every 64 MiB uploaded and every 15 s of waiting, so a long job shows it is alive."""
    ingest = pb_grpc.IngestStub(channel(settings.ingest_addr, "api", OPTS))
    coord = pb_grpc.CoordinatorStub(channel(settings.coordinator_addr, "api", OPTS))
    total = sum(map(len, data))
    want = hashlib.sha256()
    t0 = time.monotonic()

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name=name, profile=profile))
        sent = 0
        for d in data:
            want.update(d)
            yield pb.UploadRequest(data=d)
            sent += len(d)
            if total >= 128 * MiB and sent % (64 * MiB) < len(d):
                print(f"    {name}: uploaded {sent // MiB}/{total // MiB} MiB after {time.monotonic() - t0:.0f} s",
                      flush=True)
        yield pb.UploadRequest(end=pb.UploadEnd(bytes=total))
    try:
        reply = ingest.Upload(reqs(), timeout=3600)
    except grpc.RpcError as exc:
        raise mesh_error(f"upload of {name}", exc) from None
    t_up = time.monotonic() - t0
    if reply.sha256 and reply.sha256 != want.hexdigest():
        raise SystemExit(f"job {reply.job_id}: ingest's sha256 differs from that of the bytes sent")
    next_note = time.monotonic() + 15
    while True:
        try:
            j = coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:    # not in the ledger yet: wait
                raise mesh_error(f"status of job {reply.job_id}", exc) from None
            j = None
        if j is not None and j.status in ("done", "failed"):
            break
        if time.monotonic() >= next_note:
            next_note += 15
            got = f"{j.chunks_archived}/{j.chunk_count or '?'} chunks archived" if j else "not in the ledger yet"
            print(f"    {name}: {got} after {time.monotonic() - t0:.0f} s", flush=True)
        time.sleep(0.1)
    t_done = time.monotonic() - t0
    if verify and j.status == "done":
        arch = pb_grpc.ArchiveStub(channel(settings.archive_addr, "api", OPTS))
        h, n = hashlib.sha256(), 0
        try:
            for c in arch.ReadOriginal(pb.ReadRequest(job_id=reply.job_id), timeout=3600):
                h.update(c.data)
                n += len(c.data)
        except grpc.RpcError as exc:
            raise mesh_error(f"read-back of job {reply.job_id}", exc) from None
        if n != total or h.hexdigest() != want.hexdigest():
            raise SystemExit(f"job {reply.job_id} read back differs from what was sent ({n} of {total} bytes)")
    return t_up, t_done, j


def set_compressors(n: int) -> None:
    """`mesh.py scale compressor n` (the supervisor follows the new count)."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "mesh.py"), "scale", "compressor", str(n)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise SystemExit(f"scripts/mesh.py scale compressor {n} failed (is the mesh up?):\n{r.stderr.strip()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256, help="MiB of the job run at each worker count (default 256)")
    ap.add_argument("--kind", default="text", choices=["mixed", "text", "random"])
    ap.add_argument("--profile", default="fast", choices=["fast", "balanced", "max"])
    ap.add_argument("--workers", default="1,2,4", help="compressor counts to run the --mib job at (default 1,2,4)")
    ap.add_argument("--sizes", default="", help="job sizes in MiB to run one after another, e.g. 1,16,256,1024 "
                    "(default: none)")
    ap.add_argument("--size-workers", type=int, default=2, help="compressors during the --sizes runs (default 2)")
    ap.add_argument("--verify", action="store_true", help="read each job back and compare sha256 and length")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args(argv)
    try:
        a.workers = loadspec.counts(a.workers, "--workers", 1, 16)
        a.sizes = loadspec.counts(a.sizes, "--sizes", 1, MAX_MIB) if a.sizes.strip() else []
    except ValueError as e:
        ap.error(str(e))
    if not 1 <= a.mib <= MAX_MIB:
        ap.error(f"--mib must be between 1 and {MAX_MIB}")
    if not 1 <= a.size_workers <= 16:
        ap.error("--size-workers must be between 1 and 16")
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    need = max([a.mib] + a.sizes)
    if need >= 128:
        print(f"generating {need} MiB of {a.kind} (not timed) ...", flush=True)
    data = pieces(need, a.kind)           # generated up front; every job is a prefix of the same bytes
    secs, out = in_process(data[:a.mib], a.profile)
    base = a.mib / secs
    print(f"{a.mib} MiB of {a.kind}, profile {a.profile}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"  in-process codec, 1 process:  {base:6.1f} MiB/s  ratio {a.mib * MiB / out:.2f}")
    fig = dict(source="loadtests/mesh_throughput.py", kind=a.kind, profile=a.profile)
    figures.append(a.json, name="mesh.in_process_throughput", value=base, unit="MiB/s", peer="cobol codec, 1 process",
                   mib=a.mib, **fig)
    failed, done = [], {}
    for n in a.workers:
        set_compressors(n)
        t_up, t_done, j = run_job(data[:a.mib], f"throughput-{n}w", a.profile, a.verify)
        mibs = a.mib / t_done
        print(f"  mesh, {n} compressor(s):       {mibs:6.1f} MiB/s  ({100 * mibs / base:.0f}% of in-process; "
              f"upload {t_up:.1f} s, done after {t_done:.1f} s, status {j.status}, "
              f"ratio {j.bytes_in / max(j.bytes_out, 1):.2f})", flush=True)
        if j.status != "done":
            failed.append(f"{j.job_id} ({j.reason})")
            continue
        done[(n, a.mib)] = (t_done, j)
        figures.append(a.json, name="mesh.throughput", value=mibs, unit="MiB/s", peer="cobol mesh",
                       workers=n, nodes=1, mib=a.mib, verified=a.verify, **fig)
    if a.sizes:
        set_compressors(a.size_workers)
        print(f"  job sizes with {a.size_workers} compressor(s){', each read back and compared' if a.verify else ''}:")
    for mib in a.sizes:
        if (a.size_workers, mib) in done:            # the same job already ran above: not twice
            t_done, j = done[(a.size_workers, mib)]
            t_up = float("nan")
        else:
            t_up, t_done, j = run_job(data[:mib], f"size-{mib}mib", a.profile, a.verify)
        print(f"    {mib:5d} MiB: {mib / t_done:6.1f} MiB/s, done after {t_done:7.1f} s, status {j.status}, "
              f"ratio {j.bytes_in / max(j.bytes_out, 1):.2f}", flush=True)
        if j.status != "done":
            failed.append(f"{j.job_id} ({j.reason})")
            continue
        figures.append(a.json, name="mesh.job_throughput", value=mib / t_done, unit="MiB/s", peer="cobol mesh",
                       workers=a.size_workers, mib=mib, seconds=round(t_done, 2), verified=a.verify,
                       ratio=round(j.bytes_in / max(j.bytes_out, 1), 3), **fig)
    set_compressors(2)
    if failed:
        raise SystemExit(f"{len(failed)} job(s) failed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
