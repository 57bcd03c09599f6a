#!/usr/bin/env python3
"""1,000 concurrent WebSocket clients on /api/ws, and how long an update takes to reach them.

Needs the mesh running (`make up`). Starts its own API instance (file-descriptor limit raised,
rate limits raised), submits --events small jobs, connects --clients sockets from --procs
client processes (each authenticates with its first message), then, once every socket holds
its snapshot, publishes one job update per job on the job-status topic (what the coordinator
leader does when a job moves; every coordinator's Watch stream forwards it to the API) --gap
seconds apart. Each client records when each job's update arrives;
latency = arrival - publish, over every (client, update) pair. Prints how many sockets were
held, how many updates arrived, and p50/p99/max.

    loadtests/ws_fanout.py [--clients 1000] [--events 20] [--procs 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT),
                str(ROOT / "scripts")]

import api_harness as h  # noqa: E402
import figures  # noqa: E402


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def client_proc(port: int, token: str, n: int, job_ids: list[str], ready, out, opening: int) -> None:
    raise_fd_limit()
    import websockets

    gate = asyncio.Semaphore(opening)

    async def one(arrivals: dict, held: list) -> None:
        async with gate:        # a bounded number of handshakes in flight: a ramp, not a flood
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/api/ws", open_timeout=60, max_queue=None,
                                          ping_interval=None)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            snap = json.loads(await ws.recv())
            if snap.get("type") != "snapshot":
                await ws.close()
                raise RuntimeError(f"no snapshot: {str(snap)[:200]}")
            held.append(1)
        async with ws:
            want = set(job_ids)
            while want:
                msg = json.loads(await ws.recv())
                now = time.time()
                if msg.get("type") == "job" and msg["job"]["id"] in want:
                    arrivals.setdefault(msg["job"]["id"], []).append(now)
                    want.discard(msg["job"]["id"])

    async def main() -> None:
        arrivals: dict[str, list[float]] = {}
        held: list[int] = []
        tasks = [asyncio.create_task(one(arrivals, held)) for _ in range(n)]
        while len(held) + sum(1 for t in tasks if t.done()) < n:   # every socket held, or failed
            await asyncio.sleep(0.05)
        ready.put(len(held))
        done, pending = await asyncio.wait(tasks, timeout=60 + 2 * len(job_ids))
        for t in pending:
            t.cancel()
        causes: dict[str, int] = {}
        for t in done:
            exc = t.exception()
            if exc is not None:
                rcvd = getattr(exc, "rcvd", None)
                cause = f"{type(exc).__name__}" + (f" close {rcvd.code} {rcvd.reason}" if rcvd else "")
                causes[cause] = causes.get(cause, 0) + 1
        out.put({"arrivals": arrivals, "causes": causes, "failed": sum(causes.values())})

    asyncio.run(main())


def pct_of(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--events", type=int, default=20, help="job updates to publish")
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--gap", type=float, default=0.5, help="seconds between updates")
    ap.add_argument("--json", default=None, help="append the figures to this JSON-lines file")
    ap.add_argument("--opening", type=int, default=25, help="handshakes in flight per client process (default 25)")
    args = ap.parse_args()
    raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="ws-fanout-"))
    api = h.start_api(tmp, extra_env={"COBOL_API_RATE_PER_USER": "10000000", "COBOL_API_RATE_PER_ADDR": "10000000"})
    procs = []
    status = 0
    try:
        token = api.token()
        with api.client(token) as c:
            ids = [c.post("/api/jobs", files={"file": (f"ws-{i}.log", b"fan-out probe\n" * 100)}).json()["id"]
                   for i in range(args.events)]
        ctx = mp.get_context("spawn")
        ready, out = ctx.Queue(), ctx.Queue()
        per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
        t0 = time.monotonic()
        for n in per:
            p = ctx.Process(target=client_proc, args=(api.port, token, n, ids, ready, out, args.opening))
            p.start()
            procs.append(p)
        held = sum(ready.get(timeout=300) for _ in procs)
        connect_s = time.monotonic() - t0
        rss = api.rss_bytes()
        publish = _status_publisher()
        sent: dict[str, float] = {}
        time.sleep(1.0)
        for job_id in ids:
            sent[job_id] = time.time()
            publish(job_id)
            time.sleep(args.gap)
        results = [out.get(timeout=120 + 2 * args.events) for _ in procs]
        lat = sorted((t - sent[j]) * 1000 for res in results for j, ts in res["arrivals"].items() for t in ts)
        expected = held * len(ids)
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa: E731
        print(f"WebSocket fan-out: {held}/{args.clients} clients held (connected and authenticated in "
              f"{connect_s:.1f} s; API RSS {rss / 2**20:.0f} MiB), {len(ids)} job updates published "
              f"{args.gap:.1f} s apart")
        print(f"delivered {len(lat)}/{expected} updates; latency publish->client p50 {pct(0.50):.1f} ms, "
              f"p99 {pct(0.99):.1f} ms, max {lat[-1] if lat else float('nan'):.1f} ms")
        figures.append(args.json, source="loadtests/ws_fanout.py", name="api.concurrent_users", value=held,
                       unit="sockets", peer="cobol api", clients=args.clients)
        if lat:
            for q, name in ((0.50, "p50"), (0.99, "p99")):
                figures.append(args.json, source="loadtests/ws_fanout.py", name="api.ws_update_latency_ms",
                               value=round(pct(q), 1), unit="ms", peer="cobol api", percentile=name, clients=held)
        failed = sum(res["failed"] for res in results)
        if expected and not lat:
            # a figure of nothing is not a figure: say so and fail (make loadtest-api stops here)
            print("no update reached any client: the latency is not measured (is the coordinator's "
                  "Watch stream, which feeds /api/ws, forwarding the job-status topic?)")
            status = 1
        if failed:
            causes: dict[str, int] = {}
            for res in results:
                for cause, k in res["causes"].items():
                    causes[cause] = causes.get(cause, 0) + k
            print(f"{failed} client(s) failed, by cause: {causes}")
            print("API log, last warnings:", *[ln[:300] for ln in api.log().splitlines()
                                               if '"warning"' in ln or '"error"' in ln][-5:], sep="\n  ")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
        h.stop_api(api)
        shutil.rmtree(tmp, ignore_errors=True)
    return status


def _status_publisher():
    """publish(job_id): a JobStatus naming the job on the job-status topic, delivered at once."""
    from cobol_mesh import membership
    from cobol_mesh.proto import pb
    from cobol_mesh.settings import load
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": load().kafka_bootstrap, "linger.ms": 0})

    def publish(job_id: str) -> None:
        p.produce(membership.TOPIC_JOB_STATUS, key=job_id.encode(), value=pb.JobStatus(job_id=job_id).SerializeToString())
        p.flush(10)
    return publish


if __name__ == "__main__":
    sys.exit(main())
