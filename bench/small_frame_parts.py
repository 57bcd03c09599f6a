"""Where a small frame's encoding time goes, by the L2 model that splits it.

Slices frames of one size from every text/binary group of the corpora (as `make bench`'s
small-frame section does), groups them by the structure model `analyze` picks (1 logs,
2 delimited, 6 records, none), and prints the CPU time per frame of each part of
`encode_frame`: the text test, the L2 analysis, coding the split's streams, coding the whole
frame, and the whole `encode_frame`. Each figure is the best of several passes over the
slices, so it is the cost of the code, not of the machine's load at one moment.

    .venv/bin/python bench/small_frame_parts.py ../shared/corpora --kib 4 --profile fast
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import codec_bench as cb
from cobol_codec import profiles
from cobol_codec import frame as F
from cobol_codec.codecs import structure as S
from cobol_codec.codecs.structure import _is_text     # the package exports it in every version


def best_ms(fn, items, passes: int) -> float:
    """Best CPU milliseconds per item over `passes` passes."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.process_time()
        for x in items:
            fn(x)
        best = min(best, time.process_time() - t0)
    return best / len(items) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", help="folder whose sub-folders are corpus groups")
    ap.add_argument("--kib", type=int, default=4, help="frame size in KiB (default 4)")
    ap.add_argument("--profile", default="fast", choices=list(profiles.PROFILES), help="profile (default fast)")
    ap.add_argument("--slices", type=int, default=64, help="frames sliced from the groups (default 64)")
    ap.add_argument("--passes", type=int, default=7, help="passes per figure; the best counts (default 7)")
    args = ap.parse_args()
    prof = profiles.get(args.profile)
    gs = cb.groups(Path(args.corpora), [], 1 << 20)
    slices = cb._slices(gs, args.kib << 10, args.slices)
    found = {s: S.analyze(s) for s in slices}
    print(f"{args.profile}, {args.kib} KiB frames, {len(slices)} slices; best of {args.passes} passes, "
          f"CPU ms per frame (load average {'%.1f %.1f %.1f' % os.getloadavg()})")
    print(f"  {'model':<10} {'frames':>6} {'text test':>9} {'L2 analysis':>11} {'split streams':>13} "
          f"{'whole':>7} {'encode_frame':>12}")
    for model, name in ((1, "logs"), (2, "delimited"), (6, "records"), (None, "none")):
        items = [s for s in slices if (found[s][0] if found[s] else None) == model]
        if not items:
            continue
        streams = (best_ms(lambda s: F._body(F.SPLIT_L2, b"", found[s][2], prof, b"", F.Stats()), items, args.passes)
                   if model else 0.0)
        print(f"  {name:<10} {len(items):>6} {best_ms(_is_text, items, args.passes):>9.3f} "
              f"{best_ms(S.analyze, items, args.passes):>11.3f} {streams:>13.3f} "
              f"{best_ms(lambda s: F._whole(s, prof, b'', F.Stats()), items, args.passes):>7.3f} "
              f"{best_ms(lambda s: F.encode_frame(s, prof), items, args.passes):>12.3f}", flush=True)


if __name__ == "__main__":
    main()
