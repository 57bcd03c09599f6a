"""Device records from cobol.ingest.raw (key = stream id, value = one record) become jobs.

Records are gathered in one window per partition, grouped by stream. A window is flushed when
one stream's bytes reach COBOL_CHUNK_SIZE, the window reaches 4 chunks, or its first record has
lingered COBOL_LINGER_MS. Each stream of a flushed window becomes one job (source kafka, name =
the stream id) of newline-terminated records. Malformed records go to cobol.ingest.dlq with the
reason; the stream goes on.

Exactly once: a flush is one Kafka transaction holding the jobs' events and chunks, the dead
letters and the consumed offsets. A crash before the commit leaves nothing visible to
read_committed readers, and the records are read again. Job ids are deterministic
(`kafka-p<partition>-o<first offset>`), so even a replay names the same jobs.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition

from cobol_mesh import ids, kafka, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings

from . import events
from .manifest import Manifests

log = mlog.get("cobol.ingest.raw")
PROFILE = "fast"
BATCH = 500                 # records per consume


def validate(key: bytes | None, value: bytes | None) -> str | None:
    """Why a record is malformed, or None."""
    try:
        ids.check_stream_key(key)
    except ids.InvalidName as exc:
        return str(exc)
    if not value:
        return "empty value"
    if len(value) > settings.max_record_bytes:
        return f"record larger than COBOL_MAX_RECORD_BYTES={settings.max_record_bytes}"
    if b"\n" in value:
        return "value contains a newline: a record is one line"
    return None


@dataclass
class _Stream:
    first_offset: int
    data: bytearray = field(default_factory=bytearray)
    records: int = 0


@dataclass
class _Window:
    topic: str
    partition: int
    first_offset: int
    opened: float
    last_offset: int = -1
    size: int = 0
    streams: dict = field(default_factory=dict)
    dead: list = field(default_factory=list)


class RawConsumer:
    def __init__(self, instance: str, manifests: Manifests, stopping) -> None:
        self.instance = instance
        self.manifests = manifests
        self.stopping = stopping
        self.windows: dict[int, _Window] = {}
        self.chunk_size = min(settings.chunk_size, settings.kafka_max_bytes - 64 * 1024)
        self.linger = settings.linger_ms / 1000.0
        self.producer = kafka.transactional_producer(f"{group('ingest-raw')}-{instance}")
        self.consumer = kafka.consumer(group("ingest-raw"), [settings.topic_raw], on_assign=self._assigned,
                                       on_revoke=self._revoked, on_lost=self._revoked)

    # -- rebalances: uncommitted windows of a revoked partition are dropped; its new owner
    #    reads them again from the committed offset (nothing of them was produced).
    def _assigned(self, _c, parts) -> None:
        log.info("raw.assigned", partitions=[p.partition for p in parts])

    def _revoked(self, _c, parts) -> None:
        for p in parts:
            self.windows.pop(p.partition, None)
        log.info("raw.revoked", partitions=[p.partition for p in parts])

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                # After a short wait for the first batch, what is already fetched joins its
                # window before the flush (no wait; up to the windows' size limits): a flush costs
                # one transaction whatever it holds, so one batch per flush capped the rate at
                # BATCH records per transaction time, and 1,000 records/s fell 30 s behind.
                wait = 0.1
                while True:
                    batch = kafka.consume_batch(self.consumer, BATCH, wait, log, "raw")
                    for m in batch:
                        self._add(m)
                    wait = 0
                    if len(batch) < BATCH or any(self._full(w) for w in self.windows.values()):
                        break
                self._flush(force=False)
            self._flush(force=True)          # shutting down: hand over what we hold
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _add(self, m) -> None:
        w = self.windows.get(m.partition())
        if w is None:
            w = self.windows[m.partition()] = _Window(m.topic(), m.partition(), m.offset(), time.monotonic())
        w.last_offset = m.offset()
        key, value = m.key(), m.value()
        reason = validate(key, value)
        if reason:
            w.dead.append(pb.DeadLetter(topic=m.topic(), partition=m.partition(), offset=m.offset(),
                                        key=(key or b"")[:1024],
                                        value=(value or b"")[:settings.max_record_bytes], reason=reason))
            metrics.RECORDS.labels(self.instance, "dead").inc()
            return
        stream = key.decode()
        s = w.streams.get(stream)
        if s is None:
            s = w.streams[stream] = _Stream(m.offset())
        s.data += value
        s.data += b"\n"
        s.records += 1
        w.size += len(value) + 1
        metrics.RECORDS.labels(self.instance, "accepted").inc()

    def _full(self, w: _Window) -> bool:
        return w.size >= 4 * self.chunk_size or any(len(s.data) >= self.chunk_size for s in w.streams.values())

    def _due(self, w: _Window, now: float) -> bool:
        return now - w.opened >= self.linger or self._full(w)

    def _flush(self, force: bool) -> None:
        now = time.monotonic()
        due = [w for w in self.windows.values() if force or self._due(w, now)]
        if not due:
            return
        jobs = []
        p = self.producer
        t0 = time.monotonic()
        try:
            p.begin_transaction()
            for w in due:
                for stream, s in w.streams.items():
                    jobs.append(self._produce_job(w, stream, s))
                for d in w.dead:
                    kafka.produce(p, settings.topic_dlq, d.key or None, d.SerializeToString())
            offsets = [TopicPartition(w.topic, w.partition, w.last_offset + 1) for w in due]
            p.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 30)
            self._commit()
        except KafkaException as exc:
            log.warning("raw.flush_failed", error=str(exc))
            if kafka.is_fatal(exc):
                raise
            try:
                p.abort_transaction(30)
            except KafkaException:
                log.exception("raw.abort_failed")
            # Read the windows again from where they began.
            for w in due:
                self.windows.pop(w.partition, None)
                try:
                    self.consumer.seek(TopicPartition(w.topic, w.partition, w.first_offset))
                except KafkaException:
                    pass          # no longer ours: the new owner reads from the committed offset
            metrics.TXNS.labels(self.instance, "aborted").inc()
            return
        metrics.TXNS.labels(self.instance, "committed").inc()
        t1 = time.monotonic()
        for w in due:
            self.windows.pop(w.partition, None)
            if w.dead:
                log.info("raw.dead_letters", partition=w.partition, count=len(w.dead),
                         reasons=sorted({d.reason for d in w.dead}))
        try:
            self.manifests.upsert_sealed(jobs)      # retries through a PostgreSQL restart
        except Exception:
            log.exception("raw.manifest_failed", jobs=[j["job_id"] for j in jobs])
        if jobs:
            log.info("raw.flushed", jobs=len(jobs), windows=len(due), txn_s=round(t1 - t0, 3),
                     manifest_s=round(time.monotonic() - t1, 3), oldest_s=round(t0 - min(w.opened for w in due), 3))

    def _commit(self) -> None:
        for attempt in range(5):
            try:
                self.producer.commit_transaction(30)
                return
            except KafkaException as exc:
                if kafka.is_retriable(exc) and attempt < 4:
                    continue
                raise

    def _produce_job(self, w: _Window, stream: str, s: _Stream) -> dict:
        p = self.producer
        job_id = ids.device_job_id(w.partition, s.first_offset)     # a namespace clients cannot use
        with telemetry.tracer().start_as_current_span("ingest.device_job", attributes={"cobol.job_id": job_id}):
            hdrs = telemetry.kafka_headers()       # the job's trace: every chunk's span descends from it
        kafka.produce(p, settings.topic_events, job_id, events.opened(job_id, "kafka", stream, PROFILE), headers=hdrs)
        data = bytes(s.data)
        seq = 0
        for off in range(0, len(data), self.chunk_size):
            kafka.produce(p, settings.topic_chunks, events.chunk_key(job_id, seq),
                          events.chunk(job_id, seq, data[off:off + self.chunk_size], PROFILE, off), headers=hdrs)
            seq += 1
        digest = hashlib.sha256(data).hexdigest()
        kafka.produce(p, settings.topic_events, job_id, events.sealed(job_id, seq, len(data), digest), headers=hdrs)
        metrics.BYTES_IN.labels("ingest", self.instance).inc(len(data))
        return dict(job_id=job_id, name=stream, source="kafka", profile=PROFILE,
                    bytes_in=len(data), chunk_count=seq, sha256=digest)
