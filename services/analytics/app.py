"""The faust app: two agents and four changelog-backed tables.

    cobol.frames ──┐ `parse`   (stateless: decodes, reads the frame's layer list)
    cobol.jobs.events ┴──────► <app id>-input (small JSON summaries, same partition) ──► `count`
                                                          (stateful: the tables of stats.py)

Both source topics are keyed by job id and have the same partition count, so a job's
frames and events share a partition number, kept on the input topic; every table key is
written from one partition only (see stats.py), which is what lets faust restore the
tables exactly from their changelogs after a restart.

Why two agents: the table updates of a batch are published, with the batch's offsets, in
one Kafka transaction when faust commits (processing_guarantee="exactly_once"; see
`flush`). faust publishes a commit's records topic-partition by topic-partition, so the
updates of one key must always come from one topic-partition to stay in order: `count`
therefore reads one topic. `parse` forwards with `Topic.send` inside the agent, which
faust publishes in the transaction that commits the source offsets (publish on commit).
Both read read_committed: frames of an aborted compressor transaction are never counted.
A record delivered twice anyway is counted once (stats.Aggregator dedupes by identity), which
holds only if the tables hold exactly the committed updates when records are delivered again:
every rebalance therefore rebuilds them from their changelogs (`forget_local_state`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import faust
from aiokafka.errors import IllegalStateError
from cobol_mesh import logging as mlog
from cobol_mesh.settings import ROOT, settings
from prometheus_client import Counter, Gauge, Histogram

from cobol_proto import mesh_pb2 as pb
from google.protobuf.message import DecodeError

from .frame_layers import FrameLayoutError, LayerBytes, layer_bytes
from .stats import Aggregator, State, Windows
from .writeback import WriteBack

EVENTS = Counter("cobol_analytics_events_total", "Records the analytics agent handled",
                 ["topic", "outcome"])
LAG = Histogram("cobol_analytics_lag_seconds", "Record timestamp to table update",
                buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
UNCOMMITTED = Gauge("cobol_analytics_uncommitted", "Records handled but not committed yet: acked "
                    "offsets, and the table updates and forwarded records attached to them", ["kind"])
READY = Gauge("cobol_analytics_ready", "1 once the tables are restored and partitions assigned")
REBUILDS = Counter("cobol_analytics_table_rebuilds", "Rebalances after which the tables were rebuilt "
                   "from their changelogs (forget_local_state)")
log = mlog.get("cobol.analytics")
COMMIT_SECONDS = 0.5     # how often offsets and table updates are committed


@dataclass(frozen=True)
class Config:
    app_id: str                # consumer group, transactional ids, changelog topic prefix
    brokers: str               # host:port,host:port
    frames_topic: str
    events_topic: str
    partitions: int            # of both source topics, and so of the changelogs
    replication: int           # of the changelog topics
    windows: Windows = Windows()
    data_dir: Path = ROOT / ".data" / "analytics"   # faust's own files (it writes some even with a memory store)

    @classmethod
    def from_settings(cls) -> "Config":
        partitions, brokers = cluster_facts(settings.topic_frames, settings.topic_events)
        data_dir = Path(os.environ.get("COBOL_ANALYTICS_DATA_DIR") or ROOT / ".data" / "analytics")
        return cls(app_id=f"{settings.group_prefix}-analytics", brokers=settings.kafka_bootstrap,
                   frames_topic=settings.topic_frames, events_topic=settings.topic_events,
                   partitions=partitions, replication=min(3, brokers),
                   data_dir=data_dir if data_dir.is_absolute() else ROOT / data_dir)


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


class AnalyticsApp(faust.App):
    """faust.App with the changes that exactly-once needs here: a partition nothing was
    committed for yet is read again from its start after a rebalance
    (`seek_fresh_partitions_to_start`), the table recovery reads the changelogs up to their
    last stable offsets as the brokers give them (`recover_up_to_stable_offsets`), a message
    skipped at a rebalance is not acked (`ack_processed_messages_only`), nothing is read while
    the partitions are sought back to their committed offsets (`hold_flow_while_seeking`),
    the offsets the fetcher jumps over are recorded without the record it delivers
    (`record_gaps_without_the_record`), a partition behind unreadable offsets commits again
    (`commit_past_unreadable_head`), and a stop commits nothing (for the data, a clean stop
    is a kill that exits 0).

    faust's own stop commits from three places (`App._stop_consumer` waits for the streams and
    commits with `start_new_transaction=False`, the consumer's `on_stop` does it again, and
    the 0.5 s commit timer keeps firing until the consumer stops); on a loaded broker one
    commit takes seconds, and these ending commits raced each other and the timer (the
    worker hung: "Can't send messages while not in transaction"). A kill is simpler and is
    what the kill test checks: every committed transaction holds a partition's offsets with
    the table updates and forwarded records of those offsets, and a restart reprocesses
    everything after them. So from the start of the stop nothing is committed (a timer
    commit under way is let finish); the open transactions are aborted when the restarted
    worker's producers fence them."""

    fresh_start_topics: frozenset = frozenset()     # set by Analytics: its source and input topics

    async def _stop_consumer(self) -> None:
        if self._consumer is not None:
            await stop_committing(self._consumer)
        await super()._stop_consumer()

    def _new_consumer(self):
        consumer = super()._new_consumer()
        seek_fresh_partitions_to_start(consumer, lambda: self.fresh_start_topics)
        recover_up_to_stable_offsets(consumer)
        ack_processed_messages_only(consumer)
        # Both wrap the fetch loop's _add_gap: the log, outermost, sees faust's own interval.
        record_gaps_without_the_record(consumer)
        log_offset_gaps(consumer, lambda: self.fresh_start_topics)
        hold_flow_while_seeking(consumer)
        commit_past_unreadable_head(consumer, lambda: self.rebalancing)
        return consumer


def hold_flow_while_seeking(consumer) -> None:
    """At the end of a table recovery faust resumes the stream partitions, seeks them to their
    committed offsets (`perform_seek`, one offset fetch per partition: seconds on a loaded
    broker), and only then resumes the flow control — which empties the agents' queues. The
    consumer's own flow is already running (the recovery resumed it to read the changelogs),
    so the records fetched during the seek went into those queues and were emptied out of
    them, while the seek had set the read offsets back to the committed ones: the next read
    jumped ~10 offsets and faust committed over the jump as a gap (the pause test: 8
    partitions at once). The consumer's flow is held from the start of the seek; faust resumes
    it after the flow control (`Recovery.on_recovery_completed`)."""
    perform_seek = consumer.perform_seek

    async def seek_with_flow_held() -> None:
        consumer.stop_flow()
        await perform_seek()
    consumer.perform_seek = seek_with_flow_held     # the instance's: the recovery calls consumer.perform_seek


def log_offset_gaps(consumer, topics) -> None:
    """faust commits over a jump in the offsets it reads as if the skipped offsets were
    processed (its 'gap': transaction markers, aborted records). A jump of more than one
    offset in `topics()` is logged (`consumer.gap`): after a rebalance it is how records
    fetched and dropped would be lost (docs/analytics.md, "Still open")."""
    add_gap = consumer._add_gap

    async def add_gap_logged(tp, offset_from: int, offset_to: int) -> None:
        if offset_to - offset_from > 1 and tp.topic in topics():
            log.warning("consumer.gap", topic=tp.topic, partition=tp.partition, first=offset_from,
                        next_read=offset_to, committed=consumer._committed_offset.get(tp))
        await add_gap(tp, offset_from, offset_to)
    consumer._add_gap = add_gap_logged      # the instance's: the fetch loop calls self._add_gap


def ack_processed_messages_only(consumer) -> None:
    """faust's Stream acks a message it skips without processing it — one of a previous
    generation, or one read while a rebalance has the flow suspended — and an acked offset is
    committed by the next commit, without the table updates of a record nobody counted. The
    pause test lost 31 records of one partition so (the jobs changelog went from the record
    before them straight to the record after them). A message the Stream processes is tracked
    (`Message.tracked`) before it is handed to the agent; an untracked one is refused here,
    so it stays uncommitted and is read again from the committed offset after the rebalance."""
    ack = consumer.ack

    def ack_if_processed(message) -> bool:
        if not message.tracked:
            return False
        return ack(message)
    consumer.ack = ack_if_processed     # the instance's: Message.on_final_ack calls consumer.ack


def recover_up_to_stable_offsets(consumer) -> None:
    """The table recovery reads each changelog partition up to a 'highwater' that faust, with
    exactly-once, takes from aiokafka's `last_stable_offset` — the LSO seen in the last fetch
    response of the partition, kept in the assignment's state. A rebalance gives a new
    assignment whose states know no fetch yet (the partitions are paused from the start), so
    every highwater read None, taken as -1, 'nothing to read': the recovery finished at once
    with the tables that `Analytics.forget_local_state` had just emptied (found by the pause
    test: a worker that rejoins its group counted on from empty tables). Here the highwaters
    come from the brokers: a read_committed consumer's `end_offsets` is each partition's last
    stable offset."""
    thread = consumer._thread

    async def highwaters(partitions):
        return await thread._ensure_consumer().end_offsets(list(partitions))
    thread._highwaters = highwaters     # the instance's: Consumer.highwaters calls self._thread._highwaters


def seek_fresh_partitions_to_start(consumer, topics) -> None:
    """After a rebalance faust seeks every partition to its committed offset, so that the
    records it fetched but dropped (the agents' buffers are cleared, and a record of the
    previous generation is skipped) are read again. aiokafka's `seek_to_committed` does not
    seek a partition whose committed offset is none or 0: it stays where the fetcher was, and
    the dropped records were never read again (a loop of the restart tests here lost a frame,
    then a ChunkArchived, each among the first records of its partition; the likely cause of
    the ChunkArchived a CI run lost). Such partitions of `topics()` go back to their first
    offset (what auto_offset_reset=earliest reads)."""
    seek_to_committed = consumer.seek_to_committed

    async def seek():
        committed = await seek_to_committed()
        mine = topics()
        for tp, offset in committed.items():
            if not offset and tp.topic in mine:
                try:
                    # what aiokafka does for a committed offset; below the log's start,
                    # auto_offset_reset=earliest takes over
                    consumer._thread.seek(tp, 0)
                except IllegalStateError:       # unassigned meanwhile: a new rebalance seeks again
                    pass
        return committed
    consumer.seek_to_committed = seek     # the instance's: perform_seek calls self.seek_to_committed


SKIPPED = Counter("cobol_analytics_unreadable_offsets_total",
                  "Offsets between a partition's committed offset and its first acked record that the "
                  "consumer passed without delivering (transaction markers, aborted records)", ["topic"])


def record_gaps_without_the_record(consumer) -> None:
    """faust records the offsets the fetcher jumped over (transaction markers, aborted
    records) as a gap `[last read + 1, offset + 1)`: the interval holds the offset of the
    record just delivered too, which is then acked as well. At the next commit the gap is
    merged into the acked offsets, and the duplicate ends faust's first run of consecutive
    offsets: each commit then advances a partition only to the next duplicate. With a
    transaction marker after almost every record (each producer of cobol.jobs.events and
    cobol.frames commits small transactions), a partition advanced by 1-2 offsets per commit
    while hundreds of records a second were acked: the acked offsets and the table updates
    attached to them (published only when committed) grew without bound (the soak's
    analytics memory; session 18 measured a partition with 304 acked offsets for 236
    distinct ones). The gap recorded here stops before the delivered record."""
    add_gap = consumer._add_gap

    async def _add_gap(tp, offset_from: int, offset_to: int) -> None:
        await add_gap(tp, offset_from, offset_to - 1)
    consumer._add_gap = _add_gap        # the instance's: the fetch loop calls self._add_gap


def unreadable_head(acked: list, committed: int | None, read: int | None,
                    gap_start: int | None = None) -> range:
    """The offsets to take as read so that a partition commits again: those after the
    committed offset and before the first acked record, once the consumer has read past
    them. Empty when nothing is missing or the consumer has not got there yet.

    faust commits a partition only while its acked offsets start at most one past the
    committed offset (one transaction marker); the rest of an unread range must have been
    recorded as a gap when the fetcher jumped over it. A gap missed at a (re)assignment
    (observed here after a worker restart: every partition stuck with its first ack 2-14
    offsets past the committed offset, the dead worker's aborted transaction and markers)
    stalls that partition for good: nothing is committed, and its acked offsets and the
    table updates attached to its records pile up in memory (the soak's analytics growth)."""
    if not acked or not committed or read is None:
        return range(0)
    first = min(acked) if gap_start is None else min(min(acked), gap_start)
    if first - committed <= 1 or read < first:
        return range(0)
    return range(committed + 1, first)


def commit_past_unreadable_head(consumer, rebalancing) -> None:
    """Before faust computes a partition's new offset (at each commit), fills an unreadable
    head (see `unreadable_head`) as faust fills a gap. Not during a rebalance: records
    fetched then may be dropped and read again after the seek to the committed offsets."""
    new_offset = consumer._new_offset

    def _new_offset(tp):
        if not rebalancing():
            gap = consumer._gap.get(tp)
            skipped = unreadable_head(consumer._acked.get(tp), consumer._committed_offset.get(tp),
                                      consumer._read_offset.get(tp),
                                      min((i.begin for i in gap), default=None) if gap else None)
            if skipped:
                consumer._acked[tp].extend(skipped)
                consumer._acked_index[tp].update(skipped)
                SKIPPED.labels(tp.topic).inc(len(skipped))
                log.warning("commit.unreadable_head", topic=tp.topic, partition=tp.partition,
                            first=skipped.start, last=skipped.stop - 1)
        return new_offset(tp)
    consumer._new_offset = _new_offset     # the instance's: Consumer._filter_committable_offsets calls it


async def commit_under_way_ended(consumer) -> None:
    """Returns once no commit of `consumer` is under way (faust keeps it in `_commit_fut`)."""
    while consumer._commit_fut is not None:
        await asyncio.wait([consumer._commit_fut])


async def stop_committing(consumer) -> None:
    """From now on `consumer` commits nothing; returns once a commit under way has ended."""
    async def no_commit(topics=None, start_new_transaction: bool = True) -> bool:
        return False
    consumer.commit = no_commit          # the instance's: the timer, wait_empty and on_stop call self.commit
    await commit_under_way_ended(consumer)
    log.info("stop.commits_stopped")


class Analytics:
    """The faust app, its tables, and the two agents that feed them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        (cfg.data_dir / cfg.app_id).mkdir(parents=True, exist_ok=True)
        self.app = AnalyticsApp(
            cfg.app_id,
            broker=[f"kafka://{b.strip()}" for b in cfg.brokers.split(",")],
            datadir=str(cfg.data_dir / cfg.app_id),     # never the current directory
            processing_guarantee="exactly_once",
            stream_publish_on_commit=True,     # Topic.send in an agent: sent with the commit
            store="memory://",                 # tables restore from their changelogs
            web_enabled=False,                 # queries go through gRPC (server.py)
            topic_partitions=cfg.partitions,
            topic_replication_factor=cfg.replication,
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_commit_interval=COMMIT_SECONDS,
            producer_acks=-1,
            producer_max_request_size=1 << 20,
            consumer_max_fetch_size=settings.kafka_max_bytes,
            logging_config=None,
            loghandlers=[],
        )

        def table(name: str, what: str):
            return self.app.Table(name, default=None, partitions=cfg.partitions, key_type=str, help=what)
        # `state`: the tables, read by queries; `batch`: the same tables as `count` writes
        # them, each changed key written once per batch (writeback.py).
        self.state = State(totals=table("totals", "all-time aggregates per partition"),
                           series=table("series", "bucket starts per partition and window"),
                           buckets=table("buckets", "tumbling-window aggregates"),
                           jobs=table("jobs", "job id -> profile, pending frames, seen seqs"),
                           ended=table("ended", "ended job ids per partition and minute"))
        self.batch = State(*(WriteBack(t) for t in self.state.mappings()))
        self.agg = Aggregator(self.batch, cfg.windows)
        # Source topics exist already (scripts/infra.py declares them): never create them here.
        self.source = self.app.topic(cfg.frames_topic, cfg.events_topic, key_type=bytes,
                                     value_type=bytes, key_serializer="raw",
                                     value_serializer="raw", internal=False)
        self.input = self.app.topic(self.input_topic, key_type=bytes, key_serializer="raw",
                                    value_serializer="json", partitions=cfg.partitions,
                                    internal=True)
        self.app.fresh_start_topics = frozenset({cfg.frames_topic, cfg.events_topic, self.input_topic})
        self.handled = 0
        self._timestamps: list[float] = []

        async def parse(stream) -> None:
            async for event in stream.events():
                msg = event.message
                summary = self.summarize(msg.topic, msg.partition, msg.timestamp, event.value)
                if summary is not None:
                    await self.input.send(key=msg.key, value=summary, partition=msg.partition)

        async def count(stream) -> None:
            # faust acks an event when the next one is asked for, i.e. after its table
            # records were attached to it (`flush`).
            async for event in stream.events():
                try:
                    self.apply(event.message.partition, event.value)
                    self.flush(event)
                except Exception:
                    # A table update failed: stop hard. Nothing of this event is committed;
                    # a restart reprocesses it from the last commit.
                    log.exception("agent.failed", partition=event.message.partition)
                    os._exit(70)

        self.app.agent(self.source, name="parse")(parse)
        self.app.agent(self.input, name="count")(count)

        @self.app.on_partitions_revoked.connect
        async def rebuild_after_rebalance(_app, revoked, **_kw) -> None:
            # A commit under way has taken its offsets and is publishing their attachments;
            # let it end, then forget with no await in between, so that no commit sees
            # offsets whose attachments were dropped.
            await commit_under_way_ended(self.app.consumer)
            self.forget_local_state()

    def forget_local_state(self) -> None:
        """At every rebalance: drop the tables' in-memory contents and make the recovery that
        follows read every changelog partition from its start, so the tables hold exactly what
        was committed, and nothing of the records processed since the last commit.

        Why: faust keeps an in-memory table across a rebalance that gives a worker back the
        partitions it had, and its recovery then replays only the changelog records written
        since it last read (memory store, same assignment: nothing is 'revoked'). The records
        `count` handled after the last commit are delivered again, but the table still holds
        their updates for every key no replayed record overwrote — a new job's entry, its
        `seen` sequence numbers — while a key that was overwritten (the partition's totals) is
        back at its committed value. The dedupe then takes the redelivered record for one
        already counted: it is lost from the totals. This was the kill test's lost record: a
        restarted worker (or a loaded one that misses its heartbeats) rejoins the group while
        the dead member's session runs out."""
        for table in self.state.mappings():
            store = table.data
            store.clear()
            getattr(store, "_key_partition", {}).clear()
        recovery = self.app.tables.recovery
        recovery.active_offsets.clear()
        recovery.standby_offsets.clear()
        recovery.completed.clear()        # not ready (queries: UNAVAILABLE) until rebuilt
        REBUILDS.inc()
        # The changelog records attached to records handled since the last commit: those
        # records come again and are counted again from the rebuilt tables. Left in place,
        # faust's next commit publishes them through a transactional producer that the
        # rebalance ended ("Can't send messages while not in transaction": the worker crashed).
        self.app._attachments._pending.clear()
        # ... and with them the consumer's acked offsets of those records. faust's revocation
        # commit is skipped when a timer commit is under way (Consumer.commit waits for it and
        # returns without committing), and faust drops a partition's committed offset at
        # revocation, so the next timer commit took the acked offsets as committable and
        # committed them without their table updates. Cleared, those records are read again
        # from the committed offsets after the rebalance.
        consumer = self.app.consumer
        consumer._acked.clear()
        consumer._acked_index.clear()
        consumer._gap.clear()

    def internal_sizes(self) -> dict:
        """Entry counts of what this worker holds in memory: the tables and the faust
        buffers that a rebalance or a commit should empty (for memwatch.py)."""
        out = {}
        for t in self.state.mappings():
            out[f"table.{t.name}"] = len(t.data)
            out[f"key_partition.{t.name}"] = len(getattr(t.data, "_key_partition", ()))
        out["attachments"] = sum(len(v) for v in self.app._attachments._pending.values())
        consumer = self.app.consumer
        out["acked"] = sum(len(v) for v in consumer._acked.values())
        out["gap"] = sum(len(v) for v in consumer._gap.values())
        for tp, acked in consumer._acked.items():
            if len(acked) > 50:      # a partition whose offsets are not being committed
                srt = sorted(acked)
                holes = [(a, b) for a, b in zip(srt, srt[1:]) if b - a > 1][:4]
                out[f"stuck.{tp.topic}.{tp.partition}"] = (
                    f"acked:{len(acked)},first:{srt[0]},last:{srt[-1]},holes:{holes},"
                    f"committed:{consumer._committed_offset.get(tp)},read:{consumer._read_offset.get(tp)},"
                    f"gap:{sorted((i.begin, i.end) for i in consumer._gap.get(tp) or [])[:4]}")
        out["recovery.buffers"] = sum(len(v) for v in self.app.tables.recovery.buffers.values())
        return out

    def export_uncommitted(self) -> None:
        """UNCOMMITTED from internal_sizes: flat when commits keep up, rising when a
        partition stops committing (what the soak's memory growth was)."""
        try:
            sizes = self.internal_sizes()
        except (AttributeError, KeyError):      # consumer not set up yet (start, shutdown)
            return
        stuck = {k: v for k, v in sizes.items() if k.startswith("stuck.")}
        if stuck and sizes["acked"] > 1000:
            log.warning("commit.behind", acked=sizes["acked"], attached=sizes["attachments"], **stuck)
        UNCOMMITTED.labels("acked").set(sizes["acked"])
        UNCOMMITTED.labels("attached").set(sizes["attachments"])

    @property
    def input_topic(self) -> str:
        return f"{self.cfg.app_id}-input"

    # -- parse: records -> summaries ------------------------------------------------------

    def summarize(self, topic: str, partition: int, ts: float, value: bytes) -> dict | None:
        """The summary `count` needs of one record; None (logged, counted) if it does not
        parse: it can never be counted, and must not stop the stream."""
        try:
            if topic == self.cfg.frames_topic:
                out = self._frame_summary(value)
            else:
                out = self._event_summary(value)
        except (DecodeError, ValueError) as exc:
            log.warning("record.malformed", topic=topic, partition=partition, error=str(exc)[:200])
            EVENTS.labels(topic, "malformed").inc()
            return None
        out["ts"] = ts or 0.0
        return out

    def _frame_summary(self, value: bytes) -> dict:
        f = pb.Frame.FromString(value)
        if not f.job_id:
            raise ValueError("frame without a job id")
        try:
            layers = [[lb.layer, lb.bytes_in, lb.bytes_out] for lb in layer_bytes(f.frame)]
        except FrameLayoutError as exc:
            log.warning("frame.layout_unreadable", job_id=f.job_id[:80], seq=f.seq, error=str(exc))
            layers = None
        return {"k": "frame", "job": f.job_id, "seq": f.seq, "in": f.bytes_in, "out": f.bytes_out,
                "worker": f.worker, "s": f.codec_seconds, "layers": layers}

    def _event_summary(self, value: bytes) -> dict:
        e = pb.JobEvent.FromString(value)
        if not e.job_id:
            raise ValueError("job event without a job id")
        kind = e.WhichOneof("event")
        if kind == "opened":
            return {"k": "opened", "job": e.job_id, "profile": e.opened.profile}
        if kind == "archived":
            a = e.archived
            return {"k": "archived", "job": e.job_id, "seq": a.seq, "in": a.bytes_in,
                    "out": a.bytes_out, "replica": a.replica}
        if kind == "finished":
            return {"k": "final", "job": e.job_id, "status": e.finished.status or "done"}
        if kind == "aborted":
            return {"k": "final", "job": e.job_id, "status": "aborted"}
        return {"k": "ignored", "job": e.job_id}              # sealed: nothing to count

    # -- count: summaries -> tables -------------------------------------------------------

    def apply(self, partition: int, s: dict) -> str:
        for wb in self.batch.mappings():
            wb.partition = partition
        agg, kind, ts = self.agg, s["k"], s["ts"]
        if kind == "frame":
            layers = None if s["layers"] is None else [LayerBytes(*x) for x in s["layers"]]
            done = agg.on_frame(partition, ts, s["job"], s["seq"], s["in"], s["out"], s["worker"],
                                s["s"], layers)
        elif kind == "opened":
            done = agg.on_opened(partition, ts, s["job"], s["profile"])
        elif kind == "archived":
            done = agg.on_archived(partition, ts, s["job"], s["seq"], s["in"], s["out"], s["replica"])
        elif kind == "final":
            done = agg.on_final(partition, ts, s["job"], s["status"])
        else:
            done = None
        outcome = "ignored" if done is None else "counted" if done else "duplicate"
        EVENTS.labels(kind, outcome).inc()
        self.handled += 1
        self._timestamps.append(ts)
        return outcome

    def flush(self, event) -> None:
        """Each key the event changed to its table, and its changelog record attached to
        the event. faust publishes attached records when it commits the event's offset,
        through the partition's transactional producer, right before the transaction that
        commits the offsets: the table updates and the offsets are committed together or
        not at all (see writeback.py for why not `Table.__setitem__` or `Topic.send`)."""
        for wb in self.batch.mappings():
            table = wb.table
            for partition, key, value in wb.drain():
                # Event._attach is the private half of faust's publish-on-commit (what
                # Topic.send does inside an agent); it takes the event explicitly.
                event._attach(
                    table.changelog_topic, key, value, partition=partition,
                    key_serializer=table.key_serializer,
                    value_serializer="raw" if value is None else table.value_serializer)
        now = time.time()
        for ts in self._timestamps:
            if ts:
                LAG.observe(max(0.0, now - ts))
        self._timestamps.clear()

    def create_topics(self) -> None:
        """faust declares its changelog and input topics itself, but a worker that starts
        before they show up in the metadata writes to a topic with "0 partitions"; create
        them first."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.cfg.brokers})
        rf = self.cfg.replication
        isr = str(min(2, rf))
        wanted = {t.changelog_topic.get_topic_name(): {"cleanup.policy": "compact", "min.insync.replicas": isr}
                  for t in self.app.tables.values()}
        wanted[self.input_topic] = {"min.insync.replicas": isr, "retention.ms": str(7 * 86400_000)}
        futures = admin.create_topics([NewTopic(n, self.cfg.partitions, rf, config=c) for n, c in wanted.items()])
        for name, fut in futures.items():
            try:
                fut.result(60)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise SystemExit(f"analytics: cannot create the topic {name}: {exc}") from None
        deadline = time.monotonic() + 60            # new topics reach the metadata a bit later
        while True:
            meta = admin.list_topics(timeout=30)
            got = {n: len(meta.topics[n].partitions) if n in meta.topics else 0 for n in wanted}
            wrong = {n: g for n, g in got.items() if g != self.cfg.partitions}
            if not wrong:
                return
            if any(wrong.values()) or time.monotonic() > deadline:
                raise SystemExit(f"analytics: topics with the wrong partition count {wrong} "
                                 f"(the source topics have {self.cfg.partitions})")
            time.sleep(0.2)

    def ready(self) -> bool:
        """Tables restored and partitions assigned: queries see everything committed so far."""
        try:
            recovered = self.app.tables.recovery.completed.is_set()
            assigned = bool(self.app.consumer.assignment())
        except Exception:
            return False
        return recovered and assigned


def quiet_faust_logs(level: str, override: str | None = None) -> None:
    """faust and aiokafka log through the standard library; keep their chatter at warning.
    `override` (COBOL_ANALYTICS_FAUST_LOG) lets a diagnosis through: a level for all three
    ("info") and/or `logger=level` pairs ("faust.tables.recovery=debug,aiokafka=info")."""
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(max(logging.WARNING, getattr(logging, level.upper(), 20)))
    for item in filter(None, (override or "").replace(" ", "").split(",")):
        name, _, lvl = item.rpartition("=")
        value = logging.getLevelName(lvl.upper())
        if not isinstance(value, int):
            raise SystemExit(f"analytics: COBOL_ANALYTICS_FAUST_LOG: unknown level {lvl!r} in {item!r}")
        for logger in (name,) if name else ("faust", "mode", "aiokafka"):
            logging.getLogger(logger).setLevel(value)
