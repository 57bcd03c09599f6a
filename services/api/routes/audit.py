"""The audit log: every state-changing call, filterable, for admins."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from ..deps import Admin, Ctx
from ..schemas.audit import AuditEntry
from ..schemas.common import AUTHED, Page, error_responses
from .common import Limit, Offset, utc

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=AUTHED)
Text = Annotated[str | None, Query(max_length=200)]


@router.get("", response_model=Page[AuditEntry])
async def list_audit(ctx: Ctx, user: Admin, limit: Limit = 100, offset: Offset = 0, who: Text = None,
                     action: Text = None, outcome: Text = None, job_id: Text = None, client: Text = None,
                     method: Annotated[str | None, Query(pattern="^(POST|PUT|PATCH|DELETE|GET)$")] = None,
                     status_: Annotated[int | None, Query(alias="status", ge=100, le=599)] = None,
                     since: Annotated[dt.datetime | None, Query(description="at or after")] = None,
                     until: Annotated[dt.datetime | None, Query(description="before")] = None):
    """Newest first. Filters combine with AND."""
    rows, total = await ctx.audit.page({"who": who, "action": action, "outcome": outcome, "job_id": job_id,
                                        "client": client, "method": method, "status": status_,
                                        "since": utc(since), "until": utc(until)}, limit, offset)
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


@router.get("/{entry_id}", response_model=AuditEntry, responses=error_responses(404))
async def get_audit(entry_id: Annotated[int, "id"], ctx: Ctx, user: Admin):
    if not 0 < entry_id < 2**63:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audit entry")
    row = await ctx.audit.get(entry_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audit entry")
    return row
