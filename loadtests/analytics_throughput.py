#!/usr/bin/env python3
"""What the analytics worker (faust, exactly once) sustains, and the lag from a record to
its table update, on the real Kafka of scripts/infra.py (start it first:
`scripts/infra.py start kafka`). Figures only.

    .venv/bin/python loadtests/analytics_throughput.py [--records 20000] [--rate 300] [--seconds 20]

1. Backlog: produce --records records (frames and job events of real codec frames) as fast
   as the producer can, then time until the worker has applied all of them:
   records/s sustained = records / (last applied - first produced).
2. Lag: at a steady --rate records/s for --seconds, a probe frame every 0.2 s; its lag is
   (first query that sees it) - (its produce time), polling every 5 ms.
The worker runs as its own process (`python -m services.analytics`) on fresh topics.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests"), str(ROOT / "scripts")]

import figures  # noqa: E402
from analytics_harness import (AnalyticsProc, make_feed, produce, producer, totals_now,  # noqa: E402
                               wait_until)
from cobol_mesh.proto import pb  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402


SOURCE = "loadtests/analytics_throughput.py"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20000, help="records in the backlog run (about)")
    ap.add_argument("--rate", type=int, default=300, help="records/s of the steady run")
    ap.add_argument("--seconds", type=int, default=20, help="length of the steady run")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    a = ap.parse_args()
    bootstrap = settings.kafka_bootstrap
    with tempfile.TemporaryDirectory(prefix="analytics-load-") as tmp:
        proc = AnalyticsProc(bootstrap, Path(tmp), port=50168, metrics_port=9668)
        try:
            print(f"kafka {bootstrap}; starting the analytics worker ...", flush=True)
            proc.start()
            proc.wait_ready()
            c = proc.client()
            p = producer(bootstrap)

            # 1. backlog
            jobs = max(1, a.records // 130)
            now_ms = int(time.time() * 1000)
            recs, exp = make_feed(n_jobs=jobs, frames_per_job=40, t0_ms=now_ms - 3_600_000,
                                  span_ms=3_600_000, seed=11)
            t0 = time.monotonic()
            produce(p, proc, recs)
            t_produced = time.monotonic() - t0
            print(f"backlog: {len(recs)} records produced in {t_produced:.1f} s", flush=True)
            wait_until("the backlog applied",
                       lambda: totals_now(c, "all").get("all", {}).get("count") == exp.frames, 1800, 0.05)
            took = time.monotonic() - t0
            print(f"backlog: {len(recs)} records ({exp.frames} frames) applied in {took:.1f} s "
                  f"= {len(recs) / took:.0f} records/s sustained", flush=True)
            figures.append(a.json, source=SOURCE, name="analytics.backlog_throughput", value=len(recs) / took,
                           unit="records/s", peer="cobol analytics (faust)", records=len(recs))

            # 2. steady load with probes
            steady, _ = make_feed(n_jobs=max(1, a.rate * a.seconds // 130), frames_per_job=40,
                                  t0_ms=now_ms, span_ms=a.seconds * 1000, seed=12)
            steady = [r for r in steady if r.key != "job-12-bad"]
            stop = threading.Event()
            bg = threading.Thread(target=produce, args=(producer(bootstrap), proc, steady, a.rate, stop), daemon=True)
            bg.start()
            lags = []
            seq = 0
            deadline = time.monotonic() + a.seconds
            while time.monotonic() < deadline and bg.is_alive():
                f = pb.Frame(job_id="probe", seq=seq, frame=b"", bytes_in=1, bytes_out=1, worker="probe")
                seq += 1
                sent = time.time()
                p.produce(proc.frames_topic, key=b"probe", value=f.SerializeToString(),
                          timestamp=int(sent * 1000))
                p.flush(10)
                wait_until("the probe counted",
                           lambda: totals_now(c, "node").get("probe", {}).get("count") == seq, 60, 0.005)
                lags.append(time.time() - sent)
                time.sleep(0.2)             # probe spacing (load pacing, not synchronisation)
            stop.set()
            bg.join(60)
            print(f"steady {a.rate} records/s for {a.seconds} s: lag record -> table update seen by a query, "
                  f"{len(lags)} probes: p50 {1000 * statistics.median(lags):.0f} ms, "
                  f"p90 {1000 * pct(lags, 0.9):.0f} ms, p99 {1000 * pct(lags, 0.99):.0f} ms, "
                  f"max {1000 * max(lags):.0f} ms", flush=True)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
                figures.append(a.json, source=SOURCE, name="analytics.latency_ms", value=1000 * pct(lags, q), unit="ms",
                               peer="cobol analytics (faust)", percentile=name, rate=a.rate)
            c.close()
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
