"""The faust app: one agent on cobol.frames and cobol.jobs.events, two changelog-backed tables.

Both topics are keyed by job id and have the same partition count, so a job's frames and
events arrive on the same partition number; every table key is written from one partition
only (see stats.py), which is what lets faust restore the tables exactly from their
changelogs after a restart.

Exactly once: processing_guarantee="exactly_once" makes faust write the changelog records
and the consumed offsets in one Kafka transaction per partition, and read the topics
read_committed (so the frames of an aborted compressor transaction are never counted).
A frame seen twice anyway (same job and seq) is counted once (stats.Aggregator).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import faust
from cobol_mesh import logging as mlog
from cobol_mesh.settings import settings
from prometheus_client import Counter, Gauge, Histogram

from cobol_proto import mesh_pb2 as pb
from google.protobuf.message import DecodeError

from .frame_layers import FrameLayoutError, layer_bytes
from .stats import Aggregator, State, Windows
from .writeback import WriteBack

EVENTS = Counter("cobol_analytics_events_total", "Records the analytics agent handled",
                 ["topic", "outcome"])
LAG = Histogram("cobol_analytics_lag_seconds", "Record timestamp to table update",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
READY = Gauge("cobol_analytics_ready", "1 once the tables are restored and partitions assigned")
log = mlog.get("cobol.analytics")
BATCH = 500              # records per batch at most ...
BATCH_SECONDS = 0.05     # ... or what arrived within this long


@dataclass(frozen=True)
class Config:
    app_id: str                # consumer group, transactional ids, changelog topic prefix
    brokers: str               # host:port,host:port
    frames_topic: str
    events_topic: str
    partitions: int            # of both source topics, and so of the changelogs
    replication: int           # of the changelog topics
    windows: Windows = Windows()

    @classmethod
    def from_settings(cls) -> "Config":
        partitions, brokers = cluster_facts(settings.topic_frames, settings.topic_events)
        return cls(app_id=f"{settings.group_prefix}-analytics", brokers=settings.kafka_bootstrap,
                   frames_topic=settings.topic_frames, events_topic=settings.topic_events,
                   partitions=partitions, replication=min(3, brokers))


def cluster_facts(*topics: str) -> tuple[int, int]:
    """(partition count of the source topics, broker count), from the brokers. The topics
    must exist (faust never subscribes to a topic missing at start) and agree (a job's
    frames and events must land on the same partition number)."""
    from confluent_kafka.admin import AdminClient
    meta = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=30)
    counts = {}
    for t in topics:
        if t not in meta.topics or meta.topics[t].error is not None:
            raise SystemExit(f"analytics: topic {t} does not exist on {settings.kafka_bootstrap}; "
                             "create the topics first (scripts/infra.py start kafka)")
        counts[t] = len(meta.topics[t].partitions)
    if len(set(counts.values())) != 1:
        raise SystemExit(f"analytics: the source topics must have one partition count, not {counts}")
    return counts[topics[0]], len(meta.brokers)


class Analytics:
    """The faust app, its tables, and the agent that feeds them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.app = faust.App(
            cfg.app_id,
            broker=[f"kafka://{b.strip()}" for b in cfg.brokers.split(",")],
            processing_guarantee="exactly_once",
            store="memory://",                 # tables restore from their changelogs
            web_enabled=False,                 # queries go through gRPC (server.py)
            topic_partitions=cfg.partitions,
            topic_replication_factor=cfg.replication,
            topic_allow_declare=True,          # the changelog topics (not the source topics)
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_commit_interval=1.0,
            producer_acks=-1,
            producer_max_request_size=1 << 20,
            consumer_max_fetch_size=settings.kafka_max_bytes,
            table_cleanup_interval=60.0,
            logging_config=None,
            loghandlers=[],
        )
        def table(name: str, what: str):
            return self.app.Table(name, default=None, partitions=cfg.partitions, key_type=str, help=what)
        # `state`: the tables, read by queries; `batch`: the same tables as the agent writes
        # them, each changed key written once per batch (writeback.py).
        self.state = State(totals=table("totals", "all-time aggregates per partition"),
                           series=table("series", "bucket starts per partition and window"),
                           buckets=table("buckets", "tumbling-window aggregates"),
                           jobs=table("jobs", "job id -> profile, pending frames, seen seqs"))
        self.batch = State(*(WriteBack(t) for t in self.state.mappings()))
        self.agg = Aggregator(self.batch, cfg.windows)
        # Source topics exist already (scripts/infra.py declares them): never create them here.
        self.source = self.app.topic(cfg.frames_topic, cfg.events_topic, key_type=bytes,
                                     value_type=bytes, key_serializer="raw",
                                     value_serializer="raw", internal=False)
        self.handled = 0
        self._timestamps: list[float] = []

        async def count(stream) -> None:
            # Batches: the events are acked (their offsets committable) only after the body
            # ran, i.e. after their table writes were queued in the same transaction.
            async for events in stream.take_events(BATCH, within=BATCH_SECONDS):
                try:
                    for event in events:
                        msg = event.message
                        self.handle(msg.topic, msg.partition, msg.timestamp, event.value)
                    self.flush()
                except Exception:
                    # A table write failed (Kafka, changelog): stop hard. Nothing of this
                    # transaction is committed; a restart reprocesses from the last commit.
                    log.exception("agent.failed", batch=len(events))
                    os._exit(70)

        self.app.agent(self.source, name="count")(count)

    def handle(self, topic: str, partition: int, ts: float, value: bytes) -> str:
        """Applies one record; returns the outcome label (also counted in metrics). A record
        that does not parse is skipped and counted; every other error propagates."""
        try:
            apply = self._parse_frame(value) if topic == self.cfg.frames_topic else self._parse_event(value)
        except (DecodeError, ValueError) as exc:
            log.warning("record.malformed", topic=topic, partition=partition, error=str(exc)[:200])
            outcome = "malformed"
        else:
            for wb in self.batch.mappings():
                wb.partition = partition
            outcome = apply(partition, ts)
        EVENTS.labels(topic, outcome).inc()
        self.handled += 1
        self._timestamps.append(ts)
        return outcome

    def flush(self) -> None:
        """Ends a batch: each changed key to its table and changelog, once."""
        for wb in self.batch.mappings():
            wb.flush()
        now = time.time()
        for ts in self._timestamps:
            if ts:
                LAG.observe(max(0.0, now - ts))
        self._timestamps.clear()

    def _parse_frame(self, value: bytes):
        f = pb.Frame.FromString(value)
        if not f.job_id:
            raise ValueError("frame without a job id")
        try:
            layers = layer_bytes(f.frame)
        except FrameLayoutError as exc:
            log.warning("frame.layout_unreadable", job_id=f.job_id[:80], seq=f.seq, error=str(exc))
            layers = None

        def apply(partition: int, ts: float) -> str:
            counted = self.agg.on_frame(partition, ts, f.job_id, f.seq, f.bytes_in, f.bytes_out,
                                        f.worker, f.codec_seconds, layers)
            return "counted" if counted else "duplicate"
        return apply

    def _parse_event(self, value: bytes):
        e = pb.JobEvent.FromString(value)
        if not e.job_id:
            raise ValueError("job event without a job id")
        kind = e.WhichOneof("event")
        agg = self.agg

        def apply(partition: int, ts: float) -> str:
            if kind == "opened":
                done = agg.on_opened(partition, ts, e.job_id, e.opened.profile)
            elif kind == "archived":
                a = e.archived
                done = agg.on_archived(partition, ts, e.job_id, a.seq, a.bytes_in, a.bytes_out, a.replica)
            elif kind == "finished":
                done = agg.on_final(partition, ts, e.job_id, e.finished.status or "done")
            elif kind == "aborted":
                done = agg.on_final(partition, ts, e.job_id, "aborted")
            else:
                return "ignored"               # sealed: nothing to count
            return "counted" if done else "duplicate"
        return apply

    def create_changelog_topics(self) -> None:
        """faust declares its changelog topics itself, but a worker that starts before they
        show up in the metadata writes to a topic with "0 partitions"; create them first."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.cfg.brokers})
        rf = self.cfg.replication
        names = [t.changelog_topic.get_topic_name() for t in self.app.tables.values()]
        futures = admin.create_topics([NewTopic(n, self.cfg.partitions, rf, config={
            "cleanup.policy": "compact", "min.insync.replicas": str(min(2, rf))}) for n in names])
        for name, fut in futures.items():
            try:
                fut.result(60)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise SystemExit(f"analytics: cannot create the changelog topic {name}: {exc}") from None
        meta = admin.list_topics(timeout=30)
        for name in names:
            got = len(meta.topics[name].partitions) if name in meta.topics else 0
            if got != self.cfg.partitions:
                raise SystemExit(f"analytics: changelog topic {name} has {got} partitions, "
                                 f"the source topics {self.cfg.partitions}")

    def ready(self) -> bool:
        """Tables restored and partitions assigned: queries see everything committed so far."""
        try:
            recovered = self.app.tables.recovery.completed.is_set()
            assigned = bool(self.app.consumer.assignment())
        except Exception:
            return False
        return recovered and assigned


def quiet_faust_logs(level: str) -> None:
    # faust and aiokafka log through the standard library; keep their chatter at warning
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(max(logging.WARNING, getattr(logging, level.upper(), 20)))
