"""The scaling simulation's namespaces (loadtests/sim_netns.py), for real (root, as CI runs):
the nodes reach the host's bridge address through their rate-limited veths, and teardown
leaves no namespace, veth, bridge or qdisc behind, also when setup fails half-way."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "loadtests"))

from sim_netns import SimNet, SimNetError  # noqa: E402

# Far from any helper's COBOL_PORT_OFFSET, so a test never meets a running simulation's devices.
OFFSET = 90000 + os.getpid() % 9000


def all_devices() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout


def all_namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def reaches_host(net: SimNet, i: int) -> bool:
    """Node i opens a TCP connection to a server bound to the bridge address and says its name."""
    with socket.socket() as srv:
        srv.bind((net.host_ip, 0))
        srv.listen(1)
        srv.settimeout(30)
        code = f"import socket; socket.create_connection(({net.host_ip!r}, {srv.getsockname()[1]}), 10).sendall(b'node{i}')"
        client = subprocess.Popen(net.command(i, [sys.executable, "-c", code]))
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(10)
                got = conn.recv(16)
        finally:
            client.wait(timeout=30)
        return got == f"node{i}".encode() and client.returncode == 0


def test_nodes_reach_the_host_through_limited_links_and_teardown_removes_all():
    net = SimNet(offset=OFFSET, nodes=2, rate_mbit=25)
    try:
        net.setup()
        assert sorted(net.leftovers()) == sorted([net.ns(1), net.ns(2), net.bridge, net.veth_host(1),
                                                  net.veth_host(2)])
        for i in (1, 2):
            host, node = net.qdisc(i)
            assert "tbf" in host and "25Mbit" in host, host
            assert "tbf" in node and "25Mbit" in node, node
            assert reaches_host(net, i)
        # Namespace 1 has no route anywhere but the bridge's subnet.
        route = subprocess.run(net.command(1, ["ip", "route", "get", "1.1.1.1"]), capture_output=True, text=True)
        assert route.returncode != 0
        with pytest.raises(SimNetError, match="already exist"):
            SimNet(offset=OFFSET, nodes=1, rate_mbit=25).setup()
    finally:
        net.teardown()
    assert net.leftovers() == []
    assert f"csb{OFFSET}" not in all_devices() and f"csh{OFFSET}-" not in all_devices()
    assert f"cobolsim{OFFSET}-" not in all_namespaces()
    net.teardown()  # twice is harmless


def test_failed_setup_leaves_nothing(monkeypatch):
    # A device of the third node's name already exists: setup fails there and must undo nodes 1-2.
    net = SimNet(offset=OFFSET + 1, nodes=3, rate_mbit=10)
    blocker = f"csh{OFFSET + 1}-3"
    subprocess.run(["ip", "link", "add", blocker, "type", "bridge"], check=True)
    try:
        # The blocker counts as ours, so setup refuses up front; drop the refusal check to reach node 3.
        with pytest.raises(SimNetError, match="already exist"):
            net.setup()
        monkeypatch.setattr(net, "leftovers", lambda: [])  # let setup run into the taken name half-way
        with pytest.raises(SimNetError, match="failed"):
            net.setup()
    finally:
        subprocess.run(["ip", "link", "delete", blocker], check=False)
    monkeypatch.undo()
    assert net.leftovers() == []


@pytest.mark.parametrize("kw", [dict(nodes=0, rate_mbit=10), dict(nodes=1, rate_mbit=0),
                                dict(nodes=1, rate_mbit=10, offset=-1)])
def test_refuses_bad_arguments(kw):
    kw.setdefault("offset", OFFSET)
    with pytest.raises(SimNetError):
        SimNet(**kw)
