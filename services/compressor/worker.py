"""Consume-transform-produce, exactly once.

A batch of chunks is read from cobol.chunks (group cobol-compressor, read_committed) and
encoded with `cobol_codec.encode_frame` while no transaction is open. Only then are the frames
(key = job id) produced to cobol.frames in one short Kafka transaction together with the
batch's consumer offsets. A worker killed at any instant leaves either the whole batch
(frames + offsets) or none of it; the partitions' next owner starts from the committed offsets.

Keeping the transaction short matters for failover: a dead worker's open transaction holds
back read_committed readers and the next owner's offset fetch until the broker aborts it, so
a transaction that only spans the produce and commit (milliseconds) almost never outlives its
worker. The group metadata sent with the offsets is the one taken when the batch was read:
a worker that was frozen (SIGSTOP) past its session timeout and thaws carries a stale
generation, and the broker refuses its late transaction (KIP-447 fencing); it aborts.

A chunk the codec refuses is tried COBOL_CODEC_ATTEMPTS times; then it goes to
COBOL_TOPIC_CHUNKS_DLQ as a DeadLetter with the reason and its job fails with that reason,
in the same transaction as the offsets (no crash loop, no silent skip).
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

from confluent_kafka import KafkaException

from cobol_mesh import ids, kafka, membership, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings

log = mlog.get("cobol.compressor")


def _codec():
    """encode_frame(data, profile, layers) over whatever the installed codec supports: `layers`
    is passed only when the codec accepts it (it arrives with the codec's layer selection)."""
    from cobol_codec import encode_frame       # lazy: the codec may be rebuilt independently
    takes_layers = "layers" in inspect.signature(encode_frame).parameters

    def encode(data: bytes, profile: str, layers: str, dictionary=None) -> bytes:
        if layers and takes_layers:
            return encode_frame(data, profile, dictionary=dictionary, layers=layers)
        return encode_frame(data, profile, dictionary=dictionary)
    return encode


@dataclass
class _Out:
    """What one consumed message turns into: records to produce in the batch's transaction."""
    records: list            # (topic, key, value, headers)
    status: str              # ok | malformed | dead


class Compressor:
    def __init__(self, instance: str, stopping, dicts=None) -> None:
        self.instance = instance
        self.stopping = stopping
        self.dicts = dicts                  # services.compressor.dictionaries.Dictionaries
        self.encode = _codec()
        self.in_txn = False
        # chunks read beyond a batch's byte and time budget wait here for the next batch
        self.backlog = kafka.Backlog()
        self.producer = kafka.transactional_producer(
            f"{group('compressor')}-{instance}", timeout_ms=settings.txn_timeout_ms)
        self.consumer = kafka.consumer(group("compressor"), [settings.topic_chunks], on_assign=self._assigned,
                                       on_revoke=self._revoked, on_lost=self._revoked,
                                       **{"queued.max.messages.kbytes": 32 * 1024})
        membership.track_consumer(self.consumer)   # heartbeats carry its partitions and lag

    def _assigned(self, _c, parts) -> None:
        log.info("compressor.assigned", partitions=[p.partition for p in parts])
        metrics.ASSIGNED.labels(self.instance, settings.topic_chunks).inc(len(parts))

    def _revoked(self, c, parts) -> None:
        log.info("compressor.revoked", partitions=[p.partition for p in parts])
        metrics.ASSIGNED.labels(self.instance, settings.topic_chunks).dec(len(parts))
        self.backlog.drop(parts)
        if self.in_txn:                 # never expected (see module doc): be safe anyway
            self._abort()

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction(30)
        except KafkaException:
            log.exception("compressor.abort_failed")
        self.in_txn = False
        metrics.TXNS.labels(self.instance, "aborted").inc()

    def run(self) -> None:
        # Batches bounded in count and bytes: new partitions (a failover) are taken up only
        # between batches, so a batch should take well under a second to encode.
        # (count here; bytes and COBOL_COMPRESSOR_BATCH_MS of encoding in _process, by what was
        # really read: a count from the largest chunk size made device streams' small chunks
        # two to a transaction, and a 1,000 records/s stream fell seconds behind)
        per_batch = max(1, settings.compressor_batch)
        try:
            while not self.stopping.is_set():
                # A short wait: a batch is whatever arrived within 100 ms (up to the batch size),
                # so a trickle of device chunks is not held back to fill a batch. With chunks
                # left over, no wait: only what is already fetched (and rebalance callbacks).
                want = max(1, per_batch - len(self.backlog))
                self.backlog.add(kafka.consume_batch(self.consumer, want, 0 if self.backlog else 0.1,
                                                     log, "compressor"))
                if self.backlog:
                    self._process(self.backlog.take(), self.consumer.consumer_group_metadata())
        finally:
            if self.in_txn:
                self._abort()
            self.consumer.close()      # leaves the group now: partitions move at once

    def _process(self, msgs, group_meta) -> None:
        # Encode while no transaction is open, within a time and byte budget: the rest of the
        # batch goes back to the backlog for the next round, so newly assigned partitions wait
        # at most one budget.
        outs, t0, size = [], time.monotonic(), 0
        for m in msgs:
            size += len(m.value() or b"")
            if outs and (time.monotonic() - t0 > settings.compressor_batch_s or size > settings.compressor_batch_bytes):
                break
            outs.append(self._encode_one(m))
        self.backlog.put_back(msgs[len(outs):])
        msgs = msgs[:len(outs)]
        p = self.producer
        try:
            p.begin_transaction()
            self.in_txn = True
            for out in outs:
                for topic, key, value, headers in out.records:
                    kafka.produce(p, topic, key, value, headers=headers)
            p.send_offsets_to_transaction(kafka.batch_offsets(msgs), group_meta, 30)
            for attempt in range(5):
                try:
                    p.commit_transaction(60)
                    break
                except KafkaException as exc:
                    if not kafka.is_retriable(exc) or attempt == 4:
                        raise
            self.in_txn = False
            metrics.TXNS.labels(self.instance, "committed").inc()
        except KafkaException as exc:
            if kafka.is_fatal(exc):
                log.error("compressor.fatal", error=str(exc))
                raise                   # fenced by a newer instance with our id: exit
            # e.g. the group moved on while we worked (a frozen worker thawing): refused
            log.warning("compressor.txn_failed", error=str(exc), chunks=len(msgs))
            self._abort()
            # read the batch and everything after it again (the backlog too: the consumer's
            # position is already past it)
            msgs = msgs + self.backlog.take()
            for tp in kafka.first_offsets(msgs):
                try:
                    self.consumer.seek(tp)
                except KafkaException:
                    pass                # no longer assigned: the new owner re-reads it
            return
        for out in outs:
            metrics.CHUNKS.labels("compressor", self.instance, out.status).inc()

    def _encode_one(self, m) -> _Out:
        try:
            chunk = pb.Chunk.FromString(m.value() or b"")
            ids.check_job_id(chunk.job_id)
        except Exception as exc:              # not a usable chunk: dead-lettered, never a crash loop
            metrics.error("malformed_record")
            log.warning("compressor.bad_chunk", partition=m.partition(), offset=m.offset(), error=str(exc))
            return _Out([self._dead_letter(m, f"not a Chunk message: {exc}")], "malformed")
        with telemetry.consumed(m, "compress.chunk", job_id=chunk.job_id, seq=chunk.seq):
            error = None
            for attempt in range(1, max(1, settings.codec_attempts) + 1):
                t0 = time.perf_counter()
                try:
                    d, did = self.dicts.choose(chunk) if self.dicts else (None, "")
                    frame = self.encode(chunk.data, chunk.profile or "fast", chunk.layers, d)
                    error = None
                    break
                except Exception as exc:
                    error = exc
                    metrics.error("codec")
                    log.warning("compressor.codec_failed", job_id=chunk.job_id, seq=chunk.seq,
                                attempt=attempt, error=repr(exc)[:300])
            if error is not None:
                reason = (f"chunk {chunk.seq} dead-lettered after {settings.codec_attempts} codec attempts: "
                          f"{type(error).__name__}: {error}")[:1000]
                log.error("compressor.chunk_dead", job_id=chunk.job_id, seq=chunk.seq, reason=reason)
                ev = pb.JobEvent(job_id=chunk.job_id, at=time.time(), aborted=pb.JobAborted(reason=reason))
                return _Out([self._dead_letter(m, reason),
                             (settings.topic_events, chunk.job_id, ev.SerializeToString(), None)], "dead")
            secs = time.perf_counter() - t0
            if self.dicts:
                self.dicts.observe(chunk.data, did, len(frame))
            out = pb.Frame(job_id=chunk.job_id, seq=chunk.seq, frame=frame, bytes_in=len(chunk.data),
                           bytes_out=len(frame), worker=self.instance, codec_seconds=secs,
                           dictionary_id=did)
            headers = telemetry.kafka_headers()
        metrics.CODEC_SECONDS.labels(self.instance).observe(secs)
        metrics.BYTES_IN.labels("compressor", self.instance).inc(len(chunk.data))
        metrics.BYTES_OUT.labels("compressor", self.instance).inc(len(frame))
        metrics.CHUNK_RATIO.labels(self.instance).observe(len(chunk.data) / max(1, len(frame)))
        return _Out([(settings.topic_frames, chunk.job_id, out.SerializeToString(), headers)], "ok")

    def _dead_letter(self, m, reason: str):
        d = pb.DeadLetter(topic=m.topic(), partition=m.partition(), offset=m.offset(),
                          key=(m.key() or b"")[:1024], value=m.value() or b"", reason=reason)
        return (settings.topic_chunks_dlq, m.key() or None, d.SerializeToString(), None)
