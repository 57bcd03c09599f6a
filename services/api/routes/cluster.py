"""The cluster, from the coordinator's Cluster service: nodes, node events, replica health (with
Kafka's in-sync replicas) and the leader. Every role may read it (docs/API.md); nothing here
changes state."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from ..deps import ClusterDep, Viewer
from ..schemas.cluster import Leader, Node, NodeEventPage, ReplicaReport
from ..schemas.common import AUTHED, Page, error_responses
from .common import Limit, Offset

router = APIRouter(prefix="/api/cluster", tags=["cluster"], responses={**AUTHED, **error_responses(502, 503)})

# instance names as topology.yaml and the services make them (compressor-2, api-test-8123).
# pydantic checks patterns with Rust's regex, whose `$` is the very end (no trailing newline).
INSTANCE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
Instance = Annotated[str, Path(min_length=1, max_length=128, pattern=INSTANCE_RE, description="e.g. compressor-1")]
InstanceFilter = Annotated[str | None, Query(min_length=1, max_length=128, pattern=INSTANCE_RE)]
JobIdFilter = Annotated[str | None, Query(min_length=1, max_length=128, pattern=INSTANCE_RE,
                                          description="only this job's replicas")]
Role = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]{0,31}$",
                                   description="ingest, compressor, archive, coordinator, api, ...")]
StatusFilter = Annotated[Literal["alive", "suspect", "down", "left"] | None,
                         Query(alias="status", description="left nodes are listed only when asked for")]


@router.get("/nodes", response_model=Page[Node])
async def list_nodes(cluster: ClusterDep, user: Viewer, limit: Limit = 100, offset: Offset = 0,
                     role: Role = None, status_: StatusFilter = None):
    """Every instance the coordinator knows, by instance name: role, status, last heartbeat,
    CPU, memory, assigned partitions with their lag, and the total lag."""
    nodes = await cluster.nodes(role or "", include_left=status_ == "left")
    if status_:
        nodes = [n for n in nodes if n["status"] == status_]
    return {"items": nodes[offset:offset + limit], "total": len(nodes), "limit": limit, "offset": offset}


@router.get("/nodes/{instance}", response_model=Node, responses=error_responses(404))
async def get_node(instance: Instance, cluster: ClusterDep, user: Viewer):
    return await cluster.node(instance)


@router.get("/events", response_model=NodeEventPage)
async def list_events(cluster: ClusterDep, user: Viewer,
                      limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
                      before_seq: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                                             description="events older than this sequence number")] = None,
                      instance: InstanceFilter = None):
    """Node events (joined, suspect, down, alive, left, restarted), newest first."""
    page = await cluster.events(limit, before_seq or 0, instance or "")
    return {**page, "total": len(page["items"]), "limit": limit, "offset": 0}


@router.get("/replicas", response_model=ReplicaReport, responses=error_responses(404))
async def replicas(cluster: ClusterDep, user: Viewer, job_id: JobIdFilter = None,
                   limit: Annotated[int, Query(ge=1, le=500, description="newest jobs to report")] = 50):
    """Replica health: each archive replica, each job's chunks at min_replicas, and Kafka's
    in-sync replicas and under-replicated partitions of the mesh's topics."""
    if job_id is not None and ".." in job_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job: not found")
    return await cluster.replicas(job_id or "", limit)


@router.get("/leader", response_model=Leader)
async def leader(cluster: ClusterDep, user: Viewer):
    """Which coordinator replica holds the lease, and its fencing token."""
    return await cluster.leader()
