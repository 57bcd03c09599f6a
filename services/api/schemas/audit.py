from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    who: str
    action: str
    job_id: str | None = None
    outcome: str
    detail: dict
    instance: str | None = None
    client: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
