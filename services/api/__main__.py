"""``python -m services.api``: uvicorn on 127.0.0.1:${COBOL_API_PORT:-8000}."""
from __future__ import annotations

import asyncio
import sys

import uvicorn

from . import config, logs


async def _preflight(settings: config.Settings) -> None:
    from .app import init_storage

    db, _ = await init_storage(settings)
    await db.close()


def main() -> int:
    settings = config.load()
    logs.setup(settings.instance, settings.log_level)
    try:
        asyncio.run(_preflight(settings))
    except Exception as exc:  # noqa: BLE001 - say clearly why we refuse to start
        print(f"cobol-api: error: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run("services.api.app:app", host=settings.host, port=settings.port, log_level=settings.log_level,
                proxy_headers=False, access_log=False, ws="auto", timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
