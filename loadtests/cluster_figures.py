#!/usr/bin/env python3
"""Failure-detection and failover figures of the coordinator, on the real engines. Figures only.

    COBOL_PORT_OFFSET=... .venv/bin/python loadtests/cluster_figures.py [--rounds 3] [--json OUT]

Starts its own small mesh (two coordinator replicas, one compressor; Kafka, Redis and
PostgreSQL from scripts/infra.py, started if needed) with topics and a Redis prefix of its own,
then per round:
- SIGKILL the compressor: seconds until the coordinator marks it suspect, then down;
- SIGSTOP the compressor (frozen, not dead): the same; then SIGCONT (it comes back alive);
- SIGKILL the coordinator leader: seconds until the standby holds the lease, and until it
  *serves writes* (a job whose events are produced after the kill is `done` in the ledger).
Defaults: heartbeat 1 s, suspect after 2.5 s, down after 4.5 s, lease 3 s, lease retry 0.5 s.
With --json OUT, appends every measurement as a `failover.seconds` (leader) or
`detection.seconds` (compressor) figure, labelled with the run's start time.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the coordinator answers mesh services (mTLS) or a caller with a token; this script reads the
# cluster as the API does
os.environ.setdefault("COBOL_GRPC_IDENTITY", "api")
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT), str(ROOT / "libs" / "mesh")]

from coordinator_harness import CoordMesh, job_events, wait_until  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import figures  # noqa: E402

SOURCE = "loadtests/cluster_figures.py"
FIGURE = {"kill_suspect": ("detection.seconds", "SIGKILL compressor -> suspect"),
          "kill_down": ("detection.seconds", "SIGKILL compressor -> down"),
          "stop_suspect": ("detection.seconds", "SIGSTOP compressor -> suspect"),
          "stop_down": ("detection.seconds", "SIGSTOP compressor -> down"),
          "lease": ("failover.seconds", "SIGKILL leader -> standby holds the lease"),
          "writes": ("failover.seconds", "SIGKILL leader -> standby serves writes")}


def infra() -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), "start", "kafka", "redis", "postgres"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"scripts/infra.py start failed:\n{out.stdout}\n{out.stderr}")
    st = subprocess.run([sys.executable, str(ROOT / "scripts" / "infra.py"), "status", "--json"],
                        cwd=ROOT, capture_output=True, text=True)
    return json.loads(st.stdout)


def detect(m: CoordMesh, inst: str, sig: int) -> tuple[float, float]:
    c = m.client()
    wait_until(f"{inst} alive", lambda: c.node(inst).status == "alive", 60)
    t0 = time.monotonic()
    m.signal(inst, sig)
    wait_until(f"{inst} suspect", lambda: c.node(inst).status in ("suspect", "down"), 30, interval=0.02)
    suspect = time.monotonic() - t0
    wait_until(f"{inst} down", lambda: c.node(inst).status == "down", 30, interval=0.02)
    return suspect, time.monotonic() - t0


def failover(m: CoordMesh) -> tuple[float, float]:
    c = m.client()
    old = wait_until("a leader", lambda: c.leader().leader, 30)
    t0 = time.monotonic()
    m.kill(old)
    probe = "probe-" + secrets.token_hex(4)
    m.produce_events(job_events(probe))
    wait_until("a new leader", lambda: c.leader().leader not in ("", old), 30, interval=0.02)
    lease = time.monotonic() - t0

    def done():
        try:
            return c.get_job(probe).status == "done"
        except Exception:
            return False
    wait_until("the new leader applies events", done, 30, interval=0.02)
    writes = time.monotonic() - t0
    m.start_coordinator(old)
    return lease, writes


def show(name: str, values: list[float]) -> None:
    print(f"  {name:<44} median {statistics.median(values):5.2f} s   min {min(values):5.2f}   "
          f"max {max(values):5.2f}   (n={len(values)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="repetitions of each fault (default 3)")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    run = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    m = CoordMesh(infra(), Path(tempfile.mkdtemp(prefix="cobol-figures-")))
    res: dict[str, list[float]] = {k: [] for k in ("kill_suspect", "kill_down", "stop_suspect", "stop_down",
                                                     "lease", "writes")}
    try:
        m.create_topics()
        m.start_coordinator("coordinator-1")
        m.start_coordinator("coordinator-2")
        m.start_service("compressor-1")
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
            s, d = detect(m, "compressor-1", signal.SIGKILL)
            res["kill_suspect"].append(s), res["kill_down"].append(d)
            m.procs.pop("compressor-1").wait(10)
            m.start_service("compressor-1")
            s, d = detect(m, "compressor-1", signal.SIGSTOP)
            res["stop_suspect"].append(s), res["stop_down"].append(d)
            m.signal("compressor-1", signal.SIGCONT)
            lease, writes = failover(m)
            res["lease"].append(lease), res["writes"].append(writes)
    finally:
        m.stop_all()
    print("coordinator figures (heartbeat 1 s, suspect 2.5 s, down 4.5 s, lease 3 s):")
    show("SIGKILL compressor -> suspect", res["kill_suspect"])
    show("SIGKILL compressor -> down", res["kill_down"])
    show("SIGSTOP compressor -> suspect", res["stop_suspect"])
    show("SIGSTOP compressor -> down", res["stop_down"])
    show("SIGKILL leader -> standby holds the lease", res["lease"])
    show("SIGKILL leader -> standby serves writes", res["writes"])
    for key, values in res.items():
        name, what = FIGURE[key]
        for i, v in enumerate(values, 1):
            figures.append(args.json, source=SOURCE, name=name, value=v, unit="s", peer="cobol mesh",
                           what=what, round=i, run=run)


if __name__ == "__main__":
    main()
