"""The API's settings, read once from the environment.

Shared values (COBOL_PG_DSN, COBOL_REDIS_URL, COBOL_*_ADDR, COBOL_MAX_UPLOAD_BYTES,
COBOL_JOBS_CHANNEL, COBOL_S3_*, COBOL_LOG_LEVEL) come from ``cobol_mesh.settings`` so there is
one source of truth; the API-only variables (COBOL_API_*, COBOL_JWT_*, COBOL_ADMIN_PASSWORD)
are read here.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cobol_mesh import settings as mesh_settings


def _int(env: str, default: int) -> int:
    raw = os.environ.get(env)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"cobol-api: {env}={raw!r} is not an integer") from None


SCHEMA_RE = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    instance: str
    pg_dsn: str
    db_schema: str
    redis_url: str
    ingest_addr: str
    coordinator_addr: str
    archive_addr: str
    federator_addr: str
    max_upload_bytes: int
    jwt_secret: str
    jwt_secret_generated: bool
    access_ttl: int                 # seconds an access token lives
    refresh_ttl: int                # seconds a refresh token (and its session) lives
    admin_password: str | None
    jobs_channel: str
    revocations_channel: str
    grpc_timeout: float
    import_root: Path | None        # COBOL_API_IMPORT_ROOT: jobs may name files under it
    s3_endpoint: str
    s3_region: str
    rate_user: int                  # requests per minute per user (or API key)
    rate_addr: int                  # requests per minute per client address
    login_rate: int                 # login attempts per minute per address
    lockout_failures: int           # failed logins in a row that lock an account ...
    lockout_seconds: int            # ... for this long
    argon2_time_cost: int
    argon2_memory_kib: int
    redis_prefix: str
    upload_piece_bytes: int = 256 * 1024
    upload_queue_pieces: int = 8
    log_level: str = "info"


def load() -> Settings:
    secret = os.environ.get("COBOL_JWT_SECRET", "")
    generated = not secret
    if generated:
        # Tokens then only hold for this process: fine for one local instance, wrong for
        # several behind a balancer. The startup log says so.
        secret = secrets.token_urlsafe(48)
    mesh = mesh_settings.load()
    schema = os.environ.get("COBOL_API_DB_SCHEMA", "public")
    if not SCHEMA_RE.match(schema):
        raise SystemExit(f"cobol-api: COBOL_API_DB_SCHEMA={schema!r} is not a plain lower-case SQL name")
    root = os.environ.get("COBOL_API_IMPORT_ROOT")
    return Settings(
        host=os.environ.get("COBOL_API_HOST", "127.0.0.1"),
        port=_int("COBOL_API_PORT", mesh_settings.local_port(8000)),
        instance=os.environ.get("COBOL_INSTANCE", "api-1"),
        pg_dsn=mesh.pg_dsn,
        db_schema=schema,
        redis_url=mesh.redis_url,
        ingest_addr=mesh.ingest_addr,
        coordinator_addr=mesh.coordinator_addr,
        archive_addr=mesh.archive_addr,
        federator_addr=os.environ.get("COBOL_FEDERATOR_ADDR") or f"127.0.0.1:{mesh_settings.local_port(50054)}",
        max_upload_bytes=mesh.max_upload_bytes,
        jwt_secret=secret,
        jwt_secret_generated=generated,
        access_ttl=_int("COBOL_JWT_TTL_SECONDS", 900),
        refresh_ttl=_int("COBOL_REFRESH_TTL_SECONDS", 7 * 86400),
        admin_password=os.environ.get("COBOL_ADMIN_PASSWORD") or None,
        jobs_channel=mesh.jobs_channel,
        revocations_channel=os.environ.get("COBOL_API_REVOCATIONS_CHANNEL", f"{mesh.jobs_channel}:api-revocations"),
        grpc_timeout=float(os.environ.get("COBOL_API_GRPC_TIMEOUT", "10")),
        import_root=Path(root).resolve() if root else None,
        s3_endpoint=mesh.s3_endpoint,
        s3_region=mesh.s3_region,
        rate_user=_int("COBOL_API_RATE_PER_USER", 600),
        rate_addr=_int("COBOL_API_RATE_PER_ADDR", 1200),
        login_rate=_int("COBOL_API_LOGIN_RATE", 20),
        lockout_failures=_int("COBOL_API_LOCKOUT_FAILURES", 5),
        lockout_seconds=_int("COBOL_API_LOCKOUT_SECONDS", 900),
        argon2_time_cost=_int("COBOL_API_ARGON2_TIME_COST", 3),
        argon2_memory_kib=_int("COBOL_API_ARGON2_MEMORY_KIB", 65536),
        redis_prefix=os.environ.get("COBOL_API_REDIS_PREFIX", f"cobol:api:{schema}:"),
        log_level=mesh.log_level,
    )
