"""``python -m services.api``: migrate the schema (Alembic), make sure the admin exists, then
serve with uvicorn on 127.0.0.1:${COBOL_API_PORT:-8000}. ``--migrate-only`` stops after the
migration (what `make setup` runs against the local PostgreSQL)."""
from __future__ import annotations

import argparse
import asyncio
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
    uvicorn.run("services.api.app:app", host=settings.host, port=settings.port, log_level=settings.log_level,
                proxy_headers=False, access_log=False, ws="auto", loop="uvloop", http="httptools",
                timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
