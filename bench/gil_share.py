"""Share of a profile's compress or decompress time spent holding the GIL (what caps `--threads`).

Two py-spy samplers watch the same worker process at once, one of them counting only samples
in which the worker holds the GIL; the share is the ratio of the two counts in the timed loop.
Unlike a 1-versus-2-thread wall-clock run this does not depend on how busy the machine's cores
are: with a GIL share g, two threads can at best be 1 / (g + (1 - g) / 2) times faster.
Sampling error is a few points with a few hundred samples: compare shares of one run.

    .venv/bin/python bench/gil_share.py ../shared/corpora loghub,nab --profile fast --py-spy /path/to/py-spy

py-spy is not a project dependency: `pip install py-spy` into any environment.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()


def worker(root: Path, group: str, profile: str, what: str, reps: int, mib: int) -> None:
    sys.path.insert(0, str(HERE.parent))
    from codec_bench import group_stream
    from cobol_codec import compress, decompress
    data = group_stream(root, group, mib << 20)
    blob = compress(data, profile)
    for _ in range(reps):
        timed_loop(compress, decompress, data, blob, profile, what)


def timed_loop(compress, decompress, data, blob, profile, what):
    """The samples counted are those inside this function."""
    if what == "compress":
        compress(data, profile)
    else:
        decompress(blob)


def count(path: Path) -> int:
    n = 0
    for line in path.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        if "timed_loop (" in stack:
            n += int(k)
    return n


def share(spy: str, args, group: str, what: str) -> tuple[int, int]:
    cmd = [sys.executable, str(HERE), args.corpora, group, "--worker", what, "--profile", args.profile,
           "--reps", str(args.reps), "--mib", str(args.mib)]
    with tempfile.TemporaryDirectory() as tmp:
        every, held = Path(tmp, "every.txt"), Path(tmp, "gil.txt")
        proc = subprocess.Popen(cmd)
        spies = [subprocess.Popen([spy, "record", "-r", "250", "--nonblocking", "--format", "raw", "-o", str(out),
                                   "--pid", str(proc.pid), *extra], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
                 for out, extra in ((every, []), (held, ["--gil"]))]
        if proc.wait():
            raise SystemExit(f"the worker failed on {group}")
        for s in spies:
            s.wait()
        return count(every), count(held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", help="folder whose sub-folders are corpus groups")
    ap.add_argument("groups", help="comma-separated groups, e.g. loghub,nab,calgary")
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--reps", type=int, default=6, help="compressions (decompressions: twice as many) per run")
    ap.add_argument("--mib", type=int, default=4, help="MiB of each group, its files back to back")
    ap.add_argument("--py-spy", dest="spy", default=shutil.which("py-spy"), help="the py-spy binary")
    ap.add_argument("--worker", choices=("compress", "decompress"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        reps = args.reps if args.worker == "compress" else 2 * args.reps
        worker(Path(args.corpora), args.groups, args.profile, args.worker, reps, args.mib)
        return
    if not args.spy or not os.access(args.spy, os.X_OK):
        ap.error("py-spy not found: pip install py-spy, then pass --py-spy or put it on PATH")
    print(f"GIL share, profile {args.profile}, {args.mib} MiB per group (load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()) + ")")
    for group in args.groups.split(","):
        for what in ("compress", "decompress"):
            every, held = share(args.spy, args, group, what)
            print(f"  {group:<12} {what:<10} samples {every:>5}  holding the GIL {held:>5}  "
                  f"share {held / max(every, 1):>4.0%}", flush=True)


if __name__ == "__main__":
    main()
