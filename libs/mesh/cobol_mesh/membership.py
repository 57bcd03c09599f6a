"""Membership: every service instance heartbeats to the coordinator through Kafka.

`service.boot()` starts one `Membership` per process: once a second (COBOL_HEARTBEAT_S) it
produces a `Heartbeat` (role, host, pid, version, CPU, memory and, for consumers, assigned
partitions and lag) to cobol.nodes.heartbeats, keyed by instance. The coordinator leader
consumes the topic; a Kafka topic survives leader changes without clients having to find the
leader. On a clean stop a last beat says `leaving`, so a stop is not taken for a failure.

Consumers feed their load with `track_consumer(consumer)` (partitions and lag are read from
the consumer's own assignment, positions and cached watermarks, by the consumer's own thread
in `kafka.consume_batch`) or `report(topic, partition, lag)`; without either, the partition counts of `metrics.ASSIGNED` are sent.

Topic names follow COBOL_TOPIC_EVENTS' prefix (cobol.jobs.events -> cobol.nodes.heartbeats;
a test mesh's cobol.it1234.jobs.events -> cobol.it1234.nodes.heartbeats), so a test mesh and
`make up` on one Kafka never see each other's nodes. COBOL_MEMBERSHIP=0 turns it off.
"""
from __future__ import annotations

import os
import socket
import threading
import time

from . import logging as mlog
from . import metrics
from .proto import pb  # noqa: F401  (puts cobol_proto on the path)
from .settings import settings

from cobol_proto import cluster_pb2 as cpb  # noqa: E402

log = mlog.get("cobol.membership")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


_BASE = settings.topic_events.removesuffix("jobs.events") if settings.topic_events.endswith("jobs.events") else "cobol."
TOPIC_HEARTBEATS = _env("COBOL_TOPIC_HEARTBEATS", _BASE + "nodes.heartbeats")
TOPIC_NODE_EVENTS = _env("COBOL_TOPIC_NODE_EVENTS", _BASE + "nodes.events")
TOPIC_JOB_STATUS = _env("COBOL_TOPIC_JOB_STATUS", _BASE + "jobs.status")
TOPIC_JOBS_DLQ = _env("COBOL_TOPIC_JOBS_DLQ", _BASE + "jobs.dlq")
HEARTBEAT_S = float(_env("COBOL_HEARTBEAT_S", "1.0"))
# retention of the cluster's own topics: beats matter for seconds, events for days
TOPIC_SPECS = {TOPIC_HEARTBEATS: (1, {"retention.ms": str(3600_000)}),
               TOPIC_NODE_EVENTS: (1, {"retention.ms": str(7 * 86400_000)}),
               TOPIC_JOB_STATUS: (3, {"retention.ms": str(86400_000)}),
               TOPIC_JOBS_DLQ: (1, {})}


def ensure_topics(names: list[str], timeout: float = 15.0) -> None:
    """Create the cluster topics that are missing (replication factor min(3, brokers));
    an existing topic is fine. Raises when Kafka does not answer."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    md = admin.list_topics(timeout=min(timeout, 5.0))
    missing = [n for n in names if n not in md.topics]
    if not missing:
        return
    rf = min(3, len(md.brokers)) or 1
    new = [NewTopic(n, num_partitions=TOPIC_SPECS.get(n, (1, {}))[0], replication_factor=rf,
                    config={**TOPIC_SPECS.get(n, (1, {}))[1], "max.message.bytes": "16777216"})
           for n in missing]
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    log.info("membership.topics_created", topics=missing, replication_factor=rf)


def version() -> str:
    try:
        from importlib.metadata import version as v
        return os.environ.get("COBOL_VERSION") or v("cobol-protocol")
    except Exception:     # not installed (a bare source checkout): say so rather than guess
        return os.environ.get("COBOL_VERSION", "unknown")


def consumer_load(c) -> list[cpb.PartitionLoad]:
    """Each assigned partition of consumer `c` with its lag: high watermark - position, both
    known locally (librdkafka caches the watermark from its fetch responses: no broker round
    trip). A partition that has delivered nothing yet has no position: its lag is 0 if nobody
    ever wrote to it (watermark 0), else unknown (-1).

    Only the consumer's own thread may call this: a confluent-kafka consumer serialises its
    calls, and a thread that keeps polling starves any other thread's call (a heartbeat thread
    asking would hang)."""
    out = []
    for tp in c.position(c.assignment()):
        _lo, hi = c.get_watermark_offsets(tp, cached=True) or (-1, -1)
        if hi < 0:
            lag = -1
        elif tp.offset >= 0:
            lag = max(0, hi - tp.offset)
        else:
            lag = 0 if hi == 0 else -1
        out.append(cpb.PartitionLoad(topic=tp.topic, partition=tp.partition, lag=lag))
    return out


class Membership:
    def __init__(self, role: str, instance: str, interval: float = HEARTBEAT_S) -> None:
        import psutil

        self.role, self.instance, self.interval = role, instance, interval
        self.proc = psutil.Process()
        self.proc.cpu_percent(None)            # the first call only starts the measurement
        self.started_at = time.time()
        self.seq = 0
        self.version = version()
        self.host = socket.gethostname()
        self._consumers: dict[int, tuple[float, list]] = {}   # id(consumer) -> (sampled at, load)
        self._reported: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer = None

    # -- hooks for the consumer loops ---------------------------------------------------------
    def track_consumer(self, consumer) -> None:
        with self._lock:
            self._consumers[id(consumer)] = (0.0, [])

    def sample(self, consumer) -> None:
        """Refresh a tracked consumer's load, at most twice a beat (its own thread calls this)."""
        key = id(consumer)
        with self._lock:
            at = self._consumers.get(key, (None,))[0]
        if at is None or time.monotonic() - at < self.interval / 2:
            return
        try:
            load = consumer_load(consumer)
        except Exception as exc:          # closed, or not assigned yet: keep the last load
            log.debug("membership.consumer_unreadable", error=str(exc))
            return
        with self._lock:
            self._consumers[key] = (time.monotonic(), load)

    def report(self, topic: str, partition: int, lag: int) -> None:
        with self._lock:
            self._reported[(topic, partition)] = lag

    # -- the beat -----------------------------------------------------------------------------
    def heartbeat(self, leaving: bool = False) -> cpb.Heartbeat:
        self.seq += 1
        mem = self.proc.memory_info()
        return cpb.Heartbeat(
            instance=self.instance, role=self.role, host=self.host, pid=os.getpid(),
            version=self.version, started_at=self.started_at, sent_at=time.time(), seq=self.seq,
            cpu_percent=self.proc.cpu_percent(None), rss_bytes=mem.rss,
            partitions=self.partitions(), leaving=leaving, heartbeat_ms=int(self.interval * 1000))

    def partitions(self) -> list[cpb.PartitionLoad]:
        out: list[cpb.PartitionLoad] = []
        with self._lock:
            for _at, load in self._consumers.values():
                out += load
            reported = dict(self._reported)
        for (topic, part), lag in reported.items():
            out.append(cpb.PartitionLoad(topic=topic, partition=part, lag=lag))
        if not out:
            for metric in metrics.ASSIGNED.collect():
                for s in metric.samples:
                    if s.labels.get("instance") == self.instance and s.value > 0:
                        out.append(cpb.PartitionLoad(topic=s.labels["topic"], partition=-1, lag=-1,
                                                     count=int(s.value)))
        return out

    def _send(self, hb: cpb.Heartbeat) -> None:
        self._producer.produce(TOPIC_HEARTBEATS, key=self.instance.encode(), value=hb.SerializeToString())
        self._producer.poll(0)

    def run(self) -> None:
        from confluent_kafka import Producer

        while not self._stop.is_set():
            try:
                ensure_topics([TOPIC_HEARTBEATS])
                break
            except Exception as exc:
                log.warning("membership.kafka_unavailable", error=str(exc))
                self._stop.wait(2.0)
        # a beat older than a few seconds says nothing true any more: drop it rather than deliver late
        self._producer = Producer({"bootstrap.servers": settings.kafka_bootstrap,
                                   "client.id": f"cobol-{self.instance}-membership",
                                   "linger.ms": 0, "acks": 1, "message.timeout.ms": 3000,
                                   "queue.buffering.max.messages": 100})
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            try:
                self._send(self.heartbeat())
            except BufferError:
                log.warning("membership.queue_full")
            except Exception as exc:
                log.warning("membership.beat_failed", error=str(exc))
            if next_at < time.monotonic():    # we were stalled (SIGSTOP, GC): no burst of beats
                next_at = time.monotonic()

    def start(self) -> "Membership":
        self._thread = threading.Thread(target=self.run, name="membership", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._producer is not None:
            try:
                self._send(self.heartbeat(leaving=True))
                self._producer.flush(3)
            except Exception as exc:
                log.warning("membership.leave_failed", error=str(exc))


current: Membership | None = None


def start(role: str, instance: str) -> Membership | None:
    """Start this process's heartbeats (service.boot calls it once)."""
    global current
    if os.environ.get("COBOL_MEMBERSHIP", "1") == "0":
        return None
    current = Membership(role, instance).start()
    return current


def track_consumer(consumer) -> None:
    """Let this process's heartbeats carry `consumer`'s partitions and lag (no-op if off).
    The load is sampled by the consumer's own thread in `kafka.consume_batch` (see sample)."""
    if current is not None:
        current.track_consumer(consumer)


def sample(consumer) -> None:
    if current is not None:
        current.sample(consumer)
