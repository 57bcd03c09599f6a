"""PostgreSQL access for the API's own tables (api_users, api_audit).

A deliberately small async connection pool over psycopg 3 (psycopg_pool is not a
dependency): connections are opened lazily up to ``size``, handed out through a queue,
health-checked on failure and replaced.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import psycopg
from psycopg.rows import dict_row

SCHEMA_LOCK_KEY = 0x0C0B01A1  # advisory lock taken while creating the tables

DDL = """
CREATE TABLE IF NOT EXISTS api_users (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    pw_hash     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled    BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS api_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    who         TEXT NOT NULL,
    action      TEXT NOT NULL,
    job_id      TEXT,
    outcome     TEXT NOT NULL,
    detail      JSONB NOT NULL DEFAULT '{}'::jsonb,
    instance    TEXT,
    client      TEXT
);
CREATE INDEX IF NOT EXISTS api_audit_job_idx ON api_audit (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS api_audit_at_idx ON api_audit (at DESC);
"""


class Database:
    def __init__(self, dsn: str, schema: str = "public", size: int = 8) -> None:
        self.dsn = dsn
        self.schema = schema
        self.size = size
        self._idle: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        self._opened = 0
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(size)
        self._all: set[psycopg.AsyncConnection] = set()

    async def _connect(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, row_factory=dict_row, connect_timeout=5,
            application_name="cobol-api",
        )
        if self.schema != "public":
            await conn.execute(f'SET search_path TO "{self.schema}"')
        self._all.add(conn)
        return conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self._sem:
            conn: psycopg.AsyncConnection | None = None
            while not self._idle.empty():
                candidate = self._idle.get_nowait()
                if candidate.closed or candidate.broken:
                    self._all.discard(candidate)
                    continue
                conn = candidate
                break
            if conn is None:
                conn = await self._connect()
            ok = False
            try:
                yield conn
                ok = True
            finally:
                if ok and not conn.closed and not conn.broken:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        await conn.rollback()
                    self._idle.put_nowait(conn)
                else:
                    self._all.discard(conn)
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def fetchone(self, sql: str, params: tuple | dict = ()) -> dict | None:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def execute(self, sql: str, params: tuple | dict = ()) -> int:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def migrate(self) -> None:
        """Create the schema and tables (idempotent, safe with several instances starting)."""
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=False, connect_timeout=5)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                if self.schema != "public":
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    await conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
                await conn.execute(DDL)
        finally:
            await conn.close()

    async def ping(self) -> None:
        await self.fetchone("SELECT 1 AS ok")

    async def close(self) -> None:
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                await conn.close()
        self._all.clear()
