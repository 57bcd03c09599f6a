"""The fault suite's mesh and its figures.

One mesh (tests/mesh_harness.py: the topology's pipeline, two archive replicas, two
compressors) serves every case of a session; after each case every instance is running again,
unfrozen, and the infrastructure is whole. `make test` runs the quick cases (marker
`chaos_quick`); COBOL_CHAOS=full (what `make chaos` sets) runs them all. Figures (detection
time, time until partitions are consumed again, job slowdown per fault) are collected, never
asserted, and printed at the end of the session.
"""
from __future__ import annotations

import os
import signal

import pytest

from mesh_harness import FIGURES, Mesh, infra_cmd

FULL = os.environ.get("COBOL_CHAOS") == "full"
CHUNK = 256 * 1024
SHIFT = 210               # ports: the topology's + COBOL_PORT_OFFSET + 210 (ingest 50261)


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos_quick: a fault case that also runs under `make test`")
    config.addinivalue_line("markers", "chaos: a fault-injection case (tests/chaos)")


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    chaos_dir = os.path.join(os.path.dirname(__file__), "")
    keep, drop = [], []
    for item in items:
        in_chaos = str(item.fspath).startswith(chaos_dir)
        (drop if in_chaos and not item.get_closest_marker("chaos_quick") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)     # the full set is `make chaos`
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("chaos figures (measured, not asserted)")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def cmesh(infra, tmp_path_factory):
    m = Mesh(infra, tmp_path_factory.mktemp("chaos"), shift=SHIFT, chunk=CHUNK,
             extra_env={"COBOL_ARCHIVE_REPAIR_S": "5", "COBOL_CODEC_ATTEMPTS": "3"})
    try:
        m.start_all()
        yield m
    finally:
        m.close()


@pytest.fixture(autouse=True)
def whole_again(request):
    """After each case: thaw and restart what a fault left down; bring the engines back."""
    yield
    if "cmesh" not in request.fixturenames:
        return
    m = request.getfixturevalue("cmesh")
    infra_cmd("start", "kafka", "postgres", "redis")
    for name, p in list(m.procs.items()):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
    for name in m.planned:
        if not m.alive(name):
            m.procs.pop(name, None)
            m.start_planned(name)
