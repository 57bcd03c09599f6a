"""cobol.frames -> the archive store -> ChunkArchived events, then the offset commit.

Each replica (archive-N) is its own consumer group (`<prefix>-archive.<instance>`) with its
own store, so every replica receives every frame; its ChunkArchived carries `replica`.
Frames of a deleted job (deletes.py) are dropped. At least once into the store, made harmless twice over: the key is (job, seq) so a repeat
overwrites identical bytes, and the coordinator counts each seq once per replica.
"""
from __future__ import annotations

import time

from cobol_mesh import ids, kafka, membership, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings

from .deletes import Tombstones
from .store import Store, seal


def replica_group(instance: str) -> str:
    return f"{group('archive')}.{instance}"

log = mlog.get("cobol.archive.writer")


class ArchiveWriter:
    def __init__(self, instance: str, store: Store, tombs: Tombstones, stopping) -> None:
        self.instance = instance
        self.store = store
        self.tombs = tombs
        self.stopping = stopping
        self.producer = kafka.producer()
        self.consumer = kafka.consumer(replica_group(instance), [settings.topic_frames],
                                       on_assign=lambda c, ps: log.info("archive.assigned", partitions=[p.partition for p in ps]),
                                       on_revoke=self._revoked)
        membership.track_consumer(self.consumer)   # heartbeats carry its partitions and lag

    def _revoked(self, c, parts) -> None:
        log.info("archive.revoked", partitions=[p.partition for p in parts])

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                msgs = kafka.consume_batch(self.consumer, 64, 0.5, log, "archive")
                if msgs:
                    self._process(msgs)
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _process(self, msgs) -> None:
        tracker = kafka.DeliveryTracker()
        for m in msgs:
            try:
                frame = pb.Frame.FromString(m.value() or b"")
                ids.check_job_id(frame.job_id)
            except Exception as exc:          # not ours to crash on: skip, and say so
                metrics.error("malformed_record")
                log.warning("archive.bad_frame", partition=m.partition(), offset=m.offset(), error=str(exc))
                metrics.CHUNKS.labels("archive", self.instance, "malformed").inc()
                continue
            with telemetry.consumed(m, "archive.frame", job_id=frame.job_id, seq=frame.seq):
                if not self.tombs.store_frame(frame.job_id, frame.seq, seal(frame.frame)):
                    # a frame of a deleted job (late, or re-consumed): never stored again
                    log.info("archive.frame_of_deleted_job", job_id=frame.job_id, seq=frame.seq)
                    metrics.CHUNKS.labels("archive", self.instance, "deleted").inc()
                    continue
                ev = pb.JobEvent(job_id=frame.job_id, at=time.time(), archived=pb.ChunkArchived(
                    seq=frame.seq, bytes_in=frame.bytes_in, bytes_out=len(frame.frame),
                    replica=self.instance))
                kafka.produce(self.producer, settings.topic_events, frame.job_id, ev.SerializeToString(),
                              tracker=tracker, headers=telemetry.kafka_headers())
            metrics.CHUNKS.labels("archive", self.instance, "stored").inc()
            metrics.BYTES_OUT.labels("archive", self.instance).inc(len(frame.frame))
        kafka.flush_or_raise(self.producer, tracker)      # events durable ...
        kafka.commit(self.consumer, msgs, log)  # ... then commit
