#!/usr/bin/env python3
"""The scaling model of docs/scaling.md as a calculation: mesh throughput for N nodes from the
per-worker figures measured here, the partition count and the brokers' network bandwidth.

    .venv/bin/python scripts/scaling_model.py [--nodes 1,10,100] [--cores 2] [--w-low 17.7]
        [--w-high 31.4] [--ratio 8] [--partitions 0] [--json OUT]

- w_low / w_high (MB/s per worker, one per core): the mesh's measured 1-compressor figure on a
  shared host, and the codec's in-process 34.9 MB/s less ~10% for the Kafka client;
- partitions: of cobol.chunks (0 = 3 per worker, a multiple of the worker count: even split);
- a broker carries 0.8 GB/s each way (70% of 10 GbE); each input byte costs 3 (1 + 1/r) bytes
  of broker ingress (chunks and frames, replication 3).
Prints per node count the workers, the CPU bound, the brokers needed and the expected range;
appends `scaling.model_throughput` figures (peer "model", the low end) with --json.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402

BROKER_GBS = 0.8        # 70% of a 10 GbE port, one direction
RF = 3


def broker_bytes_per_input(ratio: float) -> float:
    """Broker ingress per input byte: chunks and frames, each written RF times."""
    return RF * (1 + 1 / ratio)


def effective_workers(workers: int, partitions: int) -> float:
    """A partition feeds one consumer of the group: uneven splits leave workers idle part-time."""
    busy = min(workers, partitions)
    return busy * (partitions / busy) / math.ceil(partitions / busy)


def model(nodes: int, cores: int, w_low: float, w_high: float, ratio: float, partitions: int = 0) -> dict:
    workers = nodes * cores
    parts = partitions or 3 * workers
    w_eff = effective_workers(workers, parts)
    low, high = w_eff * w_low, w_eff * w_high
    per_input = broker_bytes_per_input(ratio)
    brokers = (max(RF, math.ceil(low * per_input / (BROKER_GBS * 1000))),
               max(RF, math.ceil(high * per_input / (BROKER_GBS * 1000))))
    return {"nodes": nodes, "workers": workers, "partitions": parts, "effective_workers": w_eff,
            "low_mbs": low, "high_mbs": high, "brokers": brokers, "broker_bytes_per_input": per_input}


def sim_prediction(workers: int, partitions: int, w_cpu: float, link_mbit: float, ratio: float,
                   cores: int) -> dict:
    """What the model predicts for `loadtests/scaling_sim.py`: `workers` processes on one host of
    `cores` cores, each behind a link of `link_mbit` Mbit/s each way, reading raw chunks and
    writing frames (1/ratio of them) through Kafka on the host.

    Per worker the least of its codec speed `w_cpu` (MB/s on one core) and its link, whose busier
    direction carries max(1, 1/ratio) bytes per input byte; the partition split; and the host's
    cores, shared by all workers (the broker's own CPU is not counted, so this is an upper bound).
    Returns the figure in MB/s, which bound gives it and whether the split idles workers.
    """
    if min(workers, partitions, cores) < 1 or min(w_cpu, link_mbit, ratio) <= 0:
        raise ValueError("workers, partitions, cores >= 1; w_cpu, link_mbit, ratio > 0")
    w_net = link_mbit / 8 / max(1.0, 1 / ratio)
    w_eff = effective_workers(workers, partitions)
    bounds = {"network": w_eff * w_net, "cpu": min(w_eff, cores) * w_cpu}
    bound = min(bounds, key=bounds.get)
    return {"mbs": bounds[bound], "bound": bound, "per_worker_net": w_net, "effective_workers": w_eff,
            "partition_limited": w_eff < workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", default="1,10,100")
    ap.add_argument("--cores", type=int, default=2, help="compressor workers per node (default 2)")
    ap.add_argument("--w-low", type=float, default=17.7)
    ap.add_argument("--w-high", type=float, default=31.4)
    ap.add_argument("--ratio", type=float, default=8.0)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--json", metavar="OUT")
    a = ap.parse_args(argv)
    try:
        counts = [int(x) for x in a.nodes.split(",") if x.strip()]
    except ValueError:
        ap.error("--nodes: a comma-separated list of integers, e.g. 1,10,100")
    if not counts or min(counts) < 1 or a.cores < 1 or a.ratio < 1 or min(a.w_low, a.w_high) <= 0 or a.partitions < 0:
        ap.error("nodes, cores >= 1; ratio >= 1; w-low, w-high > 0; partitions >= 0")
    print(f"per worker {a.w_low}-{a.w_high} MB/s, {a.cores} worker(s) a node, ratio {a.ratio}, "
          f"{broker_bytes_per_input(a.ratio):.2f} bytes of broker ingress per input byte, {BROKER_GBS} GB/s a broker")
    print(f"  {'nodes':>5} {'workers':>7} {'partitions':>10} {'busy':>6} {'MB/s (low-high)':>17} {'brokers':>8}")
    for n in counts:
        m = model(n, a.cores, a.w_low, a.w_high, a.ratio, a.partitions)
        print(f"  {n:5d} {m['workers']:7d} {m['partitions']:10d} {m['effective_workers']:6.1f} "
              f"{m['low_mbs']:8.0f}-{m['high_mbs']:<8.0f} {m['brokers'][0]:>3}-{m['brokers'][1]}")
        figures.append(a.json, source="scripts/scaling_model.py", name="scaling.model_throughput", value=m["low_mbs"],
                       unit="MB/s", peer="model", nodes=n, workers=m["workers"], high_mbs=round(m["high_mbs"], 1),
                       partitions=m["partitions"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
