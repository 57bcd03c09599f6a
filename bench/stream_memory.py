"""`make bench-memory`: a 2 GiB stream through `cobol compress -` and back, peak RSS and MB/s.

The input is generated on the fly (log-like lines), so nothing of that size sits on disk or
in memory; the container goes to a temporary file and is decompressed to a hash.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time

GEN = r"""
import sys, hashlib
n = int(sys.argv[1]); h = hashlib.sha256(); i = 0; total = 0
out = sys.stdout.buffer
while total < n:
    block = b"".join(b"2026-11-23 21:%02d:%02d.%03d INFO worker-%d job=%08x read %d bytes in %d ms\n"
                     % (j // 60 % 60, j % 60, j % 1000, j % 7, j * 2654435761 % (1 << 32), j % 65536, j % 97)
                     for j in range(i, i + 20000))[: n - total]
    i += 20000; total += len(block); h.update(block); out.write(block)
sys.stderr.write(h.hexdigest())
"""


def child_peak_mb(cmd: list[str], stdin=None, stdout=None) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024, secs, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--profile", default="fast")
    a = ap.parse_args()
    n = int(a.gib * (1 << 30))
    cobol = [sys.executable, "-m", "cobol_codec.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        packed = os.path.join(tmp, "stream.cobol")
        gen = subprocess.Popen([sys.executable, "-c", GEN, str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak, secs, proc = child_peak_mb([*cobol, "compress", "-", "-o", packed, "--profile", a.profile], stdin=gen.stdout)
        gen.stdout.close()
        digest = gen.stderr.read().decode()
        gen.wait()
        if proc.returncode:
            raise SystemExit(proc.stderr.decode())
        size = os.path.getsize(packed)
        print(f"compress {n / 2**30:.1f} GiB ({a.profile}): {n / secs / 1e6:.1f} MB/s, ratio {n / size:.2f}, "
              f"peak RSS of `cobol compress` {peak:.0f} MB")
        h = hashlib.sha256()
        t0 = time.perf_counter()
        with subprocess.Popen([*cobol, "decompress", packed, "-o", "-"], stdout=subprocess.PIPE) as dec:
            while block := dec.stdout.read(1 << 20):
                h.update(block)
        secs = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        same = h.hexdigest() == digest
        print(f"decompress: {n / secs / 1e6:.1f} MB/s, byte-exact {same}, peak RSS so far {peak:.0f} MB")


if __name__ == "__main__":
    main()
