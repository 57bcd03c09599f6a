"""Consume-transform-produce, exactly once.

A batch of chunks is read from cobol.chunks (group cobol-compressor, read_committed), each is
encoded with `cobol_codec.encode_frame`, and the frames (key = job id) are produced to
cobol.frames in one Kafka transaction together with the batch's consumer offsets. A worker
killed at any instant leaves either the whole batch (frames + offsets) or none of it; the
partitions' next owner starts from the committed offsets.

The transaction is never open while the consumer polls, so rebalance callbacks find nothing
in flight; if one ever does (or the group fenced us), the transaction is aborted and the
consumer rewound to the batch's first offsets.
"""
from __future__ import annotations

import time

from confluent_kafka import KafkaException

from cobol_mesh import kafka, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings

log = mlog.get("cobol.compressor")


def _codec():
    from cobol_codec import encode_frame       # lazy: the codec may be rebuilt independently
    return encode_frame


class Compressor:
    def __init__(self, instance: str, stopping, dicts=None) -> None:
        self.instance = instance
        self.stopping = stopping
        self.dicts = dicts                  # services.compressor.dictionaries.Dictionaries
        self.encode = _codec()
        self.in_txn = False
        self.producer = kafka.transactional_producer(
            f"{group('compressor')}-{instance}", timeout_ms=settings.txn_timeout_ms)
        self.consumer = kafka.consumer(group("compressor"), [settings.topic_chunks], on_assign=self._assigned,
                                       on_revoke=self._revoked, on_lost=self._revoked,
                                       **{"queued.max.messages.kbytes": 32 * 1024})

    def _assigned(self, _c, parts) -> None:
        log.info("compressor.assigned", partitions=[p.partition for p in parts])
        metrics.ASSIGNED.labels(self.instance, settings.topic_chunks).inc(len(parts))

    def _revoked(self, c, parts) -> None:
        log.info("compressor.revoked", partitions=[p.partition for p in parts])
        metrics.ASSIGNED.labels(self.instance, settings.topic_chunks).dec(len(parts))
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
        try:
            while not self.stopping.is_set():
                # A short wait: a batch is whatever arrived within 100 ms (up to the batch size),
                # so a trickle of device chunks is not held back to fill a batch.
                msgs = kafka.consume_batch(self.consumer, settings.compressor_batch, 0.1, log, "compressor")
                if msgs:
                    self._process(msgs)
        finally:
            if self.in_txn:
                self._abort()
            self.consumer.close()      # leaves the group now: partitions move at once

    def _process(self, msgs) -> None:
        p = self.producer
        try:
            p.begin_transaction()
            self.in_txn = True
            for m in msgs:
                self._encode_one(m)
            p.send_offsets_to_transaction(kafka.batch_offsets(msgs),
                                          self.consumer.consumer_group_metadata(), 30)
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
            log.warning("compressor.txn_failed", error=str(exc), chunks=len(msgs))
            self._abort()
            for tp in kafka.first_offsets(msgs):
                try:
                    self.consumer.seek(tp)
                except KafkaException:
                    pass                # no longer assigned: the new owner re-reads it

    def _encode_one(self, m) -> None:
        try:
            chunk = pb.Chunk.FromString(m.value() or b"")
            if not chunk.job_id:
                raise ValueError("no job_id")
        except Exception as exc:              # skipped (its offset still commits): never a crash loop
            log.warning("compressor.bad_chunk", partition=m.partition(), offset=m.offset(), error=str(exc))
            metrics.CHUNKS.labels("compressor", self.instance, "malformed").inc()
            return
        parent = telemetry.context_from_kafka(m.headers())
        with telemetry.tracer().start_as_current_span("compress.chunk", context=parent) as span:
            span.set_attribute("cobol.job_id", chunk.job_id)
            span.set_attribute("cobol.seq", chunk.seq)
            t0 = time.perf_counter()
            try:
                d, did = self.dicts.choose(chunk) if self.dicts else (None, "")
                frame = self.encode(chunk.data, chunk.profile or "fast", dictionary=d)
            except Exception as exc:          # the job cannot complete: fail it, in this transaction
                log.error("compressor.codec_failed", job_id=chunk.job_id, seq=chunk.seq, error=repr(exc))
                metrics.CHUNKS.labels("compressor", self.instance, "codec_error").inc()
                ev = pb.JobEvent(job_id=chunk.job_id, at=time.time(), aborted=pb.JobAborted(
                    reason=f"codec failed on chunk {chunk.seq}: {type(exc).__name__}: {exc}"[:1000]))
                kafka.produce(self.producer, settings.topic_events, chunk.job_id, ev.SerializeToString())
                return
            secs = time.perf_counter() - t0
            if self.dicts:
                self.dicts.observe(chunk.data, did, len(frame))
            out = pb.Frame(job_id=chunk.job_id, seq=chunk.seq, frame=frame, bytes_in=len(chunk.data),
                           bytes_out=len(frame), worker=self.instance, codec_seconds=secs, dictionary_id=did)
            kafka.produce(self.producer, settings.topic_frames, chunk.job_id, out.SerializeToString(),
                          headers=telemetry.kafka_headers())
        metrics.CODEC_SECONDS.labels(self.instance).observe(secs)
        metrics.BYTES_IN.labels("compressor", self.instance).inc(len(chunk.data))
        metrics.BYTES_OUT.labels("compressor", self.instance).inc(len(frame))
        metrics.CHUNKS.labels("compressor", self.instance, "ok").inc()

