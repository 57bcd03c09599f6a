#!/usr/bin/env python3
"""Figures for federated dictionaries (printed, never asserted).

Loghub's systems are split in two halves: one half is the nodes' private data (one or more
systems per node), the other half is the "public" data the static default dictionary is
trained on. For 4 and 8 nodes, `cobol federate simulate` runs the real protocol (node
processes, SecAgg+ over gRPC, DP at epsilon = 1, delta = 1e-6) and measures held-out chunks
of 4, 16 and 64 KiB and single records with: the federated dictionary, the static default,
no dictionary, a centrally trained non-private dictionary (upper bound) and the federated
pipeline's own selection run centrally without noise.

    python loadtests/federation_bench.py [--loghub DIR] [--nodes 4 8] [--profile fast]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loghub", type=Path, default=ROOT / ".." / "shared" / "corpora" / "loghub")
    ap.add_argument("--nodes", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--profile", default="fast", choices=("fast", "balanced", "max"))
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dropouts", type=int, default=0, help="nodes leaving the first round (<= 20%%)")
    args = ap.parse_args()
    files = sorted(p for p in args.loghub.iterdir() if p.is_file() and p.suffix == ".log")
    if len(files) < 2 * max(args.nodes):
        print(f"need at least {2 * max(args.nodes)} loghub systems in {args.loghub}", file=sys.stderr)
        return 2
    private, public = files[0::2], files[1::2]
    results = {}
    with tempfile.TemporaryDirectory(prefix="fedbench-") as tmp:
        t = Path(tmp)
        (t / "static").mkdir()
        for f in public:
            (t / "static" / f.name).symlink_to(f.resolve())
        for n in args.nodes:
            dirs = []
            for i in range(n):
                d = t / f"n{n}" / f"node-{i + 1}"
                d.mkdir(parents=True)
                for f in private[i::n][: max(1, len(private) // n)]:
                    (d / f.name).symlink_to(f.resolve())
                dirs.append(str(d))
            print(f"== {n} nodes: " + "; ".join(f"node-{i + 1}: " + ", ".join(p.name.split("_")[0] for p in Path(d).iterdir())
                                                  for i, d in enumerate(dirs)), flush=True)
            print("   static default trained on: " + ", ".join(f.name.split("_")[0] for f in public), flush=True)
            cmd = [sys.executable, "-m", "cobol_codec.cli", "federate", "simulate", "--nodes", str(n), "--data", *dirs,
                   "--rounds", str(args.rounds), "--epsilon", str(args.epsilon), "--out", str(t / f"fed{n}.dict"),
                   "--static", str(t / "static"), "--profile", args.profile, "--dropouts", str(args.dropouts), "--json"]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            sys.stderr.write(r.stderr)
            if r.returncode:
                print(f"simulate failed (exit {r.returncode})", file=sys.stderr)
                return 1
            results[n] = json.loads(r.stdout)
    for n, res in results.items():
        tab = res["ratios"]
        units = list(tab["federated (DP)"])
        print(f"\n{n} nodes: dictionary {res['dictionary_id']} ({res['bytes']} bytes, {res['patterns']} patterns), "
              f"epsilon {res['epsilon_spent']:.3f}, delta {res['delta']:g}, noise multiplier {res['noise_multiplier']}")
        print(f"  {'ratio (profile ' + res['profile'] + ')':<40}" + "".join(f"{u:>16}" for u in units))
        for name, row in tab.items():
            print(f"  {name:<40}" + "".join(f"{row[u]:>15.3f}x" for u in units))
        fed, st, up = tab["federated (DP)"], tab["static default"], tab["central, no privacy (codec trainer)"]
        print(f"  {'federated vs static default':<40}" + "".join(f"{100 * (fed[u] / st[u] - 1):>+15.1f}%" for u in units))
        print(f"  {'federated vs upper bound':<40}" + "".join(f"{100 * (fed[u] / up[u] - 1):>+15.1f}%" for u in units))
        node_secs = [sum(s["seconds"][k] for k in ("advertise", "shares", "masked", "unmask")) for s in res["nodes"]]
        count_secs = [s["seconds"]["count"] for s in res["nodes"]]
        mb = [s["bytes_sent"] / 1e6 for s in res["nodes"]]
        print(f"  rounds: {res['releases']} ({res['finish_reason']}); {res['seconds_per_round']}s per round; "
              f"per node per training: SecAgg {sum(node_secs) / len(node_secs):.2f}s CPU + counting "
              f"{sum(count_secs) / len(count_secs):.2f}s, {sum(mb) / len(mb):.2f} MB sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
