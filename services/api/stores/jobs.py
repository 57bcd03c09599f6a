"""Job ownership (``api_jobs``): who submitted which job through the API, with what options.

The ledger (coordinator) owns a job's progress; this table owns who may see it. Jobs that did
not come through the API (device streams, direct gRPC uploads) have no row: only admins and
users granted ``see_all_jobs`` see them.
"""
from __future__ import annotations

import json

from ..db import Database

COLUMNS = "id, owner, name, profile, layers, dictionary, origin, bytes_in, sha256, created_at, cancelled_at, deleted_at"


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.version = 0        # bumped by every write of this process: listings cached on it refresh

    async def _write(self, sql: str, args: tuple) -> int:
        try:
            return await self.db.execute(sql, args)
        finally:
            self.version += 1

    async def record(self, job_id: str, owner: str, name: str, profile: str, layers: str, dictionary: str,
                     origin: str, extra: dict | None = None) -> None:
        await self._write(
            "INSERT INTO api_jobs (id, owner, name, profile, layers, dictionary, origin, extra) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (id) DO NOTHING",
            (job_id, owner, name, profile, layers, dictionary, origin, json.dumps(extra or {})))

    async def accepted(self, job_id: str, bytes_in: int, sha256: str | None) -> None:
        await self._write("UPDATE api_jobs SET bytes_in = %s, sha256 = %s WHERE id = %s",
                              (bytes_in, sha256, job_id))

    async def get(self, job_id: str) -> dict | None:
        return await self.db.fetchone(f"SELECT {COLUMNS} FROM api_jobs WHERE id = %s", (job_id,))  # nosec B608 # table and column names are module constants; every value is a bound parameter

    async def for_listing(self, ids: list[str], recent_seconds: int) -> list[dict]:
        """The rows of these ledger jobs, plus every recent one (maybe not in the ledger yet)."""
        return await self.db.fetchall(
            f"SELECT {COLUMNS} FROM api_jobs WHERE id = ANY(%s) OR (deleted_at IS NULL "  # nosec B608 # table and column names are module constants; every value is a bound parameter
            f"AND created_at > now() - make_interval(secs => %s))", (ids, recent_seconds))

    async def mark(self, job_id: str, column: str) -> bool:
        if column not in ("cancelled_at", "deleted_at"):
            raise ValueError(f"not a job mark: {column!r}")
        return await self._write(f"UPDATE api_jobs SET {column} = now() WHERE id = %s AND {column} IS NULL",  # nosec B608 # the column is one of two names checked above
                                     (job_id,)) == 1
