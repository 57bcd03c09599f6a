"""The coordinator's own settings (environment variables, with their defaults).

The topic names shared with every service's membership client live in cobol_mesh.membership.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .nodes import Thresholds
from .progress import Limits


def _num(name: str, default: float, cast=float):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise SystemExit(f"{name}={raw!r} must not be negative")
    return value


@dataclass(frozen=True)
class CoordinatorConfig:
    lease_ms: int            # leader lease; a dead leader is replaced within lease + one retry
    retry_s: float           # how often a standby tries to take the lease
    min_replicas: int        # archive replicas that must hold every chunk before a job is done
    thresholds: Thresholds
    limits: Limits
    tick_s: float            # failure detector period


def load() -> CoordinatorConfig:
    suspect = _num("COBOL_SUSPECT_AFTER_S", 2.5)
    down = _num("COBOL_DOWN_AFTER_S", 4.5)
    if not 0 < suspect < down:
        raise SystemExit("COBOL_SUSPECT_AFTER_S must be positive and below COBOL_DOWN_AFTER_S")
    min_replicas = _num("COBOL_MIN_REPLICAS", 1, int)
    if not 1 <= min_replicas <= 64:
        raise SystemExit("COBOL_MIN_REPLICAS must be 1..64")
    lease_ms = _num("COBOL_LEASE_MS", 3000, int)
    if lease_ms < 500:
        raise SystemExit("COBOL_LEASE_MS must be at least 500")
    return CoordinatorConfig(
        lease_ms=lease_ms, retry_s=_num("COBOL_LEASE_RETRY_S", 0.5), min_replicas=min_replicas,
        thresholds=Thresholds(suspect, down, _num("COBOL_NODE_FORGET_S", 3600.0)),
        limits=Limits(orphan_grace=_num("COBOL_ORPHAN_GRACE_S", 5.0),
                      stall_after=_num("COBOL_STALL_AFTER_S", 30.0),
                      max_redrives=_num("COBOL_MAX_REDRIVES", 1, int)),
        tick_s=0.25)
