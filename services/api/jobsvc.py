"""Jobs as one user sees them: the ledger's state joined with the API's ownership rows."""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import weakref
from dataclasses import dataclass

import grpc
from fastapi import HTTPException, status

from .deps import AppContext, Principal
from .grpc_clients import job_to_dict

JOB_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
PENDING_GRACE_SECONDS = 900      # how long an accepted job may be unknown to the ledger


def http_for_grpc(exc: grpc.RpcError, what: str) -> HTTPException:
    code = exc.code() if hasattr(exc, "code") else None
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"{what}: not found")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return HTTPException(status.HTTP_409_CONFLICT, f"{what}: {exc.details()}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: service unavailable ({code.name})")
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: {code.name if code else 'error'}")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _pending(row: dict) -> dict:
    return {"id": row["id"], "status": "queued", "progress": 0.0, "bytes_in": row["bytes_in"], "bytes_out": 0,
            "ratio": None, "name": row["name"], "source": "rest", "profile": row["profile"],
            "created_at": _iso(row["created_at"]), "finished_at": None, "reason": None, "chunk_count": 0,
            "chunks_archived": 0, "sha256": row["sha256"]}


def _own(job: dict, row: dict | None) -> dict:
    job["owner"] = row["owner"] if row else None
    job["layers"] = row["layers"] if row else ""
    job["dictionary"] = row["dictionary"] if row else ""
    if row and row["cancelled_at"] and job["status"] not in ("done", "failed"):
        job["reason"] = job["reason"] or "cancelled"
    return job


async def load_job(ctx: AppContext, job_id: str) -> dict | None:
    """The job with its owner, or None when nobody knows it (or it was deleted)."""
    if not JOB_ID_RE.match(job_id):
        return None
    row, ledger = await asyncio.gather(ctx.jobs.get(job_id), ctx.mesh.get_job(job_id), return_exceptions=True)
    if isinstance(row, BaseException):
        raise row
    if row is not None and row["deleted_at"] is not None:
        return None
    if not isinstance(ledger, BaseException):
        return _own(job_to_dict(ledger), row)
    if not isinstance(ledger, grpc.RpcError):
        raise ledger
    if ledger.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        raise http_for_grpc(ledger, f"job {job_id}") from None
    # accepted by the API, not yet in the ledger: queued (for a while)
    if row is not None and time.time() - row["created_at"].timestamp() < PENDING_GRACE_SECONDS:
        return _own(_pending(row), row)
    return None


async def visible_job(ctx: AppContext, who: Principal, job_id: str) -> dict:
    """The job if this caller may see it; 404 otherwise (others' jobs are not acknowledged)."""
    job = await load_job(ctx, job_id)
    if job is None or not who.may_see(job["owner"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    return job


@dataclass
class _Listing:
    """The ledger's newest jobs joined with their ownership rows, newest first: what every
    listing of every caller filters. Rebuilt when the ledger listing changes (MeshClients
    shares one for LIST_TTL) or this process wrote an ownership row (JobStore.version), so a
    request costs a filter over memory instead of a PostgreSQL query and a join of 1,000 jobs."""
    ledger: list
    version: int
    entries: list[tuple[dict, dt.datetime | None, bool]]     # job, created_at, pending (owner-only)
    settled: list[dict]                                       # every job that is not pending
    pending_owners: set[str]


_LISTINGS: "weakref.WeakKeyDictionary[object, _Listing]" = weakref.WeakKeyDictionary()
_LOCKS: "weakref.WeakKeyDictionary[object, asyncio.Lock]" = weakref.WeakKeyDictionary()


async def _listing(ctx: AppContext) -> _Listing:
    try:
        ledger = await ctx.mesh.list_jobs()
    except grpc.RpcError as exc:
        raise http_for_grpc(exc, "job list") from None
    snap = _LISTINGS.get(ctx.jobs)
    if snap is not None and snap.ledger is ledger and snap.version == ctx.jobs.version:
        return snap
    async with _LOCKS.setdefault(ctx.jobs, asyncio.Lock()):
        snap = _LISTINGS.get(ctx.jobs)
        if snap is not None and snap.ledger is ledger and snap.version == ctx.jobs.version:
            return snap
        version = ctx.jobs.version          # before the read: a write during it forces a rebuild
        listed = await ctx.jobs.for_listing([j["id"] for j in ledger], PENDING_GRACE_SECONDS)
        rows = {r["id"]: r for r in listed}
        jobs = [(_own(dict(j), rows.get(j["id"])), False) for j in ledger
                if not (rows.get(j["id"]) and rows[j["id"]]["deleted_at"])]
        known = {j["id"] for j in ledger}
        # accepted by this API, not in the ledger yet: queued (shown to their owner only)
        jobs += [(_own(_pending(r), r), True) for r in listed if r["id"] not in known and r["deleted_at"] is None]
        entries = [(j, dt.datetime.fromisoformat(j["created_at"]) if j["created_at"] else None, pending)
                   for j, pending in jobs]
        entries.sort(key=lambda e: (e[0]["created_at"] or "", e[0]["id"]), reverse=True)
        snap = _LISTINGS[ctx.jobs] = _Listing(ledger, version, entries, [e[0] for e in entries if not e[2]],
                                              {e[0]["owner"] for e in entries if e[2]})
        return snap


async def list_jobs(ctx: AppContext, who: Principal, f: dict) -> list[dict]:
    """Every job this caller may see among the ledger's newest, filtered, newest first. The
    dicts are shared between callers: copy one before changing it."""
    snap = await _listing(ctx)
    if not any(v is not None and v != "" for v in f.values()) and who.may_see(None) \
            and who.name not in snap.pending_owners:
        return snap.settled             # the common case: everything, no filter, nothing pending of yours
    out = []
    for j, created, pending in snap.entries:
        if pending and j["owner"] != who.name:
            continue
        if not who.may_see(j["owner"]):
            continue
        if f.get("status") and j["status"] != f["status"]:
            continue
        if f.get("profile") and j["profile"] != f["profile"]:
            continue
        if f.get("owner") and j["owner"] != f["owner"]:
            continue
        if f.get("q") and f["q"].lower() not in j["name"].lower():
            continue
        if f.get("min_bytes") is not None and j["bytes_in"] < f["min_bytes"]:
            continue
        if f.get("max_bytes") is not None and j["bytes_in"] > f["max_bytes"]:
            continue
        if f.get("since") and (created is None or created < f["since"]):
            continue
        if f.get("until") and (created is None or created >= f["until"]):
            continue
        out.append(j)
    return out
