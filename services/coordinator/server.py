"""gRPC: Coordinator (GetJob, ListJobs) and Cluster (nodes, events, replicas, health, leader,
watch). Every replica answers every method from the shared state; nothing here writes."""
from __future__ import annotations

import queue

import grpc
import redis

from cobol_mesh.proto import pb, pb_grpc
from cobol_proto import cluster_pb2 as cpb
from cobol_proto import cluster_pb2_grpc as cpb_grpc

from . import ledger, views
from .config import CoordinatorConfig
from .ledger import MAX_ID_BYTES
from .state import State
from .watch import TooManyWatchers, WatchHub

MAX_JOBS = 1000
MAX_EVENTS = 1000
MAX_REPLICA_JOBS = 500


def _state_call(context, fn, *args):
    """A state read; Redis being down (e.g. restarting) is UNAVAILABLE, not a crash."""
    try:
        return fn(*args)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        context.abort(grpc.StatusCode.UNAVAILABLE, f"cluster state unavailable: {exc}")


def _check_id(context, value: str, what: str) -> None:
    if not value:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what} is required")
    if len(value.encode()) > MAX_ID_BYTES:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what} is longer than {MAX_ID_BYTES} bytes")


def _nodes(state: State) -> dict[str, cpb.Node]:
    return {i: cpb.Node.FromString(raw) for i, raw in state.nodes().items()}


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, state: State, cfg: CoordinatorConfig) -> None:
        self.state, self.cfg = state, cfg

    def _statuses(self, context, ids: list[str]) -> list[pb.JobStatus]:
        """The statuses the leader wrote beside the records (small, ready to send); a record
        written before statuses existed is computed from its (larger) record."""
        got = _state_call(context, self.state.statuses, ids)
        old = [j for j in ids if j not in got]
        raws = _state_call(context, self.state.jobs, old) if old else {}
        out = []
        for j in ids:
            if j in got:
                out.append(pb.JobStatus.FromString(got[j]))
            elif j in raws:
                out.append(ledger.to_status(cpb.JobRecord.FromString(raws[j]), self.cfg.min_replicas))
        return out

    def GetJob(self, request, context):
        _check_id(context, request.job_id, "job_id")
        found = self._statuses(context, [request.job_id])
        if not found:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id!r} is unknown")
        return found[0]

    def ListJobs(self, request, context):
        limit = min(request.limit or 50, MAX_JOBS)
        ids = _state_call(context, self.state.job_ids, limit)
        return pb.JobList(jobs=self._statuses(context, ids))


class ClusterServicer(cpb_grpc.ClusterServicer):
    def __init__(self, state: State, cfg: CoordinatorConfig, instance: str, hub: WatchHub, stopping) -> None:
        self.state, self.cfg, self.instance, self.hub, self.stopping = state, cfg, instance, hub, stopping

    def ListNodes(self, request, context):
        nodes = _state_call(context, _nodes, self.state)
        out = [n for _i, n in sorted(nodes.items())
               if (not request.role or n.role == request.role) and (request.include_left or n.status != "left")]
        return cpb.NodeList(nodes=out)

    def GetNode(self, request, context):
        _check_id(context, request.instance, "instance")
        raw = _state_call(context, self.state.nodes).get(request.instance)
        if raw is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"node {request.instance!r} is unknown")
        return cpb.Node.FromString(raw)

    def ListNodeEvents(self, request, context):
        limit = min(request.limit or 100, MAX_EVENTS)
        events: list[cpb.NodeEvent] = []
        before = request.before_seq
        # filtering by instance may need several pages of the history (bounded by its cap)
        while len(events) < limit:
            page = [cpb.NodeEvent.FromString(r) for r in _state_call(context, self.state.node_events, MAX_EVENTS, before)]
            events += [e for e in page if not request.instance or e.instance == request.instance]
            if len(page) < MAX_EVENTS:
                before = 0
                break
            before = page[-1].seq
        events = events[:limit]
        more = len(events) == limit and events[-1].seq > 1
        return cpb.NodeEventList(events=events, next_before_seq=events[-1].seq if more else 0)

    def Replicas(self, request, context):
        nodes = _state_call(context, _nodes, self.state)
        if request.job_id:
            _check_id(context, request.job_id, "job_id")
            ids = [request.job_id]
        else:
            ids = _state_call(context, self.state.job_ids, min(request.limit or 50, MAX_REPLICA_JOBS))
        raws = _state_call(context, self.state.jobs, ids)
        if request.job_id and not raws:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id!r} is unknown")
        recs = [cpb.JobRecord.FromString(raws[j]) for j in ids if j in raws]
        return views.replicas(recs, nodes, self.cfg.min_replicas)

    def Health(self, request, context):
        nodes = _state_call(context, _nodes, self.state)
        return views.health(nodes, _state_call(context, self.state.leader), self.cfg.min_replicas)

    def Leader(self, request, context):
        lead = _state_call(context, self.state.leader)
        return cpb.LeaderInfo(leader=lead[0] if lead else "", fencing_token=lead[1] if lead else 0,
                              answered_by=self.instance, answered_by_leader=bool(lead and lead[0] == self.instance))

    def Watch(self, request, context):
        if not (request.jobs or request.nodes):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "watch jobs, nodes or both")
        if request.job_id:
            _check_id(context, request.job_id, "job_id")
        try:
            w = self.hub.subscribe(request)
        except TooManyWatchers as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        context.send_initial_metadata(())     # tells the caller it is subscribed
        try:
            while context.is_active() and not self.stopping.is_set():
                try:
                    yield w.q.get(timeout=0.5)
                except queue.Empty:
                    if w.overflowed:
                        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "watcher fell too far behind")
        finally:
            self.hub.unsubscribe(w)
