"""Shared fixtures: the corpora, and the real Kafka, Redis, PostgreSQL and S3 (moto) that
scripts/infra.py installs and starts (used by tests/integration and tests/e2e)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from corpora import CORPORA
from infra_support import infra_status, run_infra

# The tests call the mesh's gRPC services as the API does: with the `api` certificate (mTLS,
# scripts/certs.py). Servers always present their own kind's certificate.
os.environ.setdefault("COBOL_GRPC_IDENTITY", "api")



@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the shared corpora are missing at {CORPORA}: clone the project beside ../shared")
    return CORPORA


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


def pytest_configure(config):
    config.addinivalue_line("markers", "fault_full: a fault-injection test that only `make chaos` "
                            "(COBOL_CHAOS=full) runs")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("COBOL_CHAOS") == "full":
        return
    drop = [i for i in items if i.get_closest_marker("fault_full")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if not i.get_closest_marker("fault_full")]
