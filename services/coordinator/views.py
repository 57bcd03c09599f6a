"""Read-side answers computed from the state: cluster health and replica health (pure logic)."""
from __future__ import annotations

from cobol_proto import cluster_pb2 as cpb

from . import ledger

ROLES_NEEDED = ("ingest", "compressor", "archive")


def health(nodes: dict[str, cpb.Node], leader: tuple[str, int] | None, min_replicas: int) -> cpb.ClusterHealth:
    alive: dict[str, int] = {}
    down: dict[str, int] = {}
    for n in nodes.values():
        if n.status == "alive":
            alive[n.role] = alive.get(n.role, 0) + 1
        elif n.status in ("suspect", "down"):
            down[n.role] = down.get(n.role, 0) + 1
    reasons = []
    if leader is None:
        reasons.append("no coordinator leader: job events are not being applied")
    if not alive.get("compressor"):
        reasons.append("no live compressor: chunks are not being compressed"
                       + (f" ({down['compressor']} suspect or down)" if down.get("compressor") else ""))
    if alive.get("archive", 0) < min_replicas:
        reasons.append(f"{alive.get('archive', 0)} live archive replica(s), fewer than min_replicas={min_replicas}: "
                       "jobs cannot complete")
    if not alive.get("ingest"):
        reasons.append("no live ingest: uploads are refused")
    for role, n in sorted(down.items()):
        if alive.get(role) and role in ROLES_NEEDED:
            reasons.append(f"{n} {role} instance(s) suspect or down")
    return cpb.ClusterHealth(status="degraded" if reasons else "ok", reasons=reasons, alive=alive, down=down,
                             leader=leader[0] if leader else "", fencing_token=leader[1] if leader else 0)


def job_replicas(rec: cpb.JobRecord, nodes: dict[str, cpb.Node], min_replicas: int) -> cpb.JobReplicas:
    per = {name: 0 for name in rec.replicas}
    under = 0
    unhealthy = False
    live_bits = 0
    for i, name in enumerate(rec.replicas):
        if nodes.get(name) is not None and nodes[name].status in ("alive", "suspect"):
            live_bits |= 1 << i
    for mask in rec.chunk_replicas:
        if not mask:
            continue
        for i, name in enumerate(rec.replicas):
            if mask >> i & 1:
                per[name] += 1
        if bin(mask).count("1") < min_replicas:
            under += 1
        if bin(mask & live_bits).count("1") < min_replicas:
            unhealthy = True
    seen = sum(1 for m in rec.chunk_replicas if m)
    missing = rec.sealed and seen < rec.chunk_count
    return cpb.JobReplicas(job_id=rec.job_id, status=rec.status, chunk_count=rec.chunk_count if rec.sealed else 0,
                           min_replicas=min_replicas, chunks_at_min=ledger.chunks_at(rec, min_replicas),
                           chunks_under=under, per_replica=per,
                           healthy=not unhealthy and not (missing and rec.status == "done"))


def replicas(recs: list[cpb.JobRecord], nodes: dict[str, cpb.Node], min_replicas: int) -> cpb.ReplicaReport:
    jobs = [job_replicas(r, nodes, min_replicas) for r in recs]
    totals: dict[str, int] = {n.instance: 0 for n in nodes.values() if n.role == "archive"}
    for j in jobs:
        for name, count in j.per_replica.items():
            totals[name] = totals.get(name, 0) + count
    arch = [cpb.ArchiveReplica(replica=name, status=nodes[name].status if name in nodes else "unknown", chunks=c)
            for name, c in sorted(totals.items())]
    return cpb.ReplicaReport(min_replicas=min_replicas, replicas=arch, jobs=jobs)
