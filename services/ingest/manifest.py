"""Ingest's own table of job manifests in PostgreSQL (no other service reads it).

Every call opens its own connection and, when PostgreSQL is away (a restart, a failover),
retries with a growing pause for up to COBOL_PG_RETRY_S before giving up: a restart of the
database delays uploads, it does not fail them.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

import psycopg

from cobol_mesh import logging as mlog
from cobol_mesh.settings import settings

log = mlog.get("cobol.ingest.manifest")
T = TypeVar("T")


def with_retry(what: str, fn: Callable[[], T], budget_s: float | None = None) -> T:
    """fn(), retried on connection-level errors (OperationalError) within the budget."""
    budget = settings.pg_retry_s if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    pause = 0.1
    while True:
        try:
            return fn()
        except psycopg.OperationalError as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("manifest.retry", what=what, error=str(exc).strip()[:200], pause_s=pause)
            time.sleep(pause)          # back-off between reconnect attempts, not a sync wait
            pause = min(pause * 2, 2.0)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest_manifests (
    job_id      text PRIMARY KEY,
    name        text NOT NULL,
    source      text NOT NULL,
    profile     text NOT NULL,
    bytes_in    bigint NOT NULL DEFAULT 0,
    chunk_count bigint NOT NULL DEFAULT 0,
    sha256      text,
    status      text NOT NULL CHECK (status IN ('uploading', 'sealed', 'aborted')),
    reason      text,
    instance    text NOT NULL,          -- owner: <group prefix>/<instance>@<gRPC address>
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ingest_manifests_open ON ingest_manifests (instance) WHERE status = 'uploading';
"""


class Manifests:
    def __init__(self, dsn: str, instance: str) -> None:
        self.dsn = dsn
        self.instance = instance

    def _conn(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)

    def migrate(self) -> None:
        with_retry("migrate", self._migrate)

    def _migrate(self) -> None:
        with self._conn() as c:
            c.execute("SELECT pg_advisory_lock(74201)")
            try:
                c.execute(SCHEMA)
            finally:
                c.execute("SELECT pg_advisory_unlock(74201)")

    def open(self, job_id: str, name: str, source: str, profile: str) -> bool:
        """Insert the `uploading` row; False if the id is taken by another upload."""
        return with_retry("open", lambda: self._open(job_id, name, source, profile))

    def _open(self, job_id: str, name: str, source: str, profile: str) -> bool:
        with self._conn() as c:
            cur = c.execute(
                "INSERT INTO ingest_manifests (job_id, name, source, profile, status, instance) "
                "VALUES (%s, %s, %s, %s, 'uploading', %s) ON CONFLICT (job_id) DO NOTHING",
                (job_id, name, source, profile, self.instance))
            return cur.rowcount == 1

    def upsert_sealed(self, jobs: list[dict]) -> None:
        """Kafka windows: every job of one flush in one transaction (one connection, one
        commit); a replayed window overwrites the same rows."""
        if jobs:
            with_retry("upsert_sealed", lambda: self._upsert_sealed(jobs))

    def _upsert_sealed(self, jobs: list[dict]) -> None:
        with psycopg.connect(self.dsn, connect_timeout=10) as c, c.cursor() as cur:
            cur.executemany(
                "INSERT INTO ingest_manifests (job_id, name, source, profile, bytes_in, chunk_count, "
                "sha256, status, instance) VALUES (%s,%s,%s,%s,%s,%s,%s,'sealed',%s) "
                "ON CONFLICT (job_id) DO UPDATE SET bytes_in = EXCLUDED.bytes_in, "
                "chunk_count = EXCLUDED.chunk_count, sha256 = EXCLUDED.sha256, status = 'sealed', "
                "updated_at = now()",
                [(j["job_id"], j["name"], j["source"], j["profile"], j["bytes_in"], j["chunk_count"],
                  j["sha256"], self.instance) for j in jobs])

    def seal(self, job_id: str, bytes_in: int, chunk_count: int, sha256: str) -> None:
        with_retry("seal", lambda: self._seal(job_id, bytes_in, chunk_count, sha256))

    def _seal(self, job_id: str, bytes_in: int, chunk_count: int, sha256: str) -> None:
        with self._conn() as c:
            c.execute("UPDATE ingest_manifests SET status='sealed', bytes_in=%s, chunk_count=%s, "
                      "sha256=%s, updated_at=now() WHERE job_id=%s AND status='uploading'",
                      (bytes_in, chunk_count, sha256, job_id))

    def abort(self, job_id: str, bytes_in: int, chunk_count: int, reason: str) -> None:
        with_retry("abort", lambda: self._abort(job_id, bytes_in, chunk_count, reason))

    def _abort(self, job_id: str, bytes_in: int, chunk_count: int, reason: str) -> None:
        with self._conn() as c:
            c.execute("UPDATE ingest_manifests SET status='aborted', bytes_in=%s, chunk_count=%s, "
                      "reason=%s, updated_at=now() WHERE job_id=%s AND status='uploading'",
                      (bytes_in, chunk_count, reason[:1000], job_id))

    def abort_orphans(self) -> list[str]:
        """Uploads this instance had open when it last died: they can never be sealed."""
        return with_retry("abort_orphans", self._abort_orphans)

    def _abort_orphans(self) -> list[str]:
        with self._conn() as c:
            rows = c.execute(
                "UPDATE ingest_manifests SET status='aborted', reason='ingest restarted mid-upload', "
                "updated_at=now() WHERE instance=%s AND status='uploading' RETURNING job_id",
                (self.instance,)).fetchall()
            return [r[0] for r in rows]
