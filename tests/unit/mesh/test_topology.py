"""The declarative topology: the shipped file parses, ports follow the documented rule, and a
malformed file is refused with a message that says what is wrong."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "libs" / "mesh"))
from cobol_mesh import topology  # noqa: E402


def test_shipped_topology_loads_with_public_ports():
    topo = topology.load()
    names = [i.name for i in topo.instances()]
    assert "ingest-1" in names and "api-1" in names and "compressor-1" in names
    assert topo.service("ingest").instance(1).port == 50051
    assert topo.service("api").instance(1).port == 8000


def test_ports_follow_ordinal_stride_and_offset():
    doc = {"version": 1, "services": {"archive": {"module": "m", "instances": 3, "port": 100,
                                                  "port_stride": 10, "metrics_port": 200}}}
    topo = topology.parse(doc, port_offset=1000)
    got = [(i.name, i.port, i.metrics_port) for i in topo.instances()]
    assert got == [("archive-1", 1100, 1200), ("archive-2", 1110, 1201), ("archive-3", 1120, 1202)]


@pytest.mark.parametrize("doc, words", [
    ({}, "version: 1"),
    ({"version": 1}, "no `services`"),
    ({"version": 1, "services": {"x": {}}}, "needs a `module`"),
    ({"version": 1, "services": {"x": {"module": "m", "instances": -1}}}, "0..64"),
    ({"version": 1, "services": {"x": {"module": "m", "talks_to": ["y"]}}}, "unknown services"),
])
def test_malformed_topology_is_refused(doc, words):
    with pytest.raises(topology.TopologyError, match=words.replace("`", ".").replace("(", ".")):
        topology.parse(doc)


def test_unknown_service_and_bad_offset(monkeypatch):
    with pytest.raises(topology.TopologyError, match="no service 'nope'"):
        topology.load().service("nope")
    monkeypatch.setenv("COBOL_PORT_OFFSET", "ten")
    with pytest.raises(topology.TopologyError, match="COBOL_PORT_OFFSET"):
        topology.load()


def test_offset_ports_stay_valid():
    assert topology.shift_port(9092, 30000) == 39092                 # fits: plain sum
    for port in (50051, 50053, 50063, 9400):
        for off in (0, 15000, 30000, 60000):
            p = topology.shift_port(port, off)
            assert 1024 <= p <= 65535
    # distinct defaults stay distinct after folding
    assert len({topology.shift_port(p, 30000) for p in range(50051, 50300)}) == 249
    topo = topology.parse({"version": 1, "services": {"ingest": {"module": "m", "port": 50051}}}, 30000)
    assert topo.service("ingest").instance(1, 30000).port == topology.shift_port(50051, 30000)
