"""Runs the analytics service as a subprocess on its own topics, and feeds it real records.

Used by tests/integration/test_analytics.py and loadtests/analytics_throughput.py. Each run
gets its own source topics, consumer group and changelog topics (a fresh group prefix), so
it never reads another test's frames and never disturbs a `make up` mesh.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

import cobol_codec  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cobol_mesh.analytics_client import AnalyticsClient, AnalyticsError  # noqa: E402
from cobol_mesh.grpc_server import health_status  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402
from services.analytics.frame_layers import layer_bytes  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
OFF = int(os.environ.get("COBOL_PORT_OFFSET") or 0)
PARTITIONS = 6


from waiting import wait_until  # noqa: E402,F401  (re-exported to the tests)


def create_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    brokers = len(admin.list_topics(timeout=30).brokers)
    rf = min(3, brokers)
    futures = admin.create_topics([NewTopic(n, partitions, rf, config={"min.insync.replicas": str(min(2, rf))})
                                   for n in names])
    for f in futures.values():
        f.result(60)


class AnalyticsProc:
    """One analytics worker subprocess; started, killed and stopped by pid."""

    def __init__(self, bootstrap: str, workdir: Path, port: int = 50165, metrics_port: int = 9665) -> None:
        tag = uuid.uuid4().hex[:8]
        self.frames_topic = f"cobol.test-{tag}.frames"
        self.events_topic = f"cobol.test-{tag}.jobs.events"
        self.bootstrap = bootstrap
        self.addr = f"127.0.0.1:{port + OFF}"
        self.workdir = workdir
        self.log_path = workdir / "analytics-1.log"
        self.env = dict(os.environ) | {
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "COBOL_KAFKA_BOOTSTRAP": bootstrap, "COBOL_TOPIC_FRAMES": self.frames_topic,
            "COBOL_TOPIC_EVENTS": self.events_topic, "COBOL_GROUP_PREFIX": f"cobol-test-{tag}",
            "COBOL_ANALYTICS_ADDR": self.addr, "COBOL_METRICS_PORT": str(metrics_port + OFF),
            "COBOL_RUN_DIR": str(workdir), "COBOL_INSTANCE": "analytics-1",
            "COBOL_ANALYTICS_DATA_DIR": str(workdir / "data"),
        }
        self.proc: subprocess.Popen | None = None
        self.restarts: list[int] = []        # exit codes of crashes restart_if_dead() restarted
        create_topics(bootstrap, [self.frames_topic, self.events_topic])

    def joining(self, port: int, metrics_port: int, name: str = "analytics-2") -> "AnalyticsProc":
        """A second worker of the same group on the same topics (its own ports, log and data)."""
        other = object.__new__(AnalyticsProc)
        other.frames_topic, other.events_topic, other.bootstrap = self.frames_topic, self.events_topic, self.bootstrap
        other.addr = f"127.0.0.1:{port + OFF}"
        other.workdir = self.workdir / name
        other.workdir.mkdir(parents=True, exist_ok=True)
        other.log_path = other.workdir / f"{name}.log"
        other.env = self.env | {"COBOL_ANALYTICS_ADDR": other.addr, "COBOL_METRICS_PORT": str(metrics_port + OFF),
                                "COBOL_RUN_DIR": str(other.workdir), "COBOL_INSTANCE": name,
                                "COBOL_ANALYTICS_DATA_DIR": str(other.workdir / "data")}
        other.proc = None
        other.restarts = []
        return other

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PY, "-m", "services.analytics"], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def wait_ready(self, timeout: float = 180) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"analytics exited with {self.proc.returncode}:\n{self.log_tail()}")
            return health_status(self.addr) == "SERVING"
        wait_until("analytics SERVING", ready, timeout, 0.5, describe=lambda: open_transactions(self))

    def restart_if_dead(self) -> bool:
        """Restart the worker if it exited, as the mesh's supervisor (scripts/mesh.py) would;
        True if it did. faust's exactly-once commit can crash a worker at a rebalance on a
        loaded machine (docs/analytics.md); a restart must still give exact totals."""
        if self.proc is None or self.proc.poll() is None:
            return False
        self.restarts.append(self.proc.returncode)
        self.start()
        self.wait_ready()
        return True

    def pause_past_session(self, timeout: float = 120) -> None:
        """SIGSTOP the worker until the group coordinator has dropped it (its session ran
        out), then SIGCONT: what a worker starved of CPU on a loaded machine goes through.
        It rejoins and, as the only member, gets back the partitions it had."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            wait_until("the paused worker dropped from its group",
                       lambda: group_members(self) == 0, timeout, 0.5)
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(180)          # a clean stop commits everything; slow on a loaded machine
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return self.proc.returncode if self.proc else None

    def metric(self, name: str) -> float:
        """Sum of a Prometheus counter of the running worker, over its labels."""
        body = urlopen(f"http://127.0.0.1:{self.env['COBOL_METRICS_PORT']}/metrics", timeout=10).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith((name + "{", name + " ")))

    def client(self) -> AnalyticsClient:
        return AnalyticsClient(self.addr)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


# ---- a feed of real records, with the totals it must produce, computed independently ---

def sample_frames(seed: int = 7) -> list[tuple[str, int, bytes]]:
    """(profile, original length, frame bytes): real codec frames of small log/CSV chunks."""
    rnd = random.Random(seed)
    out = []
    for profile in ("fast", "balanced", "max"):
        for variant in range(3):
            n = 60 + 40 * variant if profile == "max" else 300 + 200 * variant
            if variant == 2:
                data = b"ts,v\n" + b"".join(b"%d,%d\n" % (1700000000 + i, rnd.randrange(100)) for i in range(n))
            else:
                data = b"".join(b"2026-11-29 12:00:%02d host-%d GET /x/%d %d\n"
                                % (i % 60, rnd.randrange(4), rnd.randrange(50), rnd.randrange(999)) for i in range(n))
            out.append((profile, len(data), cobol_codec.encode_frame(data, profile)))
    return out


@dataclass
class Record:
    topic: str          # "frames" | "events"
    key: str
    value: bytes
    ts_ms: int


@dataclass
class Expected:
    frames: int = 0
    jobs: int = 0
    by: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0])))
    windows: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))   # (size, start) -> [n, in]
    status: dict = field(default_factory=lambda: defaultdict(int))

    def add(self, dim: str, name: str, b_in: int, b_out: int, us: int) -> None:
        row = self.by[dim][name]
        row[0] += 1
        row[1] += b_in
        row[2] += b_out
        row[3] += us


def make_feed(n_jobs: int, frames_per_job: int, t0_ms: int, span_ms: int, seed: int = 1,
              workers: int = 3) -> tuple[list[Record], Expected]:
    """Jobs with a JobOpened (sometimes after their first frames), frames from several
    workers (some delivered twice), ChunkArchived from two replicas, JobFinished; plus a
    malformed record and a frame whose bytes are not a frame."""
    rnd = random.Random(seed)
    frames = sample_frames()
    exp = Expected()
    recs: list[Record] = []
    total = n_jobs * frames_per_job
    i = 0
    for j in range(n_jobs):
        job = f"job-{seed}-{j:05d}"
        profile = ("fast", "balanced", "max")[j % 3]
        opened = pb.JobEvent(job_id=job, opened=pb.JobOpened(source="grpc", name=f"f{j}", profile=profile))
        late_open = j % 4 == 1
        job_recs = []
        for seq in range(frames_per_job):
            ts = t0_ms + span_ms * i // max(1, total)
            i += 1
            fprof, n_in, fbytes = frames[rnd.randrange(len(frames))]
            worker = f"compressor-{1 + rnd.randrange(workers)}"
            secs = rnd.choice((0.0004, 0.003, 0.02, 0.15, 0.9))
            f = pb.Frame(job_id=job, seq=seq, frame=fbytes, bytes_in=n_in, bytes_out=len(fbytes),
                         worker=worker, codec_seconds=secs)
            us = round(secs * 1e6)
            job_recs.append(Record("frames", job, f.SerializeToString(), ts))
            if rnd.random() < 0.05:                       # a redelivered frame: counted once
                job_recs.append(Record("frames", job, f.SerializeToString(), ts))
            exp.frames += 1
            for dim, name in (("all", "all"), ("node", worker), ("profile", profile)):
                exp.add(dim, name, n_in, len(fbytes), us)
            for lb in layer_bytes(fbytes):
                exp.add("layer", f"L{lb.layer}", lb.bytes_in, lb.bytes_out, us)
            for size in (10, 60):
                w = exp.windows[(size, ts // 1000 // size * size)]
                w[0] += 1
                w[1] += n_in
            for replica in ("archive-1", "archive-2"):
                ev = pb.JobEvent(job_id=job, archived=pb.ChunkArchived(seq=seq, bytes_in=n_in, bytes_out=len(fbytes),
                                                                        replica=replica))
                job_recs.append(Record("events", job, ev.SerializeToString(), ts))
                exp.add("replica", replica, n_in, len(fbytes), 0)
        open_rec = Record("events", job, opened.SerializeToString(), t0_ms)
        if late_open:
            job_recs.insert(min(3, len(job_recs)), open_rec)
        else:
            job_recs.insert(0, open_rec)
        status = "failed" if j % 7 == 3 else "done"
        fin = pb.JobEvent(job_id=job, finished=pb.JobFinished(status=status))
        job_recs.append(Record("events", job, fin.SerializeToString(), t0_ms + span_ms))
        job_recs.append(Record("events", job, fin.SerializeToString(), t0_ms + span_ms))   # repeated
        exp.status["opened"] += 1
        exp.status[status] += 1
        exp.jobs += 1
        recs.extend(job_recs)
    # the bad ones: neither counted nor fatal
    bad_job = f"job-{seed}-bad"
    recs.append(Record("frames", bad_job, b"\xff\xfe not a protobuf", t0_ms))
    junk = pb.Frame(job_id=bad_job, seq=0, frame=b"\x00junk", bytes_in=5, bytes_out=5, worker="compressor-x")
    recs.append(Record("frames", bad_job, junk.SerializeToString(), t0_ms))
    exp.frames += 1
    for dim, name in (("all", "all"), ("node", "compressor-x"), ("layer", "unreadable")):
        exp.add(dim, name, 5, 5, 0)
    for size in (10, 60):
        w = exp.windows[(size, t0_ms // 1000 // size * size)]
        w[0] += 1
        w[1] += 5
    recs.append(Record("events", bad_job, pb.JobEvent(opened=pb.JobOpened(profile="fast")).SerializeToString(), t0_ms))
    return recs, exp


def producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, "message.max.bytes": 16 << 20})


def produce(p: Producer, proc: AnalyticsProc, recs, rate: float | None = None, stop=None) -> None:
    """Produces the records in order (per job key: one partition, so per-job order holds),
    at `rate` records/s if given. Raises if any record was not delivered: a record the
    brokers never took would read as one the worker lost."""
    t_start = time.monotonic()
    failed: list[str] = []

    def delivered(err, msg) -> None:
        if err is not None:
            failed.append(f"{msg.topic()} key={msg.key()!r}: {err}")
    for n, r in enumerate(recs):
        if stop is not None and stop.is_set():
            break
        topic = proc.frames_topic if r.topic == "frames" else proc.events_topic
        while True:
            try:
                p.produce(topic, key=r.key.encode(), value=r.value, timestamp=r.ts_ms, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if rate:
            ahead = (n + 1) / rate - (time.monotonic() - t_start)
            if ahead > 0:
                time.sleep(ahead)         # pacing a load generator, not synchronising a test
    if p.flush(60):
        raise AssertionError("records left unsent after 60 s")
    if failed:
        raise AssertionError(f"{len(failed)} records not delivered, first: {failed[0]}")


class Feeder:
    """`produce` in a background thread; `stop()` ends it early, `join()` waits for it and
    raises what it raised in the test's thread."""

    def __init__(self, bootstrap: str, proc: AnalyticsProc, recs, rate: float) -> None:
        self._stop = threading.Event()
        self.errors: list[BaseException] = []

        def feed():
            try:
                produce(producer(bootstrap), proc, recs, rate=rate, stop=self._stop)
            except BaseException as exc:      # reported by the test thread
                self.errors.append(exc)
        self.thread = threading.Thread(target=feed, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the feed did not end in {timeout:.0f}s"
        assert not self.errors, self.errors


def totals_now(client: AnalyticsClient, dim: str) -> dict:
    try:
        return client.totals(dim)
    except AnalyticsError:
        return {}


def check_exact(client, exp) -> None:
    for dim, rows in exp.by.items():
        got = client.totals(dim)
        assert set(got) == set(rows), dim
        for name, (n, b_in, b_out, us) in rows.items():
            g = got[name]
            assert (g["count"], g["bytes_in"], g["bytes_out"]) == (n, b_in, b_out), (dim, name)
            assert round(g["codec_seconds"] * 1e6) == us, (dim, name)
    status = {k: v["count"] for k, v in client.totals("status").items()}
    assert status == dict(exp.status)


def frames_counted(client) -> int:
    """Frames counted so far (0 while the worker is not ready)."""
    return totals_now(client, "all").get("all", {}).get("count", 0) or 0


def progress(client) -> tuple:
    a = totals_now(client, "all").get("all", {}).get("count")
    s = {k: v["count"] for k, v in totals_now(client, "status").items()}
    r = sum(v["count"] for v in totals_now(client, "replica").values())
    return a, s, r


def expected_progress(exp) -> tuple:
    return exp.frames, dict(exp.status), sum(v[0] for v in exp.by["replica"].values())


def wait_counted(client, exp, timeout: float, supervised: AnalyticsProc | None = None,
                 proc: AnalyticsProc | None = None) -> None:
    """Every frame counted, every JobOpened, end and ChunkArchived applied (restarting
    `supervised` if it crashes meanwhile). `proc` (or `supervised`): whose topics to read
    for the diagnosis when a total stays short."""
    proc = proc or supervised
    want = expected_progress(exp)
    restart = supervised.restart_if_dead if supervised is not None else (lambda: False)
    wait_until("every record applied", lambda: not restart() and progress(client) == want, timeout,
               describe=lambda: f"got {progress(client)}, want {want}; restarts "
                                f"{supervised.restarts if supervised else None}"
                                + ("" if proc is None else f"; {archived_at_each_hop(proc)}; "
                                                           f"{open_transactions(proc)}"))


@contextlib.contextmanager
def worker_with_feed(bootstrap: str, workdir: Path, port: int, metrics_port: int, *, n_jobs: int,
                     frames_per_job: int, seed: int, rate: float):
    """A worker started and ready on its own topics, and `make_feed`'s records (event time
    from five minutes ago, over 200 s) flowing in at `rate` records/s; yields (worker, records,
    expected totals, feeder) and stops the feed and the worker at the end."""
    proc = AnalyticsProc(bootstrap, workdir, port=port, metrics_port=metrics_port)
    recs, exp = make_feed(n_jobs=n_jobs, frames_per_job=frames_per_job,
                          t0_ms=(int(time.time()) - 300) * 1000, span_ms=200_000, seed=seed)
    feeder = Feeder(bootstrap, proc, recs, rate=rate)
    try:
        proc.start()
        proc.wait_ready()
        feeder.start()
        yield proc, recs, exp, feeder
    finally:
        feeder.stop()
        proc.stop()


# ---- the worker's own topics, read from outside -----------------------------------------

def group_id(proc: AnalyticsProc) -> str:
    return f"{proc.env['COBOL_GROUP_PREFIX']}-analytics"


def input_topic(proc: AnalyticsProc) -> str:
    return f"{group_id(proc)}-input"


@functools.lru_cache(maxsize=None)
def admin_client(bootstrap: str) -> AdminClient:
    """One admin client per cluster for polling (a new one each poll floods the log)."""
    return AdminClient({"bootstrap.servers": bootstrap})


def group_members(proc: AnalyticsProc) -> int:
    """Members of the worker's consumer group, as its coordinator sees them."""
    groups = admin_client(proc.bootstrap).describe_consumer_groups([group_id(proc)])
    return len(groups[group_id(proc)].result(30).members)


def committed_input_offsets(proc: AnalyticsProc) -> int:
    """Sum over the input topic's partitions of the offsets the worker's group committed."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    admin = AdminClient({"bootstrap.servers": proc.bootstrap})
    request = ConsumerGroupTopicPartitions(group_id(proc), [TopicPartition(input_topic(proc), p)
                                                           for p in range(PARTITIONS)])
    result = admin.list_consumer_group_offsets([request])[group_id(proc)].result(30)
    return sum(max(0, tp.offset) for tp in result.topic_partitions)


def committed_values(bootstrap: str, topic: str, timeout: float = 120) -> list[bytes]:
    """The values of the records (not transaction markers, not aborted records) `topic` holds."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    try:
        tps = [TopicPartition(topic, p, 0) for p in range(PARTITIONS)]
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(PARTITIONS)}
        c.assign(tps)
        out, done = [], {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < PARTITIONS:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout}s")
            msg = c.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:          # _PARTITION_EOF
                    if c.position([TopicPartition(topic, msg.partition())])[0].offset >= ends[msg.partition()]:
                        done.add(msg.partition())
                continue
            out.append(msg.value())
        return out
    finally:
        c.close()


def count_committed_records(bootstrap: str, topic: str, timeout: float = 120) -> int:
    """How many records (not transaction markers, not aborted records) `topic` holds."""
    return len(committed_values(bootstrap, topic, timeout))


TABLES = ("totals", "series", "buckets", "jobs", "ended")     # services/analytics/app.py


def open_transactions(proc: AnalyticsProc) -> str:
    """Partitions of the worker's changelog and input topics whose last stable offset (what a
    read_committed reader can reach) is below the high watermark: a transaction left open
    there holds back every table recovery that reads the partition."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    try:
        admin = AdminClient({"bootstrap.servers": proc.bootstrap})
        topics = [f"{group_id(proc)}-{t}-changelog" for t in TABLES] + [input_topic(proc)]
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]

        def ends(level):
            futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}, isolation_level=level)
            return {(tp.topic, tp.partition): f.result(30).offset for tp, f in futures.items()}
        stable, high = ends(IsolationLevel.READ_COMMITTED), ends(IsolationLevel.READ_UNCOMMITTED)
        held = {f"{t.removeprefix(group_id(proc) + '-')}[{p}]": (stable[t, p], high[t, p])
                for t, p in sorted(high) if stable[t, p] < high[t, p]}
        return f"open transactions (partition: (stable offset, high watermark)): {held or 'none'}"
    except Exception as exc:            # a diagnosis must not hide the assertion it explains
        return f"(could not read the offsets: {exc})"


def archived_at_each_hop(proc: AnalyticsProc) -> str:
    """Distinct ChunkArchived identities (job, seq, replica) in the source events topic and in
    the worker's input topic: when a total is short, says which hop lost the record."""
    try:
        src = set()
        for v in committed_values(proc.bootstrap, proc.events_topic, 60):
            try:
                e = pb.JobEvent.FromString(v)
            except Exception:
                continue
            if e.WhichOneof("event") == "archived":
                src.add((e.job_id, e.archived.seq, e.archived.replica))
        fwd = set()
        for v in committed_values(proc.bootstrap, input_topic(proc), 60):
            s = json.loads(v)
            if s.get("k") == "archived":
                fwd.add((s["job"], s["seq"], s["replica"]))
        return (f"archived in the source topic {len(src)}, forwarded to the input topic {len(fwd)}, "
                f"missing there {sorted(src - fwd)[:5]}")
    except Exception as exc:            # a diagnosis must not hide the assertion it explains
        return f"(could not read the topics: {exc})"
