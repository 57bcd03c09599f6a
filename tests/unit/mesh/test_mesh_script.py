"""scripts/mesh.py without running anything: the plan it derives from the topology (counts,
overrides, ports, replica environment) and the scale figures' minimum."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def mesh(monkeypatch):
    monkeypatch.setenv("COBOL_MESH_REEXEC", "1")        # no re-exec under .venv in the test
    for n in ("COBOL_ARCHIVE_REPLICAS", "WORKERS", "COBOL_COMPRESSOR_WORKERS", "COBOL_COORDINATOR_HA"):
        monkeypatch.delenv(n, raising=False)
    spec = importlib.util.spec_from_file_location("mesh_script", ROOT / "scripts" / "mesh.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)       # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_plan_follows_the_topology_with_a_standby_coordinator(mesh, monkeypatch):
    topo = mesh.topology.load()
    counts = mesh.default_counts(topo)
    assert counts["coordinator"] == 2 and counts["archive"] == 2 and counts["compressor"] == 2
    plan = mesh.plan(topo, counts)
    names = [p.name for p in plan]
    assert names[:3] == ["coordinator-1", "coordinator-2", "archive-1"] and "ingest-1" in names
    api = next(p for p in plan if p.name == "api-1").env
    assert api["COBOL_COORDINATOR_ADDR"].startswith("ipv4:") and api["COBOL_COORDINATOR_ADDRS"].count(",") == 1
    monkeypatch.setenv("COBOL_COORDINATOR_HA", "0")
    assert mesh.default_counts(topo)["coordinator"] == 1


def test_overrides_and_replica_environment(mesh, monkeypatch):
    monkeypatch.setenv("COBOL_ARCHIVE_REPLICAS", "3")
    monkeypatch.setenv("WORKERS", "4")
    topo = mesh.topology.load()
    plan = {p.name: p for p in mesh.plan(topo, mesh.default_counts(topo))}
    assert {f"compressor-{i}" for i in range(1, 5)} <= set(plan) and "archive-3" in plan
    def port(p: int) -> int:
        return mesh.topology.shift_port(p, topo.port_offset)
    a2 = plan["archive-2"].env
    assert a2["COBOL_ARCHIVE_ADDR"] == f"127.0.0.1:{port(50063)}"
    assert a2["COBOL_ARCHIVE_PEERS"] == f"127.0.0.1:{port(50053)},127.0.0.1:{port(50073)}"
    assert a2["COBOL_ARCHIVE_DIR"].endswith("archive/archive-2")
    # every client sees all replicas (gRPC pick_first falls over between them)
    assert plan["api-1"].env["COBOL_ARCHIVE_ADDR"].startswith("ipv4:127.0.0.1:")
    assert plan["api-1"].env["COBOL_ARCHIVE_ADDR"].count(",") == 2
    ports = [p.addr for p in plan.values() if p.addr]
    assert len(ports) == len(set(ports)), "two instances share a port"
    monkeypatch.setenv("WORKERS", "many")
    with pytest.raises(SystemExit, match="WORKERS"):
        mesh.default_counts(topo)


def test_minimum_moves(mesh):
    two = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}
    assert mesh.minimum_moves(two, {"a", "b", "c"}, 6) == 2          # the new member takes 2
    three = {0: "a", 1: "a", 2: "c", 3: "b", 4: "b", 5: "c"}
    assert mesh.minimum_moves(three, {"a", "b"}, 6) == 2              # c's two move
    assert mesh.minimum_moves(three, {"a", "b", "c"}, 6) == 0
    uneven = {0: "a", 1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}
    assert mesh.minimum_moves(uneven, {"a", "b", "c"}, 6) == 2
    assert mesh.minimum_moves({}, {"a"}, 6) == 0
    moved, minimum, total = mesh.moves(two, {0: "a", 1: "a", 2: "c", 3: "b", 4: "b", 5: "c"})
    assert (moved, minimum, total) == (2, 2, 6)


def test_the_analytics_worker_gets_longer_to_rebuild_its_tables(mesh, monkeypatch):
    assert mesh.start_timeout("api") == mesh.TIMEOUT
    assert mesh.start_timeout("analytics") == 600
    monkeypatch.setenv("COBOL_ANALYTICS_START_TIMEOUT", "30")
    assert mesh.start_timeout("analytics") == mesh.TIMEOUT      # never shorter than the others
