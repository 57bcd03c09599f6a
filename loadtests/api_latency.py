#!/usr/bin/env python3
"""API latency at a fixed request rate, measured by vegeta (a real HTTP load generator).

Needs the mesh running (`make up`). Starts its own API instance on a free port against the
running Kafka/Redis/PostgreSQL and mesh services, with rate limits raised so that the tool
measures the API rather than its limiter (the limiter's Redis round trip still runs on every
request), submits a few jobs, then attacks each endpoint for --seconds at --rate requests/s
and prints p50/p90/p99/max and the success ratio, one row per endpoint:

  live          no authentication, no I/O: the floor of the stack (uvicorn + middlewares)
  me            JWT check + revocation lookup + rate limit on Redis + PostgreSQL row
  jobs/{id}     the above + coordinator GetJob (gRPC, mTLS) + ownership row
  jobs?limit=20 the above + coordinator ListJobs (1,000 newest) + filters and paging

The job list costs what the ledger holds: --ledger-jobs N (default 1000, the list's cap)
first submits small jobs until the ledger holds N, as a mesh that has run for a while does.
--json FILE appends the figures (api.latency_ms, percentile p50/p99, label endpoint).

Before the attack, --probe N requests one at a time per endpoint: the service time of one
request with nothing queued in front of it, and the API's CPU per request. On a loaded machine
those say what the code costs; the attack's percentiles say what the run queue adds.

    loadtests/api_latency.py [--rate 200] [--seconds 30] [--ledger-jobs 1000] [--json FILE] [--vegeta PATH]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT),
                str(ROOT / "scripts")]

import figures  # noqa: E402
import httpx  # noqa: E402

import api_harness as h  # noqa: E402


def fill_ledger(api, token: str, want: int) -> int:
    """Submit small jobs until the ledger lists `want` (its listing cap is 1,000); returns how
    many it holds."""
    with api.client(token) as c:
        have = c.get("/api/jobs", params={"limit": 1}).json()["total"]
    todo = max(0, want - have)
    if todo:
        print(f"filling the ledger: {have} jobs, submitting {todo} more", flush=True)

        def one(i: int) -> None:
            with api.client(token) as c:
                c.post("/api/jobs", files={"file": (f"fill-{i}.log", b"ledger fill line %d\n" % i * 50)}).raise_for_status()
        with cf.ThreadPoolExecutor(8) as ex:
            for n, _ in enumerate(ex.map(one, range(todo)), 1):
                if n % 200 == 0:
                    print(f"  {n}/{todo}", flush=True)
    with api.client(token) as c:
        return c.get("/api/jobs", params={"limit": 1}).json()["total"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vegeta(binary: str, url: str, token: str | None, rate: int, seconds: int) -> dict:
    attack = [binary, "attack", f"-rate={rate}", f"-duration={seconds}s", "-timeout=10s", "-keepalive=true"]
    if token:
        attack.append(f"-header=Authorization: Bearer {token}")
    a = subprocess.Popen(attack, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    a.stdin.write(f"GET {url}\n".encode())
    a.stdin.close()
    r = subprocess.run([binary, "report", "-type=json"], stdin=a.stdout, capture_output=True, check=True)
    a.wait()
    return json.loads(r.stdout)


def probe(api, url: str, token: str | None, n: int) -> tuple[float, float, float]:
    """n requests one after another: (p50 ms, p99 ms, API CPU ms per request)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    lat = []
    with httpx.Client(headers=headers, timeout=60) as c:
        c.get(url).raise_for_status()                 # the connection and any cache, warm
        cpu0 = cpu_seconds(api.pid)
        for _ in range(n):
            t0 = time.perf_counter()
            c.get(url).raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000)
        cpu = cpu_seconds(api.pid) - cpu0
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))], cpu * 1000 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=200, help="requests per second (default 200)")
    ap.add_argument("--seconds", type=int, default=30, help="length of each attack (default 30; 0: probe only)")
    ap.add_argument("--ledger-jobs", type=int, default=1000, help="jobs the ledger holds first (default 1000)")
    ap.add_argument("--probe", type=int, default=200, help="sequential requests per endpoint first (default 200)")
    ap.add_argument("--vegeta", default=str(ROOT / ".cache" / "go" / "bin" / "vegeta"),
                    help="the vegeta binary (make loadtest-api installs it)")
    ap.add_argument("--json", metavar="OUT", help="append the figures to this JSON-lines file (scripts/figures.py)")
    args = ap.parse_args()
    binary = args.vegeta if Path(args.vegeta).exists() else shutil.which("vegeta")
    if not binary:
        raise SystemExit("vegeta is missing: run `make loadtest-api` (it installs it into .cache/go/bin)")
    tmp = Path(tempfile.mkdtemp(prefix="api-latency-"))
    api = h.start_api(tmp, extra_env={"COBOL_API_RATE_PER_USER": "10000000", "COBOL_API_RATE_PER_ADDR": "10000000"})
    try:
        token = api.token()
        held = fill_ledger(api, token, args.ledger_jobs) if args.ledger_jobs else 0
        with api.client(token) as c:
            ids = []
            for i in range(3):
                r = c.post("/api/jobs", files={"file": (f"lat-{i}.log", b"latency probe line\n" * 2000)})
                r.raise_for_status()
                ids.append(r.json()["id"])
            for job_id in ids:
                api_job = c.get(f"/api/jobs/{job_id}").json()
                assert api_job["id"] == job_id
        rows = [("live", f"{api.url}/api/live", None), ("me", f"{api.url}/api/me", token),
                (f"jobs/{{id}}", f"{api.url}/api/jobs/{ids[0]}", token),
                ("jobs?limit=20", f"{api.url}/api/jobs?limit=20", token)]
        if args.probe:
            print(f"service time, {args.probe} requests one at a time per endpoint (load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
            print(f"{'endpoint':<16}{'p50 ms':>9}{'p99 ms':>9}{'API CPU ms/req':>16}")
            for name, url, tok in rows:
                p50, p99, cpu = probe(api, url, tok, args.probe)
                print(f"{name:<16}{p50:>9.1f}{p99:>9.1f}{cpu:>16.2f}", flush=True)
                figures.append(args.json, source="loadtests/api_latency.py", name="api.service_ms", value=round(p50, 2),
                               unit="ms", peer="cobol api", endpoint=name, percentile="p50", ledger_jobs=held)
                figures.append(args.json, source="loadtests/api_latency.py", name="api.cpu_ms_per_request",
                               value=round(cpu, 3), unit="ms", peer="cobol api", endpoint=name, ledger_jobs=held)
        if not args.seconds:
            return 0
        print(f"API latency, vegeta at {args.rate} requests/s for {args.seconds} s per endpoint "
              f"(one API process, this machine; the job list sees {held} ledger jobs)")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              f"(the latency of an overloaded machine is its run queue's, not the API's)")
        print(f"{'endpoint':<16}{'requests':>9}{'ok':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'API CPU ms/req':>16}")
        for name, url, tok in rows:
            cpu0 = cpu_seconds(api.pid)
            rep = vegeta(binary, url, tok, args.rate, args.seconds)
            cpu = cpu_seconds(api.pid) - cpu0
            lat = rep["latencies"]
            ms = lambda k: lat[k] / 1e6  # noqa: E731
            print(f"{name:<16}{rep['requests']:>9}{rep['success'] * 100:>7.1f}%{ms('50th'):>9.1f}{ms('90th'):>9.1f}"
                  f"{ms('99th'):>9.1f}{ms('max'):>9.1f}{cpu * 1000 / max(1, rep['requests']):>16.2f}", flush=True)
            for pct, key in (("p50", "50th"), ("p99", "99th")):
                figures.append(args.json, source="loadtests/api_latency.py", name="api.latency_ms", value=round(ms(key), 2),
                               unit="ms", peer="cobol api", endpoint=name, percentile=pct, rate=args.rate,
                               ledger_jobs=held)
            if rep["success"] < 1:
                print(f"   status codes: {rep['status_codes']}; errors: {rep.get('errors', [])[:3]}")
    finally:
        h.stop_api(api)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
