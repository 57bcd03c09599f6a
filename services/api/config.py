"""The API's settings, read once from the environment.

Shared values (COBOL_PG_DSN, COBOL_REDIS_URL, COBOL_*_ADDR, COBOL_MAX_UPLOAD_BYTES,
COBOL_JOBS_CHANNEL, COBOL_LOG_LEVEL) come from ``cobol_mesh.settings`` so there is one
source of truth; the API-only variables (COBOL_API_*, COBOL_JWT_*, COBOL_ADMIN_PASSWORD) are
read here.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field


def _mesh_settings():
    """A fresh read of cobol_mesh.settings (None when the shared library is not importable)."""
    try:
        from cobol_mesh import settings as mesh_settings

        return mesh_settings.load()
    except ImportError:
        return None


def _shared(mesh, name: str, env: str, default: str) -> str:
    """A shared value: from cobol_mesh.settings when available, else the environment."""
    if mesh is not None and getattr(mesh, name, None) not in (None, ""):
        return str(getattr(mesh, name))
    value = os.environ.get(env)
    return default if value in (None, "") else value


def _int(env: str, default: int) -> int:
    raw = os.environ.get(env)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"cobol-api: {env}={raw!r} is not an integer") from None


SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    instance: str = "api-1"
    pg_dsn: str = "postgresql://cobol:cobol@127.0.0.1:5432/cobol"
    db_schema: str = "public"
    redis_url: str = "redis://127.0.0.1:6379/0"
    ingest_addr: str = "127.0.0.1:50051"
    coordinator_addr: str = "127.0.0.1:50052"
    archive_addr: str = "127.0.0.1:50053"
    max_upload_bytes: int = 10 * 1024**3
    jwt_secret: str = ""
    jwt_secret_generated: bool = False
    jwt_ttl_seconds: int = 3600
    admin_password: str | None = None
    jobs_channel: str = "cobol:jobs"
    grpc_timeout: float = 10.0
    upload_piece_bytes: int = 256 * 1024
    upload_queue_pieces: int = 8
    pbkdf2_iterations: int = 600_000
    log_level: str = "info"
    extra: dict = field(default_factory=dict)


def load() -> Settings:
    secret = os.environ.get("COBOL_JWT_SECRET", "")
    generated = False
    if not secret:
        # Tokens then only hold for this process: fine for one local instance, wrong for
        # several behind a balancer. The startup log says so.
        secret = secrets.token_urlsafe(48)
        generated = True
    mesh = _mesh_settings()
    schema = os.environ.get("COBOL_API_DB_SCHEMA", "public")
    if not SCHEMA_RE.match(schema):
        raise SystemExit(f"cobol-api: COBOL_API_DB_SCHEMA={schema!r} is not a plain lower-case SQL name")
    return Settings(
        host=os.environ.get("COBOL_API_HOST", "127.0.0.1"),
        port=_int("COBOL_API_PORT", 8000 + _int("COBOL_PORT_OFFSET", 0)),
        instance=os.environ.get("COBOL_INSTANCE", "api-1"),
        pg_dsn=_shared(mesh, "pg_dsn", "COBOL_PG_DSN", "postgresql://cobol:cobol@127.0.0.1:5432/cobol"),
        db_schema=schema,
        redis_url=_shared(mesh, "redis_url", "COBOL_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ingest_addr=_shared(mesh, "ingest_addr", "COBOL_INGEST_ADDR", "127.0.0.1:50051"),
        coordinator_addr=_shared(mesh, "coordinator_addr", "COBOL_COORDINATOR_ADDR", "127.0.0.1:50052"),
        archive_addr=_shared(mesh, "archive_addr", "COBOL_ARCHIVE_ADDR", "127.0.0.1:50053"),
        max_upload_bytes=int(_shared(mesh, "max_upload_bytes", "COBOL_MAX_UPLOAD_BYTES", str(10 * 1024**3))),
        jwt_secret=secret,
        jwt_secret_generated=generated,
        jwt_ttl_seconds=_int("COBOL_JWT_TTL_SECONDS", 3600),
        admin_password=os.environ.get("COBOL_ADMIN_PASSWORD") or None,
        jobs_channel=_shared(mesh, "jobs_channel", "COBOL_JOBS_CHANNEL", "cobol:jobs"),
        grpc_timeout=float(os.environ.get("COBOL_API_GRPC_TIMEOUT", "10")),
        pbkdf2_iterations=_int("COBOL_API_PBKDF2_ITERATIONS", 600_000),
        log_level=_shared(mesh, "log_level", "COBOL_LOG_LEVEL", "info").lower(),
    )
