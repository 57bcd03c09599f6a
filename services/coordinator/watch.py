"""The Watch fan-out of one coordinator replica.

One consumer per replica reads cobol.nodes.events and cobol.jobs.status from their end
(`assign`, no group) and hands each event to every open Watch stream's bounded queue. A
watcher that falls `QUEUE` events behind is dropped (its stream ends with RESOURCE_EXHAUSTED)
rather than slow everyone down. Both topics are written by the leader, so every replica,
standby or leader, serves the same stream; it survives a leader change.
"""
from __future__ import annotations

import queue
import threading

from confluent_kafka import TopicPartition
from google.protobuf.message import DecodeError

from cobol_mesh import kafka, membership
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb
from cobol_proto import cluster_pb2 as cpb

from .leader import assign_consumer, partitions

log = mlog.get("cobol.coordinator.watch")
QUEUE = 1000
MAX_WATCHERS = 16


class TooManyWatchers(Exception):
    pass


class Watcher:
    def __init__(self, req: cpb.WatchRequest) -> None:
        self.req = req
        self.q: queue.Queue = queue.Queue(QUEUE)
        self.overflowed = False

    def wants(self, ev: cpb.WatchEvent) -> bool:
        if ev.HasField("job"):
            return self.req.jobs and (not self.req.job_id or self.req.job_id == ev.job.job_id)
        return self.req.nodes


class WatchHub:
    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self._lock = threading.Lock()
        self._watchers: list[Watcher] = []
        self.ready = threading.Event()

    def subscribe(self, req: cpb.WatchRequest) -> Watcher:
        with self._lock:
            if len(self._watchers) >= MAX_WATCHERS:
                raise TooManyWatchers(f"at most {MAX_WATCHERS} Watch streams per coordinator replica")
            w = Watcher(req)
            self._watchers.append(w)
            return w

    def unsubscribe(self, w: Watcher) -> None:
        with self._lock:
            if w in self._watchers:
                self._watchers.remove(w)

    def publish(self, ev: cpb.WatchEvent) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for w in watchers:
            if w.wants(ev):
                try:
                    w.q.put_nowait(ev)
                except queue.Full:
                    w.overflowed = True
                    self.unsubscribe(w)

    def run(self) -> None:
        c = assign_consumer("watch")
        try:
            while not self.stopping.is_set():
                try:
                    # from the end as it is now (absolute offsets: nothing after `ready` is missed)
                    c.assign([TopicPartition(t, p, c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1])
                              for t in (membership.TOPIC_NODE_EVENTS, membership.TOPIC_JOB_STATUS)
                              for p in partitions(c, t)])
                    break
                except Exception as exc:
                    log.warning("watch.assign_failed", error=str(exc))
                    self.stopping.wait(1.0)
            self.ready.set()
            while not self.stopping.is_set():
                for m in kafka.consume_batch(c, 500, 0.2, log, "watch", fill=False):
                    try:
                        if m.topic() == membership.TOPIC_NODE_EVENTS:
                            ev = cpb.WatchEvent(node=cpb.NodeEvent.FromString(m.value()))
                        else:
                            ev = cpb.WatchEvent(job=pb.JobStatus.FromString(m.value()))
                    except DecodeError:
                        continue
                    self.publish(ev)
        finally:
            c.close()
