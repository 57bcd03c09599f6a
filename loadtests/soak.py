#!/usr/bin/env python3
"""Soak: a steady load through a running mesh (`make up`) for a long time, sampling every
service's memory (RSS), open files and consumer lag, then a verdict on growth.

    .venv/bin/python loadtests/soak.py [--minutes 30] [--job-kib 512] [--job-every 5]
        [--records 200] [--sample 10] [--json reports/figures.jsonl] [--series reports/soak-series.json]

Load, steady from start to end: one upload job of --job-kib KiB every --job-every seconds over
gRPC (as the API sends it; each job is waited for to be done, so a stuck mesh shows), and
--records device records a second to cobol.ingest.raw. Every --sample seconds, for each
instance in .run/<instance>.pid: RSS and open file descriptors (psutil), and the sum of its
`cobol_consumer_lag` samples from its /metrics.

Verdict, per instance and measure: the least-squares slope over the run after a warm-up (the
first fifth), projected over one hour. Memory "grows" when it would add more than
max(10% of its mean, 32 MiB) an hour; open files when more than max(10%, 8) an hour; lag when
more than 1,000 records an hour and the last third's mean is above twice the first third's;
and in each case only when the rise within the measured window is above a noise floor
(8 MiB, 4 files, 500 records): a short soak flags only what it really saw grow.
At the end, besides the slopes, each instance's RSS, open files and lag at the start, 1/4,
1/2, 3/4 and end of the run; --series keeps every sample for the report's plot.
Exit status 0: no growth; 3: growth somewhere (the table says where); 1: the load failed.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "scripts")]

import figures  # noqa: E402
from cobol_mesh import topology  # noqa: E402
from cobol_mesh.settings import settings  # noqa: E402

SOURCE = "loadtests/soak.py"
MiB = 1 << 20


@dataclass
class Series:
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)

    def add(self, t: float, v: float) -> None:
        self.t.append(t)
        self.v.append(v)


def slope_per_hour(s: Series, warmup: float = 0.2) -> float:
    """Least-squares slope of the samples after the warm-up, per hour (0 with < 3 samples)."""
    n0 = int(len(s.t) * warmup)
    t, v = s.t[n0:], s.v[n0:]
    if len(t) < 3 or t[-1] == t[0]:
        return 0.0
    mt, mv = statistics.fmean(t), statistics.fmean(v)
    den = sum((x - mt) ** 2 for x in t)
    return 3600 * sum((x - mt) * (y - mv) for x, y in zip(t, v)) / den if den else 0.0


def thirds(v: list[float]) -> tuple[float, float]:
    k = max(1, len(v) // 3)
    return statistics.fmean(v[:k]), statistics.fmean(v[-k:])


# Below these, a rise within the measured window is noise (an allocator arena, a pooled
# connection, a burst of records), however steep it looks projected over an hour.
NOISE = {"rss": 8 * MiB, "fds": 4, "lag": 500}


def grows(kind: str, s: Series, warmup: float = 0.2) -> bool:
    if len(s.v) < 3:
        return False
    slope, mean = slope_per_hour(s, warmup), statistics.fmean(s.v)
    window = s.t[-1] - s.t[int(len(s.t) * warmup)]
    if slope * window / 3600 <= NOISE[kind]:
        return False
    if kind == "rss":
        return slope > max(0.10 * mean, 32 * MiB)
    if kind == "fds":
        return slope > max(0.10 * mean, 8)
    first, last = thirds(s.v)
    return slope > 1000 and last > 2 * max(first, 1)


def over_time(s: Series, points: int = 5) -> list[float]:
    """The sample values at `points` evenly spaced moments of the run (start .. end): for each
    moment, the last sample taken at or before it. Empty with no samples."""
    if not s.t:
        return []
    span = s.t[-1] - s.t[0]
    out, j = [], 0
    for k in range(points):
        at = s.t[0] + span * k / max(points - 1, 1)
        while j + 1 < len(s.t) and s.t[j + 1] <= at + 1e-9:
            j += 1
        out.append(s.v[j])
    return out


def series_json(data: dict, run: str, secs: float) -> dict:
    """Every sample, for the report's soak plot: {instance: {rss_mib|fds|lag: [[minute, value]]}}."""
    scale = {"rss": ("rss_mib", MiB), "fds": ("fds", 1), "lag": ("lag", 1)}
    return {"source": SOURCE, "run": run, "minutes": round(secs / 60, 1),
            "instances": {name: {scale[k][0]: [[round(t / 60, 3), round(v / scale[k][1], 3)]
                                               for t, v in zip(s.t, s.v)] for k, s in d.items()}
                          for name, d in sorted(data.items())}}


# ---- sampling -------------------------------------------------------------------------------

def instances() -> dict[str, int]:
    """The mesh's instances and their metrics ports (topology, COBOL_PORT_OFFSET applied)."""
    topo = topology.load()
    return {i.name: (i.metrics_port or 0) for i in topo.instances()}


def lag_of(port: int) -> float | None:
    import httpx
    if not port:
        return None
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return sum(float(m.group(1)) for m in re.finditer(r"^cobol_consumer_lag\{[^}]*\} (\S+)$", text, re.M))


def sample(run: Path, ports: dict[str, int], t: float, data: dict, pids: dict) -> None:
    import psutil
    for name, port in ports.items():
        pidfile = run / f"{name}.pid"
        try:
            pid = int(pidfile.read_text())
            p = psutil.Process(pid)
            rss, fds = p.memory_info().rss, p.num_fds()
        except (OSError, ValueError, psutil.Error):
            continue                      # not running (yet): a gap, the restart shows below
        if pids.setdefault(name, pid) != pid:
            pids.setdefault("_restarted", set()).add(name)
            pids[name] = pid
        d = data.setdefault(name, {"rss": Series(), "fds": Series(), "lag": Series()})
        d["rss"].add(t, rss)
        d["fds"].add(t, fds)
        lag = lag_of(port)
        if lag is not None:
            d["lag"].add(t, lag)


# ---- load -----------------------------------------------------------------------------------

class Load:
    """Upload jobs and device records at a steady pace until stopped; counts what it did."""

    def __init__(self, job_kib: int, job_every: float, records: int) -> None:
        self.job_kib, self.job_every, self.records = job_kib, job_every, records
        self.stop = threading.Event()
        self.jobs_done = self.jobs_failed = self.records_sent = 0
        self.error: str | None = None

    def _job_data(self, rnd: random.Random) -> bytes:
        lines, size = [], 0
        while size < self.job_kib * 1024:
            line = (f"2026-11-30T03:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d} INFO soak node-{rnd.randint(1, 9)} "
                    f"req={rnd.getrandbits(32):08x} ms={rnd.randint(0, 999)}\n").encode()
            lines.append(line)
            size += len(line)
        return b"".join(lines)

    def jobs(self) -> None:
        import grpc
        from cobol_mesh.grpc_auth import channel
        from cobol_mesh.proto import pb, pb_grpc
        ingest = pb_grpc.IngestStub(channel(settings.ingest_addr, "api"))
        coord = pb_grpc.CoordinatorStub(channel(settings.coordinator_addr, "api"))
        rnd = random.Random(12)
        next_at = time.monotonic()
        while not self.stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.job_every
            data, st = self._job_data(rnd), ""
            try:
                reply = ingest.Upload(iter([pb.UploadRequest(start=pb.UploadStart(name="soak")),
                                            pb.UploadRequest(data=data),
                                            pb.UploadRequest(end=pb.UploadEnd(bytes=len(data)))]), timeout=120)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not self.stop.is_set():
                    try:
                        st = coord.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=10).status
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.NOT_FOUND:   # not in the ledger yet: wait
                            raise
                    if st in ("done", "failed"):
                        break
                    time.sleep(0.2)
                ok = st == "done"
            except Exception as exc:        # noqa: BLE001 - a soak reports failures, it does not stop on one
                ok, self.error = False, f"{type(exc).__name__}: {exc}"[:300]
            if ok:
                self.jobs_done += 1
            elif not self.stop.is_set():          # one cut short by the end of the soak is no failure
                self.jobs_failed += 1

    def device_records(self) -> None:
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 20})
        streams = [f"soak-dev-{i}" for i in range(10)]
        i = 0
        next_at = time.monotonic()
        while not self.stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += 1.0
            for _ in range(self.records):
                p.produce(settings.topic_raw, key=streams[i % len(streams)].encode(), value=b"t=%d v=%d" % (i, i % 97))
                i += 1
            p.poll(0)
            self.records_sent = i
        p.flush(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the load runs (default 30)")
    ap.add_argument("--job-kib", type=int, default=512, help="size of each upload job (KiB)")
    ap.add_argument("--job-every", type=float, default=5.0, help="seconds between upload jobs")
    ap.add_argument("--records", type=int, default=200, help="device records a second")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--json", metavar="FIGURES", help="append the figures to this JSON-lines file")
    ap.add_argument("--series", metavar="FILE", help="write every sample (per instance: RSS, open files, lag "
                    "over time) to this JSON file; `make report` plots it as soak.png")
    a = ap.parse_args(argv)
    if not 0 < a.minutes <= 24 * 60 or a.job_kib < 1 or a.job_every <= 0 or a.records < 0 or a.sample <= 0:
        ap.error("--minutes must be in (0, 1440]; --job-kib >= 1; --job-every, --sample > 0; --records >= 0")
    run, ports = settings.run_dir, instances()
    if not any((run / f"{n}.pid").exists() for n in ports):
        print(f"soak: no mesh is running here ({run}/*.pid): start it with `make up`", file=sys.stderr)
        return 1
    load = Load(a.job_kib, a.job_every, a.records)
    threads = [threading.Thread(target=load.jobs, daemon=True), threading.Thread(target=load.device_records, daemon=True)]
    for t in threads:
        t.start()
    data: dict[str, dict[str, Series]] = {}
    pids: dict = {}
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    print(f"soak: {a.minutes:g} min; a {a.job_kib} KiB job every {a.job_every:g} s and {a.records} device records/s; "
          f"sampling every {a.sample:g} s")
    next_at, last_note = t0, t0
    try:
        while time.monotonic() < end:
            sample(run, ports, time.monotonic() - t0, data, pids)
            if time.monotonic() - last_note >= 60:
                last_note = time.monotonic()
                print(f"  {int((last_note - t0) / 60)} min: {load.jobs_done} jobs done, {load.jobs_failed} failed, "
                      f"{load.records_sent} records", flush=True)
            next_at += a.sample
            time.sleep(max(0.0, min(next_at, end) - time.monotonic()))
        sample(run, ports, time.monotonic() - t0, data, pids)
    finally:
        load.stop.set()
        for t in threads:
            t.join(150)
    return report(a, data, pids, load, time.monotonic() - t0,
                  run=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.monotonic() - t0))))


def report(a, data, pids, load: Load, secs: float, run: str = "") -> int:
    """Print the table and verdict; append the figures (labelled with the run's start)."""
    print(f"\n{'instance':15} {'RSS MiB start→end':>19} {'MiB/h':>8} {'fds start→end':>14} {'fds/h':>7} "
          f"{'lag mean/max':>13} {'lag/h':>8}  verdict")
    growing = []
    for name in sorted(data):
        d = data[name]
        rss, fds, lag = d["rss"], d["fds"], d["lag"]
        flags = [k for k in ("rss", "fds", "lag") if grows(k, d[k])]
        growing += [(name, k) for k in flags]
        lag_txt = f"{statistics.fmean(lag.v):6.0f}/{max(lag.v):<6.0f}" if lag.v else f"{'-':>13}"
        print(f"{name:15} {rss.v[0] / MiB:8.1f}→{rss.v[-1] / MiB:<8.1f} {slope_per_hour(rss) / MiB:8.1f} "
              f"{fds.v[0]:6.0f}→{fds.v[-1]:<6.0f} {slope_per_hour(fds):7.1f} {lag_txt:>13} "
              f"{slope_per_hour(lag) if lag.v else 0:8.0f}  {'GROWS: ' + ', '.join(flags) if flags else 'flat'}")
        for kind, s, unit, scale in (("rss", rss, "MiB/h", MiB), ("fds", fds, "count/h", 1), ("lag", lag, "records/h", 1)):
            if len(s.v) >= 3:
                figures.append(a.json, source=SOURCE, name=f"soak.{kind}_slope", value=slope_per_hour(s) / scale,
                               unit=unit, peer="cobol mesh", instance=name, minutes=round(secs / 60, 1), run=run)
    print(f"\nover time (start, 1/4, 1/2, 3/4, end of the {secs / 60:.1f} min):")
    print(f"{'instance':15} {'RSS MiB':>34}  {'open files':>24}  {'consumer lag':>30}")
    for name in sorted(data):
        d = data[name]
        cols = [" ".join(f"{v / scale:{w}.{prec}f}" for v in over_time(d[k])) or "-"
                for k, scale, w, prec in (("rss", MiB, 6, 1), ("fds", 1, 4, 0), ("lag", 1, 5, 0))]
        print(f"{name:15} {cols[0]:>34}  {cols[1]:>24}  {cols[2]:>30}")
    if getattr(a, "series", None):
        Path(a.series).parent.mkdir(parents=True, exist_ok=True)
        Path(a.series).write_text(json.dumps(series_json(data, run, secs)) + "\n")
        print(f"samples written to {a.series}")
    restarted = sorted(pids.get("_restarted", ()))
    print(f"\nload: {load.jobs_done} jobs done, {load.jobs_failed} failed, {load.records_sent} device records "
          f"in {secs / 60:.1f} min" + (f"; last error: {load.error}" if load.error else ""))
    if restarted:
        print(f"restarted during the soak: {', '.join(restarted)}")
    verdict = ("no growth in memory, open files or lag" if not growing else
               "GROWTH: " + ", ".join(f"{n} {k}" for n, k in growing))
    print(f"verdict: {verdict}")
    figures.append(a.json, source=SOURCE, name="soak.growing", value=len(growing), unit="count", peer="cobol mesh",
                   minutes=round(secs / 60, 1), jobs_done=load.jobs_done, jobs_failed=load.jobs_failed, run=run)
    if load.jobs_done == 0 or load.jobs_failed:
        print("soak: the load itself failed (see above)", file=sys.stderr)
        return 1
    return 3 if growing else 0


if __name__ == "__main__":
    sys.exit(main())
