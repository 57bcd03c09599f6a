"""`make bench`: our profiles beside zstd, xz, brotli and OpenZL on the same bytes, same run.

For each corpus group (each sub-folder of the corpora directory, and each extra directory on
the command line) every file is compressed on its own, single-threaded; sizes are summed and
ratio = original / compressed. MB/s = original bytes / seconds. Then the small-record
experiment: 4 KiB chunks and single log lines with trained dictionaries.
"""
from __future__ import annotations

import argparse
import lzma
import math
import os
import platform
import random
import time
from collections import Counter
from pathlib import Path

import brotli
import numpy as np
import zstandard

import cobol_codec
from cobol_codec import compress, decompress, encode_frame, train
from cobol_codec.container import FILE_HEADER


def _openzl():
    import openzl.ext as zl

    def comp(data: bytes) -> bytes:
        c = zl.Compressor()
        c.select_starting_graph(zl.graphs.Compress()(c))
        cc = zl.CCtx()
        cc.ref_compressor(c)
        cc.set_parameter(zl.CParam.FormatVersion, zl.MAX_FORMAT_VERSION)
        return cc.compress([zl.Input(zl.Type.Serial, np.frombuffer(data, dtype=np.uint8))])

    def decomp(blob: bytes) -> bytes:
        return zl.DCtx().decompress(blob)[0].content.as_bytes()
    return comp, decomp


def codecs() -> dict:
    zl_c, zl_d = _openzl()
    return {
        "cobol fast": (lambda d: compress(d, "fast"), decompress),
        "cobol max": (lambda d: compress(d, "max"), decompress),
        "zstd -3": (zstandard.ZstdCompressor(level=3).compress, zstandard.ZstdDecompressor().decompress),
        "zstd -19": (zstandard.ZstdCompressor(level=19).compress, zstandard.ZstdDecompressor().decompress),
        "xz -9": (lambda d: lzma.compress(d, preset=9), lzma.decompress),
        "brotli -11": (lambda d: brotli.compress(d, quality=11), brotli.decompress),
        "OpenZL": (zl_c, zl_d),
    }


def entropy0(data: bytes) -> float:
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def measure(files: list[bytes], comp, decomp) -> tuple[int, float, float]:
    size = 0
    tc = td = 0.0
    for data in files:
        t0 = time.perf_counter()
        blob = comp(data)
        t1 = time.perf_counter()
        back = decomp(blob)
        t2 = time.perf_counter()
        if back != data:
            raise SystemExit("round trip failed: the benchmark refuses to report a broken codec")
        size += len(blob)
        tc += t1 - t0
        td += t2 - t1
    return size, tc, td


def groups(root: Path, extra: list[str]) -> list[tuple[str, list[bytes]]]:
    out = []
    for d in [*(sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []), *map(Path, extra)]:
        files = [p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != "README.md"]
        if files:
            out.append((d.name, files))
    rnd = random.Random(42)
    random_files = [rnd.randbytes(1 << 20) for _ in range(4)]
    out.append(("random bytes", random_files))
    out.append(("already compressed", [lzma.compress(b"".join(f for _, fs in out[:1] for f in fs)[:4 << 20])]))
    return out


def small_records(root: Path) -> None:
    logs = [p.read_bytes() for p in sorted((root / "loghub").glob("*.log"))]
    if not logs:
        return
    print("\nSmall records (loghub): trained on half, compressed one at a time on the other half; bytes per record")
    print(f"  {'unit':<18} {'records':>8} {'raw':>9} {'cobol max+dict':>15} {'zstd -19+dict':>14} {'cobol no dict':>14} {'zstd no dict':>13}")
    for unit in ("4 KiB chunks", "single lines"):
        train_s, test_s = [], []
        for data in logs:
            pieces = ([data[i:i + 4096] for i in range(0, len(data), 4096)] if unit == "4 KiB chunks"
                      else data.splitlines(keepends=True))
            train_s += pieces[0::2]
            test_s += pieces[1::2][:150]
        ours = train(train_s, 64 << 10)
        zd = zstandard.train_dictionary(64 << 10, train_s)
        zc = zstandard.ZstdCompressor(level=19, dict_data=zd)
        zc_plain = zstandard.ZstdCompressor(level=19)
        n = len(test_s)
        raw = sum(map(len, test_s))
        ours_sz = sum(len(encode_frame(s, "max", ours)) for s in test_s)
        plain_sz = sum(len(encode_frame(s, "max")) for s in test_s)
        zd_sz = sum(len(zc.compress(s)) for s in test_s)
        zp_sz = sum(len(zc_plain.compress(s)) for s in test_s)
        for s in test_s[:20]:  # spot-check the round trip with the dictionary
            assert cobol_codec.decompress(FILE_HEADER + encode_frame(s, "max", ours), ours) == s
        print(f"  {unit:<18} {n:>8} {raw / n:>9.1f} {ours_sz / n:>15.1f} {zd_sz / n:>14.1f} {plain_sz / n:>14.1f} {zp_sz / n:>13.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", help="folder whose sub-folders are corpus groups")
    ap.add_argument("extra", nargs="*", help="more folders, each one group")
    ap.add_argument("--only", help="comma-separated codec names to run (default all)")
    args = ap.parse_args()
    root = Path(args.corpora)
    table = codecs()
    if args.only:
        table = {k: v for k, v in table.items() if k in args.only.split(",")}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; single thread; "
          f"ratio = original/compressed summed per group, MB/s = original MB / s")
    print(f"{'group':<20} {'MB':>6} {'H0 8/H':>7} " + " ".join(f"{name:>22}" for name in table))
    print(f"{'':<20} {'':>6} {'':>7} " + " ".join(f"{'ratio  comp  decomp':>22}" for _ in table))
    for name, files in groups(root, args.extra):
        total = sum(map(len, files))
        h = entropy0(b"".join(files))
        cells = []
        for comp, decomp in table.values():
            size, tc, td = measure(files, comp, decomp)
            cells.append(f"{total / size:>7.2f}x {total / 1e6 / tc:>6.1f} {total / 1e6 / td:>6.1f}")
        print(f"{name:<20} {total / 1e6:>6.2f} {8 / h if h else 0:>6.2f}x " + " ".join(f"{c:>22}" for c in cells), flush=True)
    small_records(root)


if __name__ == "__main__":
    main()
