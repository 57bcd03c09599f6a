"""Re-driving a stalled job: produce its missing chunks to cobol.chunks again.

The chunks are still in Kafka (cobol.chunks keeps them for its retention): read every
partition from the job's creation time (offsets_for_times) up to the end as it stands now,
and re-produce, unchanged (same key, value and headers), the chunks of the job whose seq is
missing. Compressors and archives handle them like any chunk; the ledger counts a chunk
held by a replica once, so a copy that was not lost after all changes nothing. One re-drive
runs at a time, in its own thread, bounded by a deadline.
"""
from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, TopicPartition

from cobol_mesh import kafka
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings
from cobol_proto import cluster_pb2 as cpb

log = mlog.get("cobol.coordinator.redrive")
DEADLINE_S = 60.0


class Redriver:
    def __init__(self, producer) -> None:
        self.producer = producer
        self._busy = threading.Lock()

    def start(self, rec: cpb.JobRecord, seqs) -> bool:
        if not seqs or not self._busy.acquire(blocking=False):
            return False
        job = cpb.JobRecord()
        job.CopyFrom(rec)

        def body():
            try:
                found = self.run(job, set(seqs))
                log.info("redrive.done", job_id=job.job_id, wanted=len(seqs), produced=found)
            except Exception:
                log.exception("redrive.failed", job_id=job.job_id)
            finally:
                self._busy.release()
        threading.Thread(target=body, name="redrive", daemon=True).start()
        return True

    def run(self, job: cpb.JobRecord, wanted: set[int]) -> int:
        c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group("coordinator-redrive"),
                      "enable.auto.commit": False, "isolation.level": "read_committed",
                      "fetch.max.bytes": 4 * settings.kafka_max_bytes,
                      "max.partition.fetch.bytes": settings.kafka_max_bytes,
                      "receive.message.max.bytes": 4 * settings.kafka_max_bytes + 1024 * 1024})
        produced = 0
        try:
            topic = settings.topic_chunks
            parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
            since = int(job.created_at * 1000) - 60_000         # clocks of two hosts may differ
            start = c.offsets_for_times([TopicPartition(topic, p, since) for p in parts], timeout=10)
            ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
            todo = [tp for tp in start if 0 <= tp.offset < ends[tp.partition]]
            if not todo:
                return 0
            c.assign(todo)
            left = {tp.partition for tp in todo}
            deadline = time.monotonic() + DEADLINE_S
            while left and wanted and time.monotonic() < deadline:
                for m in c.consume(500, 0.5):
                    if m.error():
                        continue
                    if m.offset() >= ends[m.partition()] - 1:
                        left.discard(m.partition())
                    if m.offset() >= ends[m.partition()]:
                        continue
                    chunk = pb.Chunk.FromString(m.value())
                    if chunk.job_id == job.job_id and chunk.seq in wanted:
                        kafka.produce(self.producer, topic, m.key(), m.value(), headers=m.headers())
                        wanted.discard(chunk.seq)
                        produced += 1
            kafka.flush_or_raise(self.producer)
            return produced
        finally:
            c.close()
