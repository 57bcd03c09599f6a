"""A small client of the coordinator's gRPC API (Coordinator + Cluster services).

Every coordinator replica answers every call (reads come from the shared state), so the
client tries the replicas in turn and sticks to the first that answers; UNAVAILABLE and
DEADLINE_EXCEEDED move it to the next. Addresses: COBOL_COORDINATOR_ADDRS (comma-separated),
else COBOL_COORDINATOR_ADDR.

    c = ClusterClient()
    c.health().status            # "ok" | "degraded", with c.health().reasons
    for ev in c.watch(jobs=True, nodes=True): ...
"""
from __future__ import annotations

import os
from typing import Iterator

import grpc

from .grpc_server import channel
from .proto import pb, pb_grpc
from .settings import settings

from cobol_proto import cluster_pb2 as cpb  # noqa: E402
from cobol_proto import cluster_pb2_grpc as cpb_grpc  # noqa: E402

RETRY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def addresses() -> list[str]:
    raw = os.environ.get("COBOL_COORDINATOR_ADDRS", "")
    return [a.strip() for a in raw.split(",") if a.strip()] or [settings.coordinator_addr]


class ClusterClient:
    def __init__(self, addrs: list[str] | str | None = None, timeout: float = 5.0,
                 identity: str | None = None) -> None:
        """`identity`: the mesh certificate to present (default: this process's, see
        grpc_auth.identity); a service passes its own name so that how it was started
        (its instance name) cannot turn it into a token-less `client`."""
        self.addrs = [addrs] if isinstance(addrs, str) else list(addrs or addresses())
        self.timeout = timeout
        self._channels = [channel(a, identity) for a in self.addrs]
        self._first = 0

    def close(self) -> None:
        for ch in self._channels:
            ch.close()

    def __enter__(self) -> "ClusterClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _each(self, fn):
        """fn(channel) on the replicas in turn, starting with the last that answered."""
        last: grpc.RpcError | None = None
        n = len(self._channels)
        for k in range(n):
            i = (self._first + k) % n
            try:
                reply = fn(self._channels[i])
                self._first = i
                return reply
            except grpc.RpcError as exc:
                if exc.code() not in RETRY:
                    raise
                last = exc
        raise last

    def _call(self, service: str, method: str, request, timeout: float | None = None):
        stub = cpb_grpc.ClusterStub if service == "cluster" else pb_grpc.CoordinatorStub
        return self._each(lambda ch: getattr(stub(ch), method)(request, timeout=timeout or self.timeout))

    # -- Coordinator --------------------------------------------------------------------------
    def get_job(self, job_id: str) -> pb.JobStatus:
        return self._call("coordinator", "GetJob", pb.GetJobRequest(job_id=job_id))

    def list_jobs(self, limit: int = 50) -> list[pb.JobStatus]:
        return list(self._call("coordinator", "ListJobs", pb.ListJobsRequest(limit=limit)).jobs)

    # -- Cluster ------------------------------------------------------------------------------
    def nodes(self, role: str = "", include_left: bool = False) -> list[cpb.Node]:
        return list(self._call("cluster", "ListNodes", cpb.ListNodesRequest(role=role, include_left=include_left)).nodes)

    def node(self, instance: str) -> cpb.Node:
        return self._call("cluster", "GetNode", cpb.GetNodeRequest(instance=instance))

    def node_events(self, limit: int = 100, before_seq: int = 0, instance: str = "") -> cpb.NodeEventList:
        return self._call("cluster", "ListNodeEvents",
                          cpb.ListNodeEventsRequest(limit=limit, before_seq=before_seq, instance=instance))

    def replicas(self, job_id: str = "", limit: int = 50) -> cpb.ReplicaReport:
        return self._call("cluster", "Replicas", cpb.ReplicasRequest(job_id=job_id, limit=limit))

    def health(self) -> cpb.ClusterHealth:
        return self._call("cluster", "Health", cpb.ClusterHealthRequest())

    def leader(self) -> cpb.LeaderInfo:
        return self._call("cluster", "Leader", cpb.LeaderRequest())

    def watch(self, jobs: bool = True, nodes: bool = True, job_id: str = "") -> Iterator[cpb.WatchEvent]:
        """A live stream from the first replica that accepts it; cancel it with .cancel() on the
        returned call object (it is also an iterator)."""
        req = cpb.WatchRequest(jobs=jobs, nodes=nodes, job_id=job_id)

        def open_stream(ch):
            call = cpb_grpc.ClusterStub(ch).Watch(req)
            call.initial_metadata()     # sent once subscribed, or the call ended: refused
            if call.done() and call.code() is not grpc.StatusCode.OK:
                raise call              # the ended call is the RpcError (UNAUTHENTICATED, ...)
            return call
        return self._each(open_stream)
