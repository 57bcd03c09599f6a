"""Liveness, readiness, metrics, profiles and a summary of the jobs you may see."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from ..deps import Ctx, Viewer, anonymous_limit
from ..enums import JOB_STATES, PROFILES
from ..jobsvc import list_jobs
from ..schemas.common import AUTHED, error_responses
from ..schemas.health import Health, Readiness

router = APIRouter(prefix="/api", tags=["health"], responses=error_responses(400))
PROFILE_TEXT = {"fast": "speed first (against zstd -3)", "balanced": "ratio of xz -9 at ten times its speed",
                "max": "ratio first, for archives"}
ESSENTIAL = ("postgres", "redis", "ingest", "coordinator", "archive")
UNKNOWN_CLUSTER = {"status": "unknown", "reasons": [], "alive": {}, "down": {}, "leader": None, "fencing_token": 0}


class ProfileInfo(BaseModel):
    name: str
    description: str
    default: bool


class JobSummary(BaseModel):
    jobs: int
    by_status: dict[str, int]
    bytes_in: int
    bytes_out: int
    ratio: float | None


async def _checks(ctx) -> tuple[dict[str, str], dict]:
    """Each dependency's state, and the cluster's health as the coordinator computes it."""
    async def pg() -> str:
        await asyncio.wait_for(ctx.db.ping(), 2)
        return "ok"

    async def rd() -> str:
        await asyncio.wait_for(ctx.redis.ping(), 2)
        return "ok"

    async def cluster() -> dict:
        try:
            return await asyncio.wait_for(ctx.cluster.health(), 3)
        except HTTPException as exc:
            return {**UNKNOWN_CLUSTER, "reasons": [str(exc.detail)]}
        except asyncio.TimeoutError:
            return {**UNKNOWN_CLUSTER, "reasons": ["the coordinator did not answer Cluster.Health in time"]}

    names = ["postgres", "redis", "ingest", "coordinator", "archive"]
    *results, cl = await asyncio.gather(pg(), rd(), *(ctx.mesh.check(n) for n in names[2:]), cluster(),
                                        return_exceptions=True)
    checks = {n: (r if isinstance(r, str) else f"error: {type(r).__name__}") for n, r in zip(names, results)}
    checks["pubsub"] = "ok" if ctx.hub.connected else "not subscribed"
    checks["watch"] = "ok" if ctx.hub.watching else "not watching the coordinator"
    if isinstance(cl, BaseException):
        cl = {**UNKNOWN_CLUSTER, "reasons": [f"error: {type(cl).__name__}"]}
    checks["cluster"] = cl["status"] if cl["status"] == "ok" else f"{cl['status']}: " + "; ".join(cl["reasons"])
    return checks, cl


def _reasons(checks: dict[str, str], cl: dict) -> list[str]:
    """Why the API is not `ok`: the cluster's own reasons first, then each failing dependency."""
    own = [f"{name}: {state}" for name, state in checks.items() if state != "ok" and name != "cluster"]
    return list(cl["reasons"]) + own


@router.get("/live", response_model=Health)
async def live(ctx: Ctx):
    """The process answers (no dependency is checked)."""
    return Health(status="ok", instance=ctx.settings.instance)


@router.get("/health", response_model=Readiness, responses={503: {"model": Readiness, "description": "PostgreSQL is down"}})
async def health(ctx: Ctx):
    """Every dependency's state and the cluster's (Cluster.Health): `degraded`, with the reasons,
    when a mesh service is down or the cluster is degraded (e.g. no live compressor: jobs would
    wait); 503 when PostgreSQL is down."""
    checks, cl = await _checks(ctx)
    body = {"instance": ctx.settings.instance, "checks": checks, "reasons": _reasons(checks, cl), "cluster": cl}
    if checks["postgres"] != "ok":
        return JSONResponse({"status": "error", **body}, status_code=503)
    healthy = all(v == "ok" for v in checks.values())
    return Readiness(status="ok" if healthy else "degraded", **body)


@router.get("/ready", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a dependency is not ready"}})
async def ready(ctx: Ctx):
    """200 when PostgreSQL, Redis, ingest, the coordinator and the archive all answer (this API
    instance can serve); 503 otherwise. A degraded cluster (no live compressor, say) keeps the
    API ready — it must stay reachable to report that — and shows as `reasons`."""
    checks, cl = await _checks(ctx)
    ok = all(checks[n] == "ok" for n in ESSENTIAL)
    body = {"status": "ok" if ok else "not ready", "instance": ctx.settings.instance, "checks": checks,
            "reasons": _reasons(checks, cl), "cluster": cl}
    return body if ok else JSONResponse(body, status_code=503)


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(anonymous_limit)],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}, **error_responses(429)})
async def metrics():
    return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)


@router.get("/profiles", response_model=list[ProfileInfo], responses=AUTHED)
async def profiles(user: Viewer):
    """The codec profiles a job may ask for (from proto/cobol_proto/api.proto)."""
    return [ProfileInfo(name=p, description=PROFILE_TEXT.get(p, ""), default=p == "fast") for p in PROFILES]


@router.get("/stats", response_model=JobSummary, responses={**AUTHED, **error_responses(502, 503)})
async def stats(ctx: Ctx, user: Viewer):
    """Counts and bytes of the jobs you may see (among the ledger's newest 1,000)."""
    jobs = await list_jobs(ctx, user, {})
    by = {s: 0 for s in JOB_STATES}
    for j in jobs:
        by[j["status"]] = by.get(j["status"], 0) + 1
    bin_, bout = sum(j["bytes_in"] for j in jobs), sum(j["bytes_out"] for j in jobs if j["status"] == "done")
    done_in = sum(j["bytes_in"] for j in jobs if j["status"] == "done")
    return JobSummary(jobs=len(jobs), by_status=by, bytes_in=bin_, bytes_out=bout,
                      ratio=round(done_in / bout, 4) if bout else None)
