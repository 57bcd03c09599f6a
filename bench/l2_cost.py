"""CPU cost of L2 (structure) analysis and reconstruction per 1 MiB frame, by group, beside
the whole frame's encode and decode in a profile (`--profile`, default fast).

The first `--mib` MiB of each group (its files back to back) cut into 1 MiB frames; each frame
timed best of 3 by this process's CPU clock; the mean over frames is printed. Runs against any
checkout (PYTHONPATH=<checkout>/libs/codec) for before/after pairs.

    .venv/bin/python bench/l2_cost.py ../shared/corpora loghub,tables,calgary
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec_bench import group_stream  # noqa: E402

from cobol_codec import encode_frame  # noqa: E402
from cobol_codec.codecs import structure as L2  # noqa: E402
from cobol_codec.frame import decode_frame, parse_header  # noqa: E402

FRAME = 1 << 20


def best_cpu(fn, *args, reps: int = 3):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.process_time()
        out = fn(*args)
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora")
    ap.add_argument("groups", help="comma-separated groups")
    ap.add_argument("--mib", type=int, default=4)
    ap.add_argument("--profile", default="fast")
    args = ap.parse_args()
    for group in args.groups.split(","):
        data = group_stream(Path(args.corpora), group, args.mib << 20)
        frames = [data[i:i + FRAME] for i in range(0, len(data), FRAME)]
        ta, tr, te, td, split = [], [], [], [], 0
        for f in frames:
            t, blob = best_cpu(encode_frame, f, args.profile)
            te.append(t)
            h = parse_header(blob)
            t, out = best_cpu(decode_frame, h, blob[h.size:])
            if out != f:
                raise SystemExit(f"frame round trip failed on {group}")
            td.append(t)
            t, res = best_cpu(L2.analyze, f)
            ta.append(t)
            if res is not None:
                split += 1
                t, out = best_cpu(L2.reconstruct, res[0], res[1], [p for _, p in res[2]], len(f))
                if out != f:
                    raise SystemExit(f"L2 round trip failed on {group}")
                tr.append(t)
        rec = f"{sum(tr) / len(tr) * 1e3:7.1f} ms" if tr else "      -   "
        print(f"{group:<12} L2 analyze {sum(ta) / len(ta) * 1e3:6.1f} ms  reconstruct {rec}   {args.profile} "
              f"frame encode {sum(te) / len(te) * 1e3:6.1f} ms  decode {sum(td) / len(td) * 1e3:6.1f} ms   "
              f"({len(frames)} frames, {split} split by L2)", flush=True)


if __name__ == "__main__":
    main()
