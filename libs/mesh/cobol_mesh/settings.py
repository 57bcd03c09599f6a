"""Every environment variable of the mesh, in one place, with its default.

`settings` is read once at import; `load()` re-reads the environment (tests use it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[3]   # the repository checkout


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


# Shifts every default port, so that two meshes (e.g. two checkouts' test runs) share a machine.
PORT_OFFSET = _int("COBOL_PORT_OFFSET", 0)


def local_port(default: int) -> int:
    """A default port of the local mesh, shifted by COBOL_PORT_OFFSET (folded back below
    65536 when the sum would overflow, as cobol_mesh.topology does)."""
    from .topology import shift_port
    return shift_port(default, PORT_OFFSET)


def _path(name: str, default: str) -> Path:
    p = Path(_env(name, default))
    return p if p.is_absolute() else ROOT / p


@dataclass(frozen=True)
class Settings:
    instance: str
    kafka_bootstrap: str
    redis_url: str
    pg_dsn: str
    ingest_addr: str
    coordinator_addr: str
    archive_addr: str
    chunk_size: int
    chunk_key: str
    max_upload_bytes: int
    max_record_bytes: int
    linger_ms: int
    archive_backend: str
    archive_dir: Path
    s3_endpoint: str
    s3_bucket: str
    s3_region: str
    run_dir: Path
    bind_public: bool
    metrics_port: int
    log_level: str
    otel_exporter: str
    compressor_batch: int
    compressor_batch_bytes: int
    compressor_batch_s: float
    txn_timeout_ms: int
    topic_raw: str
    topic_chunks: str
    topic_frames: str
    topic_events: str
    topic_dlq: str
    jobs_channel: str
    redis_prefix: str
    group_prefix: str
    offset_reset: str
    kafka_max_bytes: int
    upload_idle_s: float
    upload_deadline_s: float
    ingest_max_streams: int
    pg_retry_s: float
    codec_attempts: int
    topic_chunks_dlq: str
    archive_peers: str
    archive_repair_s: float
    kafka_session_ms: int
    kafka_heartbeat_ms: int
    kafka_group_protocol: str

    def as_env(self) -> dict[str, str]:
        return {f"COBOL_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def load() -> Settings:
    return Settings(
        instance=_env("COBOL_INSTANCE", "dev-1"),
        kafka_bootstrap=_env("COBOL_KAFKA_BOOTSTRAP", f"127.0.0.1:{local_port(9092)}"),
        redis_url=_env("COBOL_REDIS_URL", f"redis://127.0.0.1:{local_port(6379)}/0"),
        pg_dsn=_env("COBOL_PG_DSN", f"postgresql://cobol:cobol@127.0.0.1:{local_port(5432)}/cobol"),
        ingest_addr=_env("COBOL_INGEST_ADDR", f"127.0.0.1:{local_port(50051)}"),
        coordinator_addr=_env("COBOL_COORDINATOR_ADDR", f"127.0.0.1:{local_port(50052)}"),
        archive_addr=_env("COBOL_ARCHIVE_ADDR", f"127.0.0.1:{local_port(50053)}"),
        chunk_size=_int("COBOL_CHUNK_SIZE", 1 * MiB),
        # key of cobol.chunks: "job" (one partition per job: one compressor per job at a time)
        # or "seq" (a job's chunks spread over all partitions: every compressor helps)
        chunk_key=_env("COBOL_CHUNK_KEY", "seq"),
        max_upload_bytes=_int("COBOL_MAX_UPLOAD_BYTES", 10 * 1024 * MiB),
        max_record_bytes=_int("COBOL_MAX_RECORD_BYTES", 1 * MiB),
        linger_ms=_int("COBOL_LINGER_MS", 250),
        archive_backend=_env("COBOL_ARCHIVE_BACKEND", "fs"),
        archive_dir=_path("COBOL_ARCHIVE_DIR", ".data/archive"),
        s3_endpoint=_env("COBOL_S3_ENDPOINT", f"http://127.0.0.1:{local_port(9000)}"),
        s3_bucket=_env("COBOL_S3_BUCKET", "cobol-archive"),
        s3_region=_env("COBOL_S3_REGION", "us-east-1"),
        run_dir=_path("COBOL_RUN_DIR", ".run"),
        # containers only: allow gRPC/metrics on non-loopback addresses (the local mesh never does)
        bind_public=_env("COBOL_BIND_PUBLIC", "0") == "1",
        metrics_port=_int("COBOL_METRICS_PORT", 0),      # 0: the service's default port
        log_level=_env("COBOL_LOG_LEVEL", "info").lower(),
        otel_exporter=_env("COBOL_OTEL_EXPORTER", "none"),  # none | console
        compressor_batch=_int("COBOL_COMPRESSOR_BATCH", 32),
        # ... and at most this many bytes of chunks per batch: a worker picks up partitions
        # handed to it (a failover) only between batches, so batches stay short (the time
        # budget below bounds slow profiles). Not smaller: each batch's transaction costs
        # round trips to the brokers (offsets, commit) worth several 1 MiB chunks of `fast`.
        compressor_batch_bytes=_int("COBOL_COMPRESSOR_BATCH_BYTES", 8 * MiB),
        compressor_batch_s=_int("COBOL_COMPRESSOR_BATCH_MS", 500) / 1000.0,
        # compressor transactions span only produce + commit (encoding happens before); a dead
        # worker's open transaction holds its partitions' offsets this long (+ up to 1 s). Not
        # shorter: with a broker down, produce waits for new leaders, and 3 s kept aborting.
        txn_timeout_ms=_int("COBOL_TXN_TIMEOUT_MS", 5000),
        topic_raw=_env("COBOL_TOPIC_RAW", "cobol.ingest.raw"),
        topic_chunks=_env("COBOL_TOPIC_CHUNKS", "cobol.chunks"),
        topic_frames=_env("COBOL_TOPIC_FRAMES", "cobol.frames"),
        topic_events=_env("COBOL_TOPIC_EVENTS", "cobol.jobs.events"),
        topic_dlq=_env("COBOL_TOPIC_DLQ", "cobol.ingest.dlq"),
        jobs_channel=_env("COBOL_JOBS_CHANNEL", "cobol:jobs"),
        redis_prefix=_env("COBOL_REDIS_PREFIX", "cobol:coord:"),
        # consumer groups and transactional ids are "<group_prefix>-<role>": a second mesh on
        # the same Kafka (e.g. the integration tests) uses its own prefix and never steals
        # partitions from, or fences, the first.
        group_prefix=_env("COBOL_GROUP_PREFIX", "cobol"),
        offset_reset=_env("COBOL_KAFKA_OFFSET_RESET", "earliest"),   # for a group's first start
        kafka_max_bytes=_int("COBOL_KAFKA_MAX_BYTES", 16 * MiB),
        # gRPC uploads: a stream silent this long, or open this long in all, is aborted; at most
        # this many uploads at once (more get RESOURCE_EXHAUSTED at once, never a queue).
        upload_idle_s=float(_int("COBOL_UPLOAD_IDLE_S", 30)),
        upload_deadline_s=float(_int("COBOL_UPLOAD_DEADLINE_S", 3600)),
        ingest_max_streams=_int("COBOL_INGEST_MAX_STREAMS", 64),
        # how long a PostgreSQL call keeps retrying through a lost connection (a restart)
        pg_retry_s=float(_int("COBOL_PG_RETRY_S", 30)),
        # a chunk the codec refuses this many times goes to COBOL_TOPIC_CHUNKS_DLQ, its job fails
        codec_attempts=_int("COBOL_CODEC_ATTEMPTS", 3),
        topic_chunks_dlq=_env("COBOL_TOPIC_CHUNKS_DLQ", "cobol.chunks.dlq"),
        # the other archive replicas' gRPC addresses (comma-separated): reads fetch missing or
        # damaged frames from them, and a replica that lost its store refills from them
        archive_peers=_env("COBOL_ARCHIVE_PEERS", ""),
        archive_repair_s=float(_int("COBOL_ARCHIVE_REPAIR_S", 300)),
        kafka_session_ms=_int("COBOL_KAFKA_SESSION_MS", 2000),
        kafka_heartbeat_ms=_int("COBOL_KAFKA_HEARTBEAT_MS", 500),
        # classic (cooperative-sticky, measured) or consumer (KIP-848, broker-side assignment)
        kafka_group_protocol=_env("COBOL_KAFKA_GROUP_PROTOCOL", "classic"),
    )


settings = load()

# Default Prometheus port per service kind (COBOL_METRICS_PORT overrides; instances of one
# kind on one host add their ordinal: compressor-2 -> 9302).
METRICS_BASE = {"ingest": 9100, "coordinator": 9200, "compressor": 9300, "archive": 9400}


def metrics_port_for(instance: str) -> int:
    if settings.metrics_port:
        return settings.metrics_port
    kind, _, ordinal = instance.rpartition("-")
    base = METRICS_BASE.get(kind, 9500)
    return local_port(base + (int(ordinal) if ordinal.isdigit() else 0))


def group(role: str) -> str:
    return f"{settings.group_prefix}-{role}"
