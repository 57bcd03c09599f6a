"""The progress watch: jobs that stopped moving are re-driven, or failed with a reason.

Pure logic: given the open jobs, the nodes and the time, say what to do.
- An unsealed job whose ingest instance is down (or left) for `orphan_grace` seconds cannot
  be finished by anyone (the upload stream died with that process): fail it, naming the
  ingest. Chunks it produced before dying may still be archived after that (a backlog): that
  is not upload progress, so only a job opened after the mark (by a restarted ingest not yet
  heard from) is spared. If the job does not say which ingest opened it, it is orphaned only when no ingest
  is alive at all. Device-stream jobs (source kafka) are left alone: the raw records are
  still in cobol.ingest.raw and the next ingest of the group produces the job again.
- A sealed job with no chunk archived for `stall_after` seconds is re-driven (its missing
  chunks are produced to cobol.chunks again; the ledger counts each copy once), at most
  `max_redrives` times; after that, one more `stall_after` without progress fails it with the
  missing seqs and the live workers in the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from cobol_proto import cluster_pb2 as cpb

from .ledger import missing


@dataclass(frozen=True)
class Limits:
    orphan_grace: float = 5.0
    stall_after: float = 30.0
    max_redrives: int = 1


@dataclass(frozen=True)
class Action:
    job_id: str
    kind: str            # fail | redrive
    reason: str = ""
    seqs: tuple[int, ...] = ()


def check(jobs: list[cpb.JobRecord], nodes: dict[str, cpb.Node], now: float, limits: Limits,
          min_replicas: int) -> list[Action]:
    ingests = [n for n in nodes.values() if n.role == "ingest"]
    live = {r: sum(1 for n in nodes.values() if n.role == r and n.status == "alive")
            for r in ("compressor", "archive", "ingest")}
    last_ingest_gone = max((n.status_since for n in ingests), default=0.0)
    out = []
    for rec in jobs:
        if rec.status in ("done", "failed"):
            continue
        if not rec.sealed:
            if rec.source == "kafka":     # device streams: ingest's raw consumer group re-produces them
                continue
            owner = nodes.get(rec.opened_by) if rec.opened_by else None
            if owner is not None and owner.status in ("down", "left") \
                    and now - owner.status_since >= limits.orphan_grace and rec.created_at <= owner.status_since:
                out.append(Action(rec.job_id, "fail",
                                  f"ingest {owner.instance} went {owner.status} with the upload open "
                                  f"({owner.reason or 'no heartbeat'})"))
            elif not rec.opened_by and ingests and not live["ingest"] \
                    and now - last_ingest_gone >= limits.orphan_grace and rec.created_at <= last_ingest_gone:
                out.append(Action(rec.job_id, "fail", "no ingest instance is alive and the upload was never sealed"))
            continue
        quiet = now - max(rec.last_progress_at, rec.redriven_at)
        if quiet < limits.stall_after:
            continue
        gaps = missing(rec, min_replicas)
        if rec.redrives < limits.max_redrives and live["compressor"] and live["archive"]:
            out.append(Action(rec.job_id, "redrive", seqs=tuple(missing(rec, min_replicas, limit=1 << 20))))
        else:
            out.append(Action(rec.job_id, "fail",
                              f"no progress for {quiet:.0f} s after {rec.redrives} re-drive(s): seqs {gaps} "
                              f"not on {min_replicas} replica(s); alive compressors {live['compressor']}, "
                              f"archives {live['archive']}"))
    return out
