"""The coordinator's leader loop: lease, job events, heartbeats, failure detection, progress.

Every replica runs this loop; one holds the Redis lease (SET NX PX with a fencing token from
INCR, renewed every lease/3) and does the work; the others retry the lease every
COBOL_LEASE_RETRY_S and serve reads. The leader:

- reads cobol.jobs.events with `assign()` from the offsets stored in the state, applies a batch
  to the ledger and writes the new records *and the next offsets* in one fenced write, so a new
  leader continues exactly where the state stands: no event lost, none applied twice;
- dead-letters (cobol.jobs.dlq, with the reason) an event it cannot apply, before the write
  that moves the offset past it: a hostile event never crashes it or loops a restart;
- reads cobol.nodes.heartbeats from the end, marks nodes suspect/down, writes node records and
  events, and publishes the events to cobol.nodes.events;
- runs the progress watch; publishes each job's new JobStatus to cobol.jobs.status (Watch).

Any Redis or Kafka error is logged and retried after a backoff, re-reading the state first
(a Redis restart may have rolled it back to its last snapshot; the offsets roll back with it).
A refused (fenced) write makes it a standby again.
"""
from __future__ import annotations

import threading
import time

import redis
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from google.protobuf.message import DecodeError

from cobol_mesh import kafka, membership, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings
from cobol_proto import cluster_pb2 as cpb

from . import ledger, progress
from .config import CoordinatorConfig
from .nodes import NodeTable
from .redrive import Redriver
from .state import Batch, Fenced, State

log = mlog.get("cobol.coordinator.leader")
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, KafkaException, OSError)


def assign_consumer(name: str) -> Consumer:
    """A consumer that is only ever `assign()`ed (its positions live in our state, not in a
    consumer group; the group id only names it)."""
    return Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "client.id": f"cobol-{settings.instance}-{name}",
        "group.id": group(f"coordinator-{name}"), "enable.auto.commit": False,
        "enable.auto.offset.store": False, "isolation.level": "read_committed",
        "fetch.wait.max.ms": 100, "fetch.max.bytes": 4 * settings.kafka_max_bytes,
        "max.partition.fetch.bytes": settings.kafka_max_bytes,
        "receive.message.max.bytes": 4 * settings.kafka_max_bytes + 1024 * 1024,
        "queued.max.messages.kbytes": 64 * 1024, "socket.keepalive.enable": True} | metrics.lag_stats_config())


def partitions(consumer: Consumer, topic: str) -> list[int]:
    md = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None or not md.partitions:
        raise KafkaException(md.error if md is not None else f"topic {topic} is unknown")
    return sorted(md.partitions)


def sender(msg) -> str:
    """The instance that produced a record (the `cobol-instance` header every service sets)."""
    for k, v in msg.headers() or []:
        if k == "cobol-instance" and v:
            return v.decode("utf-8", errors="replace")
    return ""


class Leader:
    def __init__(self, instance: str, state: State, cfg: CoordinatorConfig, stopping: threading.Event) -> None:
        self.instance, self.state, self.cfg, self.stopping = instance, state, cfg, stopping
        self.token: int | None = None
        self.renewed_at = 0.0
        self.producer = kafka.producer()
        self.events = assign_consumer("events")
        self.beats = assign_consumer("beats")
        self.table: NodeTable | None = None
        self.redriver = Redriver(self.producer)
        self.became_leader = threading.Event()   # for tests and figures: set while leading
        self._last_tick = self._last_progress = 0.0

    # -- the lease ---------------------------------------------------------------------------
    def is_leader(self) -> bool:
        return self.token is not None

    def _try_lead(self) -> None:
        token = self.state.try_acquire(self.instance, self.cfg.lease_ms)
        if token is None:
            self.stopping.wait(self.cfg.retry_s)
            return
        self.token, self.renewed_at = token, time.monotonic()
        try:
            self._takeover()
        except Exception:
            self._step_down("takeover failed")
            raise
        self.became_leader.set()
        log.info("leader.elected", token=token)

    def _renew(self) -> None:
        now = time.monotonic()
        if now - self.renewed_at < self.cfg.lease_ms / 3000:
            return
        try:
            ok = self.state.renew(self.instance, self.token, self.cfg.lease_ms)
        except TRANSIENT as exc:
            ok = None
            log.warning("leader.renew_failed", error=str(exc))
        if ok:
            self.renewed_at = now
        elif ok is False or now - self.renewed_at >= self.cfg.lease_ms / 1000:
            self._step_down("lease lost" if ok is False else "lease expired while Redis was unreachable")

    def _step_down(self, why: str) -> None:
        if self.token is not None:
            log.warning("leader.stepped_down", token=self.token, reason=why)
        self.token = None
        self.table = None
        self.became_leader.clear()
        for c in (self.events, self.beats):
            try:
                c.unassign()
            except KafkaException:
                pass

    def release(self) -> None:
        if self.token is not None:
            try:
                self.state.release(self.instance, self.token)
            except TRANSIENT:
                pass
            self._step_down("shutting down")

    # -- takeover: continue from the state ---------------------------------------------------
    def _takeover(self) -> None:
        self._resync()
        self.beats.assign([TopicPartition(membership.TOPIC_HEARTBEATS, p, OFFSET_END)
                           for p in partitions(self.beats, membership.TOPIC_HEARTBEATS)])
        table = NodeTable(self.cfg.thresholds, self.state.last_event_seq() + 1)
        table.load(self.state.nodes(), time.monotonic())
        self.table = table
        self._backfill_statuses()
        self._emit_finished(self.state.finish_pending())

    def _backfill_statuses(self, newest: int = 1000) -> None:
        """Records written before statuses were kept beside them get one (the newest, which
        ListJobs reads; older ones are computed when asked for)."""
        ids = self.state.job_ids(newest)
        have = self.state.statuses(ids)
        lacking = [j for j in ids if j not in have]
        if not lacking:
            return
        batch = Batch()
        for raw in self.state.jobs(lacking).values():
            self._put(batch, cpb.JobRecord.FromString(raw))
        self.state.write(self.instance, self.token, batch)
        log.info("leader.statuses_backfilled", jobs=len(batch.status))

    def _resync(self) -> None:
        """Seek the events consumer to the offsets the state includes."""
        stored = self.state.offsets(settings.topic_events)
        tps = [TopicPartition(settings.topic_events, p, stored.get(p, OFFSET_BEGINNING))
               for p in partitions(self.events, settings.topic_events)]
        self.events.assign(tps)
        log.info("leader.resync", offsets={tp.partition: tp.offset for tp in tps})

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.2
        resync = False
        while not self.stopping.is_set():
            try:
                if self.token is None:
                    self._try_lead()
                    continue
                if resync:
                    self._resync()
                    resync = False
                self._renew()
                if self.token is not None:
                    self._step()
                backoff = 0.2
            except Fenced as exc:
                self._step_down(f"fenced: {exc}")
            except TRANSIENT as exc:
                log.warning("leader.retry", error=str(exc), backoff_s=backoff)
                resync = True
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:      # noqa: BLE001 - a bug must not take the replica down: hand over
                log.exception("leader.failed")
                self.release()
                self.stopping.wait(2.0)
        self.release()
        for c in (self.events, self.beats):
            c.close()
        self.producer.flush(5)

    def _step(self) -> None:
        msgs = kafka.consume_batch(self.events, 500, 0.1, log, "coordinator.events")
        if msgs:
            self._apply(msgs)
        self._membership()
        now = time.monotonic()
        if now - self._last_progress >= 1.0:
            self._last_progress = now
            self._progress()

    # -- job events --------------------------------------------------------------------------
    def _apply(self, msgs) -> None:
        dead: list[tuple[object, str]] = []
        parsed = []
        for m in msgs:
            try:
                ev = pb.JobEvent.FromString(m.value() or b"")
                ledger.check_event(ev)
            except DecodeError:
                dead.append((m, "not a JobEvent (protobuf decode failed)"))
                continue
            except ledger.Unapplicable as exc:
                dead.append((m, str(exc)))
                continue
            if ev.WhichOneof("event") != "finished":        # JobFinished: our own output
                parsed.append((m, ev))
        ids = list(dict.fromkeys(ev.job_id for _m, ev in parsed))
        recs = {j: cpb.JobRecord.FromString(raw) for j, raw in self.state.jobs(ids).items()}
        before = {j: recs[j].status if j in recs else "" for j in ids}
        touched: set[str] = set()
        for m, ev in parsed:
            if not ev.at:
                ev.at = (m.timestamp()[1] / 1000) if m.timestamp()[1] > 0 else time.time()
            who = sender(m)
            if ev.HasField("archived") and not ev.archived.replica and who:
                ev.archived.replica = who[:ledger.MAX_NAME]     # an archive that does not name itself
            try:
                with telemetry.consumed(m, "coordinator.apply", job_id=ev.job_id, event=ev.WhichOneof("event")):
                    recs[ev.job_id] = ledger.apply(recs.get(ev.job_id), ev, min_replicas=self.cfg.min_replicas,
                                                   opened_by=who)
                touched.add(ev.job_id)
            except Exception as exc:          # noqa: BLE001 - whatever it is, it must not stop the ledger
                dead.append((m, f"cannot apply: {exc!r}"[:1024]))
        if dead:
            self._dead_letter(dead)
        batch = Batch(offsets={(t.topic, t.partition): t.offset for t in kafka.batch_offsets(msgs)})
        finishing = []
        statuses = {}
        for j in touched:
            rec = recs[j]
            statuses[j] = self._put(batch, rec)
            batch.order[j] = rec.created_at      # an Opened seen late moves the creation time
            if rec.status in ledger.FINAL:
                batch.open_del.add(j)
                if before[j] not in ledger.FINAL:
                    batch.finish_add.add(j)
                    finishing.append(j)
            elif not before[j]:
                batch.open_add.add(j)
        self.state.write(self.instance, self.token, batch)
        self._publish([recs[j] for j in touched], statuses)
        self._emit_finished(finishing, recs)

    def _put(self, batch: Batch, rec) -> pb.JobStatus:
        """The record and, beside it, its public status (what GetJob and ListJobs answer)."""
        st = ledger.to_status(rec, self.cfg.min_replicas)
        batch.jobs[rec.job_id] = rec.SerializeToString()
        batch.status[rec.job_id] = st.SerializeToString()
        return st

    def _dead_letter(self, dead) -> None:
        tracker = kafka.DeliveryTracker()
        for m, reason in dead:
            dl = pb.DeadLetter(topic=m.topic(), partition=m.partition(), offset=m.offset(),
                               key=m.key() or b"", value=m.value() or b"", reason=reason)
            kafka.produce(self.producer, membership.TOPIC_JOBS_DLQ, m.key() or b"", dl.SerializeToString(),
                          tracker=tracker)
            log.warning("coordinator.dead_letter", partition=m.partition(), offset=m.offset(), reason=reason)
            metrics.error("dead_letter")
            metrics.JOBS.labels("coordinator", self.instance, "dead_letter").inc()
        kafka.flush_or_raise(self.producer, tracker)   # durable before the offset moves past them

    def _publish(self, recs, statuses: dict | None = None) -> None:
        """The new JobStatus of each touched job, to cobol.jobs.status (Watch streams; the
        API's WebSocket reads them through Cluster.Watch)."""
        for rec in recs:
            st = (statuses or {}).get(rec.job_id) or ledger.to_status(rec, self.cfg.min_replicas)
            kafka.produce(self.producer, membership.TOPIC_JOB_STATUS, rec.job_id, st.SerializeToString())
        self.producer.poll(0)

    def _emit_finished(self, job_ids, recs=None) -> None:
        """JobFinished for jobs that reached done/failed; the pending set makes it survive a
        crash between the ledger write and this produce (at least once)."""
        if not job_ids:
            return
        if recs is None:
            recs = {j: cpb.JobRecord.FromString(raw) for j, raw in self.state.jobs(job_ids).items()}
        tracker = kafka.DeliveryTracker()
        for j in job_ids:
            rec = recs.get(j)
            if rec is None:
                continue
            ev = pb.JobEvent(job_id=j, at=time.time(), finished=pb.JobFinished(status=rec.status, reason=rec.reason))
            kafka.produce(self.producer, settings.topic_events, j, ev.SerializeToString(), tracker=tracker)
            metrics.JOBS.labels("coordinator", self.instance, rec.status).inc()
            log.info("job.finished", job_id=j, status=rec.status, reason=rec.reason or None,
                     bytes_in=rec.bytes_in, bytes_out=rec.bytes_out, chunks=rec.chunk_count)
        kafka.flush_or_raise(self.producer, tracker)
        self.state.write(self.instance, self.token, Batch(finish_del=set(job_ids)))

    # -- membership ----------------------------------------------------------------------------
    def _membership(self) -> None:
        table = self.table
        events: list[cpb.NodeEvent] = []
        for m in kafka.consume_batch(self.beats, 1000, 0, log, "coordinator.beats"):
            try:
                hb = cpb.Heartbeat.FromString(m.value() or b"")
            except DecodeError:
                log.warning("coordinator.bad_heartbeat", offset=m.offset())
                continue
            events += table.beat(hb, time.time(), time.monotonic())
        now = time.monotonic()
        if now - self._last_tick >= self.cfg.tick_s:
            self._last_tick = now
            events += table.tick(time.time(), now)
        elif not events and not table.dirty:
            return
        nodes, gone = table.take_dirty(), table.take_forgotten()
        if not nodes and not events and not gone:
            return
        self.state.write(self.instance, self.token, Batch(
            nodes=nodes, nodes_del=gone, node_events=[(e.seq, e.SerializeToString()) for e in events]))
        for e in events:
            kafka.produce(self.producer, membership.TOPIC_NODE_EVENTS, e.instance, e.SerializeToString())
            log.info("node." + e.kind, instance=e.instance, role=e.role, reason=e.reason)
        self.producer.poll(0)

    # -- the progress watch ----------------------------------------------------------------------
    def _progress(self) -> None:
        ids = self.state.open_jobs()
        if not ids:
            return
        recs = {j: cpb.JobRecord.FromString(raw) for j, raw in self.state.jobs(ids).items()}
        nodes = self.table.nodes if self.table else {}
        now = time.time()
        actions = progress.check(list(recs.values()), nodes, now, self.cfg.limits, self.cfg.min_replicas)
        if not actions:
            return
        batch, failed = Batch(), []
        for a in actions:
            rec = recs[a.job_id]
            if a.kind == "fail":
                ledger.fail(rec, a.reason, now)
                batch.open_del.add(a.job_id)
                batch.finish_add.add(a.job_id)
                failed.append(a.job_id)
                log.warning("job.failed_by_watch", job_id=a.job_id, reason=a.reason)
            else:
                rec.redrives += 1
                rec.redriven_at = now
                log.warning("job.redrive", job_id=a.job_id, seqs=len(a.seqs), redrives=rec.redrives)
            self._put(batch, rec)
        self.state.write(self.instance, self.token, batch)
        for a in actions:
            if a.kind == "redrive":
                self.redriver.start(recs[a.job_id], a.seqs)
        self._publish([recs[a.job_id] for a in actions])
        self._emit_finished(failed, recs)

