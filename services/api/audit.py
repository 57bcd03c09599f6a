"""The audit log (``api_audit``): who did what, when, to which job, with what outcome.

Writing the audit row never makes a request fail: if PostgreSQL is unreachable the event
goes to the structured log instead (with ``audit_lost=True``) so it is not silently lost.
"""
from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from .state import state

log = structlog.get_logger("cobol.api.audit")


async def record(who: str, action: str, *, outcome: str, job_id: str | None = None,
                 detail: dict[str, Any] | None = None, client: str | None = None) -> None:
    detail = detail or {}
    try:
        await state.db.execute(
            "INSERT INTO api_audit (who, action, job_id, outcome, detail, instance, client) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s)",
            (who, action, job_id, outcome, json.dumps(detail, default=str), state.settings.instance, client),
        )
        log.info("audit", who=who, action=action, job_id=job_id, outcome=outcome, **detail)
    except Exception as exc:  # noqa: BLE001 - the audit must not break the request
        log.error("audit", who=who, action=action, job_id=job_id, outcome=outcome, audit_lost=True,
                  error=str(exc), **detail)


async def accepted_submission(job_id: str) -> dict | None:
    """The API's own record of an accepted upload (used before the ledger has caught up)."""
    return await state.db.fetchone(
        "SELECT at, who, detail FROM api_audit WHERE job_id = %s AND action = 'job.submit' "
        "AND outcome = 'accepted' ORDER BY at DESC LIMIT 1",
        (job_id,),
    )


class AuditEntry(BaseModel):
    at: str
    who: str
    action: str
    job_id: str | None
    outcome: str
    detail: dict
    instance: str | None
    client: str | None


def build_router() -> APIRouter:
    from .auth import require_role

    router = APIRouter(prefix="/api", tags=["audit"])

    @router.get("/audit", response_model=list[AuditEntry])
    async def list_audit(limit: int = Query(100, ge=1, le=1000), job_id: str | None = None,
                         user=Depends(require_role("admin"))) -> list[AuditEntry]:
        if job_id:
            rows = await state.db.fetchall(
                "SELECT * FROM api_audit WHERE job_id = %s ORDER BY at DESC, id DESC LIMIT %s", (job_id, limit))
        else:
            rows = await state.db.fetchall("SELECT * FROM api_audit ORDER BY at DESC, id DESC LIMIT %s", (limit,))
        return [AuditEntry(at=r["at"].isoformat(), who=r["who"], action=r["action"], job_id=r["job_id"],
                           outcome=r["outcome"], detail=r["detail"] or {}, instance=r["instance"],
                           client=r["client"]) for r in rows]

    return router
