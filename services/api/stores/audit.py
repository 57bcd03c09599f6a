"""The audit log (``api_audit``): every state-changing call, who, what, when, from where, outcome.

Writing a row never makes a request fail: if PostgreSQL is unreachable the event goes to the
structured log with ``audit_lost=True`` so it is not silently lost.
"""
from __future__ import annotations

import json
from typing import Any

import structlog

from ..db import Database

log = structlog.get_logger("cobol.api.audit")
COLUMNS = "id, at, who, action, job_id, outcome, detail, instance, client, method, path, status"


class AuditStore:
    def __init__(self, db: Database, instance: str) -> None:
        self.db = db
        self.instance = instance

    async def record(self, who: str, action: str, *, outcome: str, job_id: str | None = None,
                     detail: dict[str, Any] | None = None, client: str | None = None, method: str | None = None,
                     path: str | None = None, status: int | None = None) -> None:
        detail = detail or {}
        try:
            await self.db.execute(
                "INSERT INTO api_audit (who, action, job_id, outcome, detail, instance, client, method, path, status) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)",
                (who, action, job_id, outcome, json.dumps(detail, default=str), self.instance, client, method,
                 path, status))
            log.info("audit", who=who, action=action, job_id=job_id, outcome=outcome, status=status)
        except Exception as exc:  # noqa: BLE001 - the audit must not break the request
            log.error("audit", who=who, action=action, job_id=job_id, outcome=outcome, audit_lost=True,
                      error=str(exc))

    async def page(self, f: dict, limit: int, offset: int) -> tuple[list[dict], int]:
        where, args = ["true"], []
        for col in ("who", "action", "outcome", "job_id", "client", "method"):
            if f.get(col):
                where.append(f"{col} = %s")
                args.append(f[col])
        if f.get("status") is not None:
            where.append("status = %s")
            args.append(f["status"])
        if f.get("since"):
            where.append("at >= %s")
            args.append(f["since"])
        if f.get("until"):
            where.append("at < %s")
            args.append(f["until"])
        w = " AND ".join(where)
        total = (await self.db.fetchone(f"SELECT count(*) AS n FROM api_audit WHERE {w}", tuple(args)))["n"]  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM api_audit WHERE {w} ORDER BY at DESC, id DESC LIMIT %s OFFSET %s",  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
            (*args, limit, offset))
        return rows, total

    async def get(self, entry_id: int) -> dict | None:
        return await self.db.fetchone(f"SELECT {COLUMNS} FROM api_audit WHERE id = %s", (entry_id,))  # nosec B608 # table and column names are module constants; every value is a bound parameter
