"""The API's view of the cluster: the coordinator's Cluster service (through
`cobol_mesh.cluster_client.ClusterClient`) and Kafka's replica state (through the admin API).

ClusterClient is blocking; every call runs in this view's own small thread pool, so the event
loop never waits on gRPC and a slow coordinator cannot take the threads other work needs. A
coordinator that does not answer becomes a 503 with a clear detail, never a 500.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from cobol_mesh import membership
from cobol_mesh import settings as mesh_settings
from cobol_mesh.cluster_client import ClusterClient
from cobol_proto import cluster_pb2 as cpb
from fastapi import HTTPException, status

KAFKA_TIMEOUT = 5.0
THREADS = 8


def iso(ts: float) -> str | None:
    if not ts:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def http_error(exc: grpc.RpcError, what: str) -> HTTPException:
    code = exc.code() if hasattr(exc, "code") else None
    if code == grpc.StatusCode.NOT_FOUND:
        return HTTPException(status.HTTP_404_NOT_FOUND, f"{what}: not found")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return HTTPException(status.HTTP_400_BAD_REQUEST, f"{what}: {exc.details()}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                             f"the coordinator is unavailable ({code.name}): {what} cannot be read; retry",
                             headers={"Retry-After": "1"})
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: the coordinator failed ({code.name if code else 'error'})")


def node_to_dict(n: cpb.Node) -> dict[str, Any]:
    """A node in its REST shape: the proto's field names, times in ISO 8601, plus total `lag`
    (sum of the known partition lags; null when none is known)."""
    parts = [{"topic": p.topic, "partition": p.partition, "lag": p.lag, "count": p.count} for p in n.partitions]
    known = [p["lag"] for p in parts if p["lag"] >= 0]
    return {"instance": n.instance, "role": n.role, "host": n.host, "pid": n.pid, "version": n.version,
            "status": n.status, "last_heartbeat": iso(n.last_heartbeat), "status_since": iso(n.status_since),
            "cpu_percent": round(n.cpu_percent, 2), "rss_bytes": n.rss_bytes, "partitions": parts,
            "started_at": iso(n.started_at), "beats": n.beats, "reason": n.reason or None,
            "lag": sum(known) if known else None}


def event_to_dict(e: cpb.NodeEvent) -> dict[str, Any]:
    return {"seq": e.seq, "at": iso(e.at), "instance": e.instance, "role": e.role, "kind": e.kind,
            "status": e.status, "reason": e.reason or None, "pid": e.pid}


def mesh_topics() -> list[str]:
    """The mesh's own topics: every COBOL_TOPIC_* setting and the cluster topics."""
    s = mesh_settings.load()
    names = {getattr(s, f) for f in s.__dataclass_fields__ if f.startswith("topic_")}
    names |= {membership.TOPIC_HEARTBEATS, membership.TOPIC_NODE_EVENTS, membership.TOPIC_JOB_STATUS,
              membership.TOPIC_JOBS_DLQ}
    return sorted(n for n in names if n)


class KafkaReplicas:
    """In-sync replicas and under-replicated partitions of the mesh's topics (admin metadata)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin = None
        self._lock = threading.Lock()

    def _client(self):
        from confluent_kafka.admin import AdminClient

        with self._lock:
            if self._admin is None:
                self._admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 5000})
            return self._admin

    def report(self, topics: list[str]) -> dict[str, Any]:
        from confluent_kafka import KafkaException

        try:
            md = self._client().list_topics(timeout=KAFKA_TIMEOUT)
        except KafkaException as exc:
            return {"available": False, "error": f"Kafka did not answer: {exc.args[0]}", "brokers": 0,
                    "topics": [], "under_replicated": [], "offline": []}
        out, under, offline = [], [], []
        for name in topics:
            t = md.topics.get(name)
            if t is None or t.error is not None:
                continue
            parts = []
            for p in sorted(t.partitions.values(), key=lambda p: p.id):
                row = {"topic": name, "partition": p.id, "leader": p.leader, "replicas": list(p.replicas),
                       "isr": list(p.isrs)}
                parts.append(row)
                if p.leader < 0:
                    offline.append(row)
                elif len(p.isrs) < len(p.replicas):
                    under.append(row)
            rf = max((len(p["replicas"]) for p in parts), default=0)
            out.append({"topic": name, "partitions": len(parts), "replication_factor": rf,
                        "min_isr": min((len(p["isr"]) for p in parts), default=0),
                        "under_replicated": sum(1 for p in parts if p["leader"] >= 0 and len(p["isr"]) < len(p["replicas"])),
                        "offline": sum(1 for p in parts if p["leader"] < 0)})
        return {"available": True, "error": None, "brokers": len(md.brokers), "topics": out,
                "under_replicated": under, "offline": offline}


class ClusterView:
    """Async front of ClusterClient (one per API process, in AppContext.cluster)."""

    def __init__(self, client: ClusterClient, kafka: KafkaReplicas) -> None:
        self.client = client
        self.kafka = kafka
        self.topics = mesh_topics()
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="cluster")

    async def _thread(self, fn, *args, **kw):
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kw))

    async def _call(self, what: str, fn, *args, **kw):
        try:
            return await self._thread(fn, *args, **kw)
        except grpc.RpcError as exc:
            raise http_error(exc, what) from None

    async def nodes(self, role: str = "", include_left: bool = False) -> list[dict]:
        return [node_to_dict(n) for n in await self._call("the node list", self.client.nodes, role, include_left)]

    async def node(self, instance: str) -> dict:
        return node_to_dict(await self._call(f"node {instance!r}", self.client.node, instance))

    async def events(self, limit: int, before_seq: int, instance: str) -> dict:
        r = await self._call("the node events", self.client.node_events, limit, before_seq, instance)
        return {"items": [event_to_dict(e) for e in r.events], "next_before_seq": r.next_before_seq or None}

    async def replicas(self, job_id: str, limit: int) -> dict:
        r, kafka = await asyncio.gather(self._call("the replica report", self.client.replicas, job_id, limit),
                                        self._thread(self.kafka.report, self.topics))
        return {"min_replicas": r.min_replicas,
                "archives": [{"replica": a.replica, "status": a.status, "chunks": a.chunks} for a in r.replicas],
                "jobs": [{"job_id": j.job_id, "status": j.status, "chunk_count": j.chunk_count,
                          "min_replicas": j.min_replicas, "chunks_at_min": j.chunks_at_min,
                          "chunks_under": j.chunks_under, "per_replica": dict(j.per_replica), "healthy": j.healthy}
                         for j in r.jobs],
                "kafka": kafka}

    async def kafka_replicas(self) -> dict:
        return await self._thread(self.kafka.report, self.topics)

    async def health(self) -> dict:
        h = await self._call("the cluster health", self.client.health)
        return {"status": h.status, "reasons": list(h.reasons), "alive": dict(h.alive), "down": dict(h.down),
                "leader": h.leader or None, "fencing_token": h.fencing_token}

    async def leader(self) -> dict:
        r = await self._call("the coordinator leader", self.client.leader)
        return {"leader": r.leader or None, "fencing_token": r.fencing_token, "answered_by": r.answered_by,
                "answered_by_leader": r.answered_by_leader}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
