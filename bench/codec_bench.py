"""`make bench`: our profiles beside zstd, xz, brotli and OpenZL on the same bytes, same run.

1. Groups: each sub-folder of the corpora directory (and each extra directory given) plus
   generated random bytes and already-compressed bytes. Every file is compressed on its own,
   single-threaded; sizes are summed, ratio = original / compressed, MB/s = original MB / s.
2. Threads: each group as one stream (its files back to back, several frames) at 1 thread and
   at one thread per core, timed by the wall clock and by the process's CPU time (all threads).
3. Small frames: time per frame at 1, 4, 16 and 64 KiB for every profile beside zstd -3.
4. Records with a dictionary: single log lines, trained on half of each log, coded one at a
   time on the other half: bytes per record and records/s against zstd with a trained dictionary.

`--quick` caps every group at 1 MiB (cut from its files in turn) and uses fewer records, so
the whole run takes a few minutes; ratios then differ from the full run's. Timings on a
shared machine move between runs: the load average is printed beside them, and
`--clock cpu` times single-threaded work by the process's CPU time instead of the wall
clock (every codec runs in this process, so the comparison stays fair); the threads section
prints both clocks (CPU MB/s counts every thread's time, so it shows what threads cost, and the
wall clock what they gain when the cores are free).
"""
from __future__ import annotations

import argparse
import lzma
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from typing import Callable
from pathlib import Path

import brotli
import numpy as np
import zstandard

import cobol_codec
from cobol_codec import compress, decompress, encode_frame, train
from cobol_codec.frame import decode_frame, parse_header

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import figures  # noqa: E402

PROFILES = ("fast", "balanced", "max")
clock: Callable[[], float] = time.perf_counter      # --clock cpu: time.process_time


def mbs(n_bytes: int, seconds: float) -> str:
    v = n_bytes / 1e6 / max(seconds, 1e-9)
    return f"{v:6.1f}" if v >= 1 else f"{v:6.2f}"


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
    ours = {f"cobol {p}": ((lambda p: lambda d: compress(d, p))(p), decompress) for p in PROFILES}
    return ours | {
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


def round_trips(items: list[bytes], comp, decomp) -> tuple[int, list[float], list[float]]:
    """Compressed bytes in total, and seconds per item to compress and to decompress; a
    round trip that does not give the input back stops the benchmark."""
    size, tc, td = 0, [], []
    for data in items:
        t0 = clock()
        blob = comp(data)
        t1 = clock()
        back = decomp(blob)
        t2 = clock()
        if back != data:
            raise SystemExit("round trip failed: the benchmark refuses to report a broken codec")
        size += len(blob)
        tc.append(t1 - t0)
        td.append(t2 - t1)
    return size, tc, td


def measure(files: list[bytes], comp, decomp) -> tuple[int, float, float]:
    size, tc, td = round_trips(files, comp, decomp)
    return size, sum(tc), sum(td)


def _cap(files: list[bytes], cap: int | None) -> list[bytes]:
    """At most `cap` bytes of a group, taken from each file in turn (a prefix of each)."""
    if cap is None or sum(map(len, files)) <= cap:
        return files
    share = max(cap // len(files), 4096)
    out, total = [], 0
    for f in files:
        piece = f[:min(share, cap - total)]
        if piece:
            out.append(piece)
            total += len(piece)
        if total >= cap:
            break
    return out


def groups(root: Path, extra: list[str], cap: int | None) -> list[tuple[str, list[bytes]]]:
    out = []
    dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for d in [*dirs, *map(Path, extra)]:
        files = [p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and p.name != "README.md"]
        if files:
            out.append((d.name, _cap(files, cap)))
    rnd = random.Random(42)
    n_random = 1 if cap else 4
    out.append(("random", [rnd.randbytes(1 << 20) for _ in range(n_random)]))
    text = b"".join(f for _, fs in out[:-1] for f in fs)
    out.append(("already compressed", [lzma.compress(text[:(1 << 20) if cap else 4 << 20])]))
    return out


def load_note() -> str:
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def table(gs, table_codecs, json_out: str | None = None, quick: bool = False) -> None:
    print(f"\n== 1. Groups: each file on its own, single thread ({load_note()})")
    print(f"{'group':<20} {'MB':>6} {'H0 8/H':>7} " + " ".join(f"{name:>22}" for name in table_codecs))
    print(f"{'':<20} {'':>6} {'':>7} " + " ".join(f"{'ratio  comp  decomp':>22}" for _ in table_codecs))
    for name, files in gs:
        total = sum(map(len, files))
        h = entropy0(b"".join(files))
        cells = []
        for cname, (comp, decomp) in table_codecs.items():
            size, tc, td = measure(files, comp, decomp)
            cells.append(f"{total / size:>7.2f}x {mbs(total, tc)} {mbs(total, td)}")
            for fig, value, unit in (("codec.ratio", total / size, "x"),
                                     ("codec.compress", total / 1e6 / max(tc, 1e-9), "MB/s"),
                                     ("codec.decompress", total / 1e6 / max(td, 1e-9), "MB/s")):
                figures.append(json_out, source="bench/codec_bench.py", name=fig, value=value, unit=unit,
                               peer=cname, group=name, bytes=total, quick=quick)
        print(f"{name:<20} {total / 1e6:>6.2f} {8 / h if h else 0:>6.2f}x " + " ".join(f"{c:>22}" for c in cells),
              flush=True)


def group_stream(root: Path, name: str, cap: int) -> bytes:
    """A group's files back to back (as an archive of them would be), at most `cap` bytes."""
    d = root / name
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.name != "README.md") if d.is_dir() else []
    if not files:
        raise SystemExit(f"no group {name!r} under {root}")
    out = bytearray()
    for p in files:
        out += p.read_bytes()[:cap - len(out)]
        if len(out) >= cap:
            break
    return bytes(out)


def _timed(fn, arg, reps: int) -> tuple[object, float, float]:
    """(result, best wall seconds, best CPU seconds of the whole process, every thread) of `reps` runs."""
    best_w = best_c = math.inf
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn(arg)
        best_w, best_c = min(best_w, time.perf_counter() - w0), min(best_c, time.process_time() - c0)
    return out, best_w, best_c


def threads_rows(root: Path, names: list[str], profiles, cap: int, reps: int) -> None:
    """Each group as one stream of several frames (a file of the corpora is smaller than a
    frame, so compressing files one by one leaves nothing to spread over threads)."""
    cores = os.cpu_count() or 1
    print(f"\n== 2. Threads: each group as one stream (its files back to back, at most {cap >> 20} MiB), "
          f"1 thread and {cores} (all cores); best of {reps}; MB/s by the wall clock and by the "
          f"process's CPU time over all threads ({load_note()})")
    print(f"  {'group':<12} {'codec':<16} {'threads':>7} {'ratio':>8} {'comp wall':>10} {'comp cpu':>9} "
          f"{'decomp wall':>12} {'decomp cpu':>11}")
    for name in names:
        data = group_stream(root, name, cap)
        mb = len(data) / 1e6
        rows = [(f"cobol {p}", t or cores, (lambda d, p=p, t=t: compress(d, p, threads=t)),
                 (lambda b, t=t: decompress(b, threads=t))) for p in profiles for t in (1, 0)]
        for t in (1, cores):
            zc = zstandard.ZstdCompressor(level=3, threads=t if t > 1 else 0)
            rows.append(("zstd -3", t, zc.compress, zstandard.ZstdDecompressor().decompress))
        for codec, t, comp, decomp in rows:
            blob, cw, cc = _timed(comp, data, reps)
            back, dw, dc = _timed(decomp, blob, reps)
            if back != data:
                raise SystemExit(f"round trip failed for {codec} with {t} threads on {name}")
            print(f"  {name:<12} {codec:<16} {t:>7} {len(data) / len(blob):>7.2f}x {mb / cw:>10.1f} {mb / cc:>9.1f} "
                  f"{mb / dw:>12.1f} {mb / dc:>11.1f}", flush=True)


def _slices(gs, size: int, count: int) -> list[bytes]:
    """`count` slices of `size` bytes spread over every compressible group's files."""
    pool = [f for name, fs in gs if name not in ("random", "already compressed") for f in fs if len(f) >= size]
    rnd = random.Random(size)
    out = []
    for i in range(count):
        f = pool[i % len(pool)]
        at = rnd.randrange(0, len(f) - size + 1)
        out.append(f[at:at + size])
    return out


def _per_frame(slices, comp, decomp) -> tuple[float, float, float]:
    size, tc, td = round_trips(slices, comp, decomp)
    return sum(map(len, slices)) / size, statistics.median(tc) * 1e3, statistics.median(td) * 1e3


def _frame_decode(blob: bytes) -> bytes:
    h = parse_header(blob)
    return decode_frame(h, blob[h.size:])


def small_frames(gs, count: int) -> None:
    print(f"\n== 3. Small frames: {count} slices per size from every text/binary group; ratio, then median ms "
          f"per frame compress / decompress ({load_note()})")
    zc, zd = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
    names = [f"cobol {p}" for p in PROFILES] + ["zstd -3"]
    print(f"  {'frame':>6} " + " ".join(f"{n:>24}" for n in names))
    for kib in (1, 4, 16, 64):
        slices = _slices(gs, kib << 10, count)
        cells = []
        for p in PROFILES:
            r, c, d = _per_frame(slices, lambda s, p=p: encode_frame(s, p), _frame_decode)
            cells.append(f"{r:>6.2f}x {c:>7.3f} {d:>7.3f}")
        r, c, d = _per_frame(slices, zc.compress, zd.decompress)
        cells.append(f"{r:>6.2f}x {c:>7.3f} {d:>7.3f}")
        print(f"  {kib:>4}Ki " + " ".join(f"{c:>24}" for c in cells), flush=True)


def records(root: Path, per_log: int) -> None:
    logs = [p.read_bytes() for p in sorted((root / "loghub").glob("*.log"))]
    if not logs:
        return
    train_s, test_s = [], []
    for data in logs:
        lines = data.splitlines(keepends=True)
        train_s += lines[0::2]
        test_s += lines[1::2][:per_log]
    n, raw = len(test_s), sum(map(len, test_s))
    print(f"\n== 4. Single log lines with a dictionary (loghub: trained on half of each log's lines, "
          f"{n} other lines coded one at a time; {load_note()})")
    print(f"  {'codec':<22} {'bytes/record':>12} {'records/s comp':>15} {'records/s decomp':>17}   (raw {raw / n:.1f} B)")
    ours = train(train_s, 64 << 10)
    zdict = zstandard.train_dictionary(64 << 10, train_s)
    rows = [(f"cobol {p} + dict", (lambda s, p=p: encode_frame(s, p, ours)),
             (lambda b: decode_frame(parse_header(b), b[parse_header(b).size:], ours.content, ours.id)))
            for p in PROFILES]
    for lvl in (3, 19):
        zc = zstandard.ZstdCompressor(level=lvl, dict_data=zdict)
        zd = zstandard.ZstdDecompressor(dict_data=zdict)
        rows.append((f"zstd -{lvl} + dict", zc.compress, zd.decompress))
    rows.append(("cobol max, no dict", lambda s: encode_frame(s, "max"), _frame_decode))
    zc = zstandard.ZstdCompressor(level=19)
    rows.append(("zstd -19, no dict", zc.compress, zstandard.ZstdDecompressor().decompress))
    for name, comp, decomp in rows:
        comp(test_s[0])                       # warm-up: a primed model or a loaded dictionary
        t0 = clock()
        blobs = [comp(s) for s in test_s]
        t1 = clock()
        backs = [decomp(b) for b in blobs]
        t2 = clock()
        if backs != test_s:
            raise SystemExit(f"round trip failed for {name}")
        print(f"  {name:<22} {sum(map(len, blobs)) / n:>12.1f} {n / (t1 - t0):>15.0f} {n / (t2 - t1):>17.0f}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", help="folder whose sub-folders are corpus groups")
    ap.add_argument("extra", nargs="*", help="more folders, each one group")
    ap.add_argument("--quick", action="store_true", help="1 MiB per group and fewer records: a few minutes")
    ap.add_argument("--only", help="comma-separated codec names for the group table (default all)")
    ap.add_argument("--sections", default="1234", help="which sections to run (default 1234)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time single-threaded work by wall clock (default) or by this process's CPU time")
    ap.add_argument("--thread-groups", help="comma-separated groups for the threads section (default: every "
                    "sub-folder of the corpora)")
    ap.add_argument("--thread-profiles", default=",".join(PROFILES),
                    help=f"comma-separated profiles for the threads section (default {','.join(PROFILES)})")
    ap.add_argument("--thread-mib", type=int, help="MiB of each group in the threads section "
                    "(default 4 with --quick, else 32)")
    ap.add_argument("--reps", type=int, default=1, help="threads section: best of this many runs (default 1)")
    ap.add_argument("--json", metavar="OUT", help="append the group table's figures (codec.ratio, codec.compress, "
                    "codec.decompress) to this JSON-lines file")
    args = ap.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    root = Path(args.corpora)
    table_codecs = codecs()
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in table_codecs]
        if unknown:
            ap.error(f"unknown codec {unknown[0]!r}: choose from {', '.join(table_codecs)}")
        table_codecs = {k: v for k, v in table_codecs.items() if k in wanted}
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.machine())
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"zstandard {zstandard.__version__} (libzstd {'.'.join(map(str, zstandard.ZSTD_VERSION))}); "
          f"{'quick: 1 MiB per group' if args.quick else 'full corpora'}; {args.clock} clock")
    gs = groups(root, args.extra, (1 << 20) if args.quick else None)
    if "1" in args.sections:
        table(gs, table_codecs, args.json, args.quick)
    if "2" in args.sections:
        names = (args.thread_groups.split(",") if args.thread_groups else
                 sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
        profiles = args.thread_profiles.split(",")
        unknown = [p for p in profiles if p not in PROFILES]
        if unknown:
            ap.error(f"unknown profile {unknown[0]!r}: choose from {', '.join(PROFILES)}")
        if args.reps < 1 or (args.thread_mib is not None and args.thread_mib < 1):
            ap.error("--reps and --thread-mib must be at least 1")
        threads_rows(root, names, profiles, (args.thread_mib or (4 if args.quick else 32)) << 20, args.reps)
    if "3" in args.sections:
        small_frames(gs, 16 if args.quick else 64)
    if "4" in args.sections:
        records(root, 40 if args.quick else 150)


if __name__ == "__main__":
    main()
