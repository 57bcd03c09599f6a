"""The FastAPI application: wiring of settings, stores, mesh clients, middlewares and routers."""
from __future__ import annotations

import contextlib

import psycopg
import redis.asyncio as aioredis
import redis.exceptions
import structlog
from cobol_mesh import settings as mesh_settings
from cobol_mesh.cluster_client import ClusterClient
from cobol_mesh import telemetry
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import config, jobsvc, logs, metrics
from .dashboard import mount as mount_dashboard
from .clustersvc import ClusterView, KafkaReplicas
from .db import Database
from .deps import AppContext
from .events import EventPublisher
from .grpc_clients import MeshClients
from .live import JobHub
from .middleware import Audit, RefuseNul
from .ratelimit import Limiter
from .routes import analytics, apikeys, audit, auth, cluster, dictionaries, federation, health, jobs, users, ws
from .security import PasswordHasherBox
from .stores.apikeys import ApiKeyStore
from .stores.audit import AuditStore
from .stores.jobs import JobStore
from .stores.sessions import SessionStore
from .stores.users import UserStore

ROUTERS = (auth.router, users.router, apikeys.router, audit.router, jobs.router, health.router, ws.router,
           cluster.router, dictionaries.router, federation.router, analytics.router)
log = structlog.get_logger("cobol.api")


async def bootstrap(settings: config.Settings, db: Database) -> str:
    """Create the bootstrap admin if missing (raises BootstrapError without a password)."""
    hasher = PasswordHasherBox(settings.argon2_time_cost, settings.argon2_memory_kib)
    return await UserStore(db, hasher).bootstrap_admin(settings.admin_password)


REDIS_CONNECTIONS = 100
REDIS_WAIT_SECONDS = 10


def connect_redis(url: str, max_connections: int = REDIS_CONNECTIONS) -> aioredis.Redis:
    """The API's Redis client. Its pool makes a call wait for a free connection (up to
    REDIS_WAIT_SECONDS) instead of failing: redis-py's default pool raises
    MaxConnectionsError past 100 calls in flight, which turned a burst of 1,000 WebSocket
    logins into 503s."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=REDIS_WAIT_SECONDS,
                                                    socket_connect_timeout=2, socket_timeout=5)
    return aioredis.Redis.from_pool(pool)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    settings = config.load()
    logs.setup(settings.instance, settings.log_level)
    if settings.jwt_secret_generated:
        log.warning("jwt.secret_generated", hint="COBOL_JWT_SECRET is unset: tokens are valid for this process only")
    db = Database(settings.pg_dsn, settings.db_schema)
    redis = connect_redis(settings.redis_url)
    hasher = PasswordHasherBox(settings.argon2_time_cost, settings.argon2_memory_kib)
    ctx = AppContext(
        settings=settings, db=db, redis=redis, users=UserStore(db, hasher),
        sessions=SessionStore(db, redis, settings.redis_prefix, settings.revocations_channel, settings.refresh_ttl,
                              settings.access_ttl),
        keys=ApiKeyStore(db), jobs=JobStore(db), audit=AuditStore(db, settings.instance),
        limiter=Limiter(redis, settings.redis_prefix, per_user=settings.rate_user, per_addr=settings.rate_addr,
                        login_per_addr=settings.login_rate, lockout_failures=settings.lockout_failures,
                        lockout_seconds=settings.lockout_seconds),
        mesh=MeshClients(settings.ingest_addr, settings.coordinator_addr, settings.archive_addr, settings.grpc_timeout,
                         federator_addr=settings.federator_addr),
        hub=None, events=EventPublisher(), running={},
        cluster=ClusterView(ClusterClient(timeout=min(settings.grpc_timeout, 5.0), identity="api"),
                            KafkaReplicas(mesh_settings.load().kafka_bootstrap)))
    ctx.hub = JobHub(settings.redis_url, settings.revocations_channel,
                     lambda job_id: jobsvc.load_job(ctx, job_id), ctx.cluster)
    log.info("bootstrap.admin", outcome=await ctx.users.bootstrap_admin(settings.admin_password))
    app.state.ctx = ctx
    ctx.hub.start()
    log.info("api.started", host=settings.host, port=settings.port, ingest=settings.ingest_addr,
             coordinator=settings.coordinator_addr, archive=settings.archive_addr)
    try:
        yield
    finally:
        await ctx.hub.stop()
        await ctx.mesh.close()
        ctx.cluster.close()
        if getattr(app.state, "analytics", None) is not None:
            app.state.analytics.close()
        ctx.events.close()
        with contextlib.suppress(Exception):
            await redis.aclose()
        await db.close()


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    """A 422 that names each problem but never echoes what was sent (passwords included)."""
    errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    text = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0] if e['loc'] else 'request'}: {e['msg']}"
                     for e in errors)
    return JSONResponse({"detail": f"invalid request: {text}"[:2000], "errors": errors}, status_code=422)


def create_app() -> FastAPI:
    app = FastAPI(title="Cobol Protocol API", version="0.2.0",
                  description="REST/WebSocket gateway of the Cobol Protocol compression mesh. Roles, "
                              "rate limits and the WebSocket protocol: docs/API.md.",
                  openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None, lifespan=lifespan,
                  telemetry=telemetry.fastapi_config())     # server spans, continued into the mesh
    app.add_middleware(Audit)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(RefuseNul)
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError):
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(redis.exceptions.RedisError)
    @app.exception_handler(psycopg.OperationalError)
    async def on_dependency_down(_request: Request, exc: Exception):
        # Redis (limits, revocation) or PostgreSQL did not answer: a clear 503, never a 500
        log.warning("dependency.unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": f"a dependency of the API is unavailable ({type(exc).__name__}); retry"},
                            status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    mount_dashboard(app)                 # the web dashboard at / (dashboard/dist)
    return app


app = create_app()
