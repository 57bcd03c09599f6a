"""Shared fixtures: the corpora, and the real Kafka, Redis, PostgreSQL and S3 (moto) that
scripts/infra.py installs and starts (used by tests/integration and tests/e2e)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpora import CORPORA, ROOT

INFRA = ROOT / "scripts" / "infra.py"


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the shared corpora are missing at {CORPORA}: clone the project beside ../shared")
    return CORPORA


def run_infra(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run scripts/infra.py with this interpreter (output goes to pytest's capture unless asked)."""
    return subprocess.run([sys.executable, str(INFRA), *args], cwd=ROOT, text=True,
                          capture_output=capture, stdin=subprocess.DEVNULL)


def infra_status() -> dict:
    r = run_infra("status", "--json", capture=True)
    return json.loads(r.stdout)


@pytest.fixture(scope="session")
def infra() -> dict:
    """Start every component that is not already up; stop, at the end, only what this session
    started. Yields `scripts/infra.py status --json`: per component its instances and endpoints
    (kafka.bootstrap_servers, redis.url, postgres.dsn, s3.endpoint_url)."""
    before = infra_status()
    was_up = {c for c, info in before.items() if all(i["running"] for i in info["instances"].values())}
    to_stop = [c for c in before if c not in was_up]
    if to_stop:
        r = run_infra("start", "all")
        if r.returncode:
            run_infra("stop", *to_stop)
            pytest.fail(f"scripts/infra.py start all failed (exit {r.returncode}); see the captured output")
    yield infra_status()
    if to_stop:
        run_infra("stop", *to_stop)
