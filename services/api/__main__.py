"""``python -m services.api``: migrate the schema (Alembic), make sure the admin exists, then
serve with uvicorn on 127.0.0.1:${COBOL_API_PORT:-8000}. ``--migrate-only`` stops after the
migration (what `make setup` runs against the local PostgreSQL)."""
from __future__ import annotations

import argparse
import asyncio
import resource
import sys

import uvicorn

from . import config, logs
from .app import bootstrap
from .db import Database, migrate


async def _admin(settings: config.Settings) -> None:
    db = Database(settings.pg_dsn, settings.db_schema)
    try:
        await bootstrap(settings, db)
    finally:
        await db.close()


BACKLOG = 4096          # pending connections: a burst of 1,000+ sockets (Linux caps it at somaxconn)
WS_PING_S = 20.0        # the server pings each WebSocket this often ...
WS_PING_TIMEOUT_S = 60.0  # ... and drops it only after a minute without a pong (a busy client is not a dead one)


def raise_fd_limit() -> int:
    """Every socket is a file descriptor: lift the soft limit (often 1,024) to the hard one so
    that 1,000+ WebSockets do not hit EMFILE. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        want = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.api", description=__doc__.split("\n\n")[0])
    p.add_argument("--migrate-only", action="store_true", help="apply the Alembic migrations and exit")
    args = p.parse_args(argv)
    settings = config.load()
    logs.setup(settings.instance, settings.log_level)
    try:
        migrate(settings.pg_dsn, settings.db_schema)
        if args.migrate_only:
            print(f"cobol-api: schema {settings.db_schema} is at the newest migration")
            return 0
        asyncio.run(_admin(settings))
    except Exception as exc:  # noqa: BLE001 - say clearly why we refuse to start
        print(f"cobol-api: error: cannot start: {exc}", file=sys.stderr)
        return 2
    raise_fd_limit()
    uvicorn.run("services.api.app:app", host=settings.host, port=settings.port, log_level=settings.log_level,
                proxy_headers=False, access_log=False, ws="auto", loop="uvloop", http="httptools",
                backlog=BACKLOG, ws_ping_interval=WS_PING_S, ws_ping_timeout=WS_PING_TIMEOUT_S,
                timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
