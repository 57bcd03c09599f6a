"""cobol.jobs.events -> the ledger; JobFinished out when a job reaches done or failed.

Order per batch: apply to Redis (idempotent), produce JobFinished for jobs that just finished
(or whose JobFinished a crash lost: `finished_emitted` = 0), flush, mark them emitted, commit.
"""
from __future__ import annotations

import time



from cobol_mesh import kafka, metrics
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_mesh.settings import group, settings

from .ledger import Ledger

log = mlog.get("cobol.coordinator.events")


class EventConsumer:
    def __init__(self, instance: str, ledger: Ledger, stopping) -> None:
        self.instance = instance
        self.ledger = ledger
        self.stopping = stopping
        self.producer = kafka.producer()
        self.consumer = kafka.consumer(group("coordinator"), [settings.topic_events])

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                msgs = kafka.consume_batch(self.consumer, 500, 0.2, log, "coordinator")
                if msgs:
                    self._process(msgs)
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _process(self, msgs) -> None:
        changed: dict[str, tuple[str, str]] = {}
        for m in msgs:
            try:
                ev = pb.JobEvent.FromString(m.value())
            except Exception:
                log.warning("coordinator.bad_event", partition=m.partition(), offset=m.offset())
                continue
            res = self.ledger.apply(ev)
            if res is None:
                continue
            before, after = res
            first = changed.get(ev.job_id, (before, after))[0]
            changed[ev.job_id] = (first, after)
        finishing = [j for j, (_b, a) in changed.items()
                     if a in ("done", "failed") and self.ledger.pending_finished(j)]
        tracker = kafka.DeliveryTracker()
        for job_id in finishing:
            st = self.ledger.get(job_id)
            ev = pb.JobEvent(job_id=job_id, at=time.time(),
                             finished=pb.JobFinished(status=st.status, reason=st.reason))
            kafka.produce(self.producer, settings.topic_events, job_id, ev.SerializeToString(), tracker=tracker)
            metrics.JOBS.labels("coordinator", self.instance, st.status).inc()
            log.info("job.finished", job_id=job_id, status=st.status, reason=st.reason or None,
                     bytes_in=st.bytes_in, bytes_out=st.bytes_out, chunks=st.chunk_count)
        kafka.flush_or_raise(self.producer, tracker)
        if finishing:
            self.ledger.mark_finished_emitted(finishing)
        for job_id in changed:
            st = self.ledger.get(job_id)
            if st is not None:
                try:
                    self.ledger.publish(st)
                except Exception as exc:
                    log.warning("coordinator.publish_failed", error=str(exc))
        kafka.commit(self.consumer, msgs, log)
