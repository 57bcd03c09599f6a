"""Job events the API itself emits: a cancellation is a JobAborted on the job-events topic,
the ledger's own input (the coordinator then marks the job failed; a done job stays done)."""
from __future__ import annotations

import asyncio
import time

from cobol_mesh import settings as mesh_settings
from cobol_proto import mesh_pb2
from confluent_kafka import KafkaException, Producer


class EventPublisher:
    def __init__(self) -> None:
        s = mesh_settings.load()
        self.topic = s.topic_events
        self.bootstrap = s.kafka_bootstrap
        self._producer: Producer | None = None

    def _p(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                       "enable.idempotence": True, "message.timeout.ms": 15000})
        return self._producer

    def _abort(self, job_id: str, reason: str) -> None:
        ev = mesh_pb2.JobEvent(job_id=job_id, aborted=mesh_pb2.JobAborted(reason=reason), at=time.time())
        errors: list = []
        p = self._p()
        p.produce(self.topic, key=job_id.encode(), value=ev.SerializeToString(),
                  on_delivery=lambda err, _msg: err and errors.append(err))
        if p.flush(20) or errors:
            raise KafkaException(errors[0] if errors else "job event not delivered in time")

    async def abort(self, job_id: str, reason: str) -> None:
        await asyncio.to_thread(self._abort, job_id, reason)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
