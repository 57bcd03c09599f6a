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

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faust
from cobol_mesh import logging as mlog
from cobol_mesh.settings import ROOT, settings
from prometheus_client import Counter, Gauge, Histogram

from cobol_proto import mesh_pb2 as pb

from .frame_layers import FrameLayoutError, layer_bytes
from .stats import Aggregator, Windows

TOPICS_FILE = ROOT / "scripts" / "infra" / "topics.json"

EVENTS = Counter("cobol_analytics_events_total", "Records the analytics agent handled",
                 ["topic", "outcome"])
LAG = Histogram("cobol_analytics_lag_seconds", "Record timestamp to table update",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
READY = Gauge("cobol_analytics_ready", "1 once the tables are restored and partitions assigned")
log = mlog.get("cobol.analytics")


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
        return cls(app_id=f"{settings.group_prefix}-analytics", brokers=settings.kafka_bootstrap,
                   frames_topic=settings.topic_frames, events_topic=settings.topic_events,
                   partitions=source_partitions(settings.topic_frames, settings.topic_events),
                   replication=min(3, len(settings.kafka_bootstrap.split(","))))


def source_partitions(*topics: str, path: Path = TOPICS_FILE) -> int:
    """The partition count the mesh declares for the source topics (they must agree)."""
    declared = {t["name"]: t["partitions"] for t in json.loads(path.read_text())["topics"]}
    counts = {declared.get(t) for t in topics}
    if len(counts) != 1 or None in counts:
        raise SystemExit(f"analytics needs {', '.join(topics)} declared in {path} with one "
                         f"partition count (found {counts})")
    return counts.pop()


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
        self.stats = self.app.Table("stats", default=None, partitions=cfg.partitions,
                                    key_type=str, help="buckets per partition/dim/name/window")
        self.jobs = self.app.Table("jobs", default=None, partitions=cfg.partitions,
                                   key_type=str, help="job id -> profile, pending frames, seen seqs")
        self.agg = Aggregator(self.stats, self.jobs, cfg.windows)
        # Source topics exist already (scripts/infra.py declares them): never create them here.
        self.source = self.app.topic(cfg.frames_topic, cfg.events_topic, key_type=bytes,
                                     value_type=bytes, key_serializer="raw",
                                     value_serializer="raw", internal=False)
        self.handled = 0

        async def count(stream) -> None:
            async for event in stream.events():
                msg = event.message
                self.handle(msg.topic, msg.partition, msg.timestamp, event.value)

        self.app.agent(self.source, name="count")(count)

    def handle(self, topic: str, partition: int, ts: float, value: bytes) -> str:
        """Applies one record; returns the outcome label (also counted in metrics)."""
        try:
            if topic == self.cfg.frames_topic:
                outcome = self._frame(partition, ts, value)
            else:
                outcome = self._event(partition, ts, value)
        except Exception as exc:                # a record we cannot parse: skipped, counted
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            log.warning("record.malformed", topic=topic, partition=partition, error=str(exc)[:200])
            outcome = "malformed"
        EVENTS.labels(topic, outcome).inc()
        if ts:
            LAG.observe(max(0.0, time.time() - ts))
        self.handled += 1
        return outcome

    def _frame(self, partition: int, ts: float, value: bytes) -> str:
        f = pb.Frame.FromString(value)
        if not f.job_id:
            raise ValueError("frame without a job id")
        try:
            layers = layer_bytes(f.frame)
        except FrameLayoutError as exc:
            log.warning("frame.layout_unreadable", job_id=f.job_id[:80], seq=f.seq, error=str(exc))
            layers = None
        counted = self.agg.on_frame(partition, ts, f.job_id, f.seq, f.bytes_in, f.bytes_out,
                                    f.worker, f.codec_seconds, layers)
        return "counted" if counted else "duplicate"

    def _event(self, partition: int, ts: float, value: bytes) -> str:
        e = pb.JobEvent.FromString(value)
        if not e.job_id:
            raise ValueError("job event without a job id")
        kind = e.WhichOneof("event")
        if kind == "opened":
            done = self.agg.on_opened(partition, ts, e.job_id, e.opened.profile)
        elif kind == "archived":
            a = e.archived
            done = self.agg.on_archived(partition, ts, e.job_id, a.seq, a.bytes_in, a.bytes_out, a.replica)
        elif kind == "finished":
            done = self.agg.on_final(partition, ts, e.job_id, e.finished.status or "done")
        elif kind == "aborted":
            done = self.agg.on_final(partition, ts, e.job_id, "aborted")
        else:
            return "ignored"                   # sealed: nothing to count
        return "counted" if done else "duplicate"

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
