"""The FastAPI application of the API gateway."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import audit, auth, config, jobs, live, logs, metrics, users
from .db import Database
from .grpc_clients import MeshClients
from .state import state

STATIC = Path(__file__).parent / "static"
log = structlog.get_logger("cobol.api")


async def init_storage(settings: config.Settings) -> tuple[Database, users.UserStore]:
    """Create the API's tables and the bootstrap admin. Raises BootstrapError / psycopg errors."""
    db = Database(settings.pg_dsn, settings.db_schema)
    await db.migrate()
    store = users.UserStore(db, settings.pbkdf2_iterations)
    outcome = await store.bootstrap_admin(settings.admin_password)
    log.info("bootstrap.admin", outcome=outcome)
    return db, store


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    settings = config.load()
    logs.setup(settings.instance, settings.log_level)
    state.settings = settings
    if settings.jwt_secret_generated:
        log.warning("jwt.secret_generated",
                    hint="COBOL_JWT_SECRET is unset: tokens are valid for this process only")
    state.db, state.users = await init_storage(settings)
    state.mesh = MeshClients(settings.ingest_addr, settings.coordinator_addr, settings.archive_addr,
                             settings.grpc_timeout)
    state.redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    state.hub = live.JobHub(settings.redis_url, settings.jobs_channel)
    state.hub.start()
    log.info("api.started", host=settings.host, port=settings.port, max_upload_bytes=settings.max_upload_bytes,
             ingest=settings.ingest_addr, coordinator=settings.coordinator_addr, archive=settings.archive_addr)
    try:
        yield
    finally:
        await state.hub.stop()
        await state.mesh.close()
        with contextlib.suppress(Exception):
            await state.redis.aclose()
        await state.db.close()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Cobol Protocol API",
        version="0.1.0",
        description="REST/WebSocket gateway of the Cobol Protocol compression mesh.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(metrics.MetricsMiddleware)
    app.include_router(auth.router)
    app.include_router(jobs.router)
    app.include_router(users.build_router())
    app.include_router(audit.build_router())
    app.include_router(live.router)

    @app.get("/api/health", tags=["health"])
    async def health():
        async def pg() -> str:
            await asyncio.wait_for(state.db.ping(), 2)
            return "ok"

        async def rd() -> str:
            await asyncio.wait_for(state.redis.ping(), 2)
            return "ok"

        names = ["postgres", "redis", "ingest", "coordinator", "archive"]
        results = await asyncio.gather(pg(), rd(), state.mesh.check("ingest"), state.mesh.check("coordinator"),
                                       state.mesh.check("archive"), return_exceptions=True)
        checks = {n: (r if isinstance(r, str) else f"error: {type(r).__name__}: {r}") for n, r in zip(names, results)}
        checks["pubsub"] = "ok" if state.hub.connected else "not subscribed"
        if checks["postgres"] != "ok":
            return JSONResponse({"status": "error", "checks": checks}, status_code=503)
        healthy = all(v == "ok" for v in checks.values())
        return {"status": "ok" if healthy else "degraded", "instance": state.settings.instance, "checks": checks}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    from .dashboard import mount as mount_dashboard; mount_dashboard(app)  # noqa: E702 - the web dashboard at / (replaces the page above)
    return app


app = create_app()
