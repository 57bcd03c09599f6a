"""The federation's settings (environment variables, with their defaults), read once."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cobol_mesh.settings import ROOT, local_port


def _env(name: str, default: str) -> str:
    v = os.environ.get(name)
    return default if v in (None, "") else v


def _num(name: str, default, kind=float, lo=None, hi=None):
    raw = _env(name, str(default))
    try:
        v = kind(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise SystemExit(f"{name}={raw!r} must be between {lo} and {hi}")
    return v


@dataclass(frozen=True)
class Config:
    federator_addr: str
    topic_versions: str
    epsilon: float
    delta: float
    clip: float
    max_releases: int           # rounds per training at most (levels: pattern lengths 2..2^max)
    min_nodes: int
    stage_seconds: float
    join_grace: float
    keep: int                   # survivors kept per level
    max_candidates: int
    dict_bytes: int
    max_records: int
    scale_bits: int
    neighbours: int
    threshold_sigmas: float
    converge: float
    ab_share: float
    ab_min_chunks: int
    promote: str                # ab | auto | manual
    training_interval: float
    round_pause: float
    key_dir: Path
    pg_schema: str


def load() -> Config:
    promote = _env("COBOL_FED_PROMOTE", "ab")
    if promote not in ("ab", "auto", "manual"):
        raise SystemExit(f"COBOL_FED_PROMOTE={promote!r}: choose ab, auto or manual")
    schema = _env("COBOL_FED_PG_SCHEMA", "federator")
    if not schema.isidentifier() or not schema.islower():
        raise SystemExit(f"COBOL_FED_PG_SCHEMA={schema!r} must be a lower-case identifier")
    key_dir = Path(_env("COBOL_FED_KEY_DIR", ".data/federation"))
    return Config(
        federator_addr=_env("COBOL_FEDERATOR_ADDR", f"127.0.0.1:{local_port(50054)}"),
        topic_versions=_env("COBOL_TOPIC_DICT_VERSIONS", "cobol.dict.versions"),
        epsilon=_num("COBOL_FED_EPSILON", 1.0, float, 1e-3, 100),
        delta=_num("COBOL_FED_DELTA", 1e-6, float, 1e-12, 0.1),
        clip=_num("COBOL_FED_CLIP", 1.0, float, 1e-3, 1e3),
        max_releases=_num("COBOL_FED_MAX_ROUNDS", 5, int, 1, 6),
        min_nodes=_num("COBOL_FED_MIN_NODES", 2, int, 2, 10_000),
        stage_seconds=_num("COBOL_FED_STAGE_SECONDS", 30.0, float, 0.5, 3600),
        join_grace=_num("COBOL_FED_JOIN_GRACE", 2.0, float, 0, 600),
        keep=_num("COBOL_FED_KEEP", 2048, int, 1, 100_000),
        max_candidates=_num("COBOL_FED_MAX_CANDIDATES", 65536, int, 1, 1 << 20),
        dict_bytes=_num("COBOL_FED_DICT_BYTES", 32768, int, 256, 1 << 20),
        max_records=_num("COBOL_FED_MAX_RECORDS", 4000, int, 1, 1_000_000),
        scale_bits=_num("COBOL_FED_SCALE_BITS", 16, int, 4, 24),
        neighbours=_num("COBOL_FED_NEIGHBOURS", 0, int, 0, 10_000),
        threshold_sigmas=_num("COBOL_FED_THRESHOLD_SIGMAS", 3.0, float, 0, 100),
        converge=_num("COBOL_FED_CONVERGE", 0.95, float, 0, 1),
        ab_share=_num("COBOL_FED_AB_SHARE", 0.1, float, 0, 1),
        ab_min_chunks=_num("COBOL_FED_AB_MIN_CHUNKS", 50, int, 1, 10**9),
        promote=promote,
        training_interval=_num("COBOL_FED_TRAINING_INTERVAL", 3600.0, float, 0, 10**8),
        round_pause=_num("COBOL_FED_ROUND_PAUSE", 1.0, float, 0, 3600),
        key_dir=key_dir if key_dir.is_absolute() else ROOT / key_dir,
        pg_schema=schema,
    )
