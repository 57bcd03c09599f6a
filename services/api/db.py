"""PostgreSQL access for the API's own tables (schema: migrations/, run by Alembic).

A deliberately small async connection pool over psycopg 3 (psycopg_pool is not a
dependency): connections are opened lazily up to ``size``, handed out through a queue,
health-checked on failure and replaced.
"""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

import psycopg
from alembic import command
from alembic.config import Config
from psycopg.rows import dict_row

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

    async def ping(self) -> None:
        await self.fetchone("SELECT 1 AS ok")

    async def close(self) -> None:
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                await conn.close()
        self._all.clear()


def sqlalchemy_url(dsn: str) -> str:
    """The psycopg 3 dialect URL of a libpq DSN (for Alembic)."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    return dsn


def migrate(dsn: str, schema: str) -> None:
    """Bring the API's schema to the newest Alembic revision (idempotent; concurrent starts
    wait for each other on a PostgreSQL advisory lock taken in migrations/env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["url"] = sqlalchemy_url(dsn)
    cfg.attributes["schema"] = schema
    command.upgrade(cfg, "head")
