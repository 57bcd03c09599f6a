"""Network namespaces for the scaling simulation: N "nodes" on one host, each its own network
namespace joined to a host bridge by a veth pair, with a `tc tbf` bandwidth limit on both ends
of the veth (so both directions are limited). Root only.

    with SimNet(offset=322, nodes=4, rate_mbit=40) as net:
        net.host_ip            # the bridge's address: servers for the nodes bind here
        net.run(i, argv)       # argv inside node i's namespace

The bridge has no uplink and no forwarding: the namespaces reach the host's bridge address and
nothing else. Every name carries the port offset, so two helpers' simulations never share a
device. `teardown()` removes everything this created (also after a failed setup) and is safe to
call twice; `leftovers()` lists whatever of ours still exists.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess


class SimNetError(RuntimeError):
    """The namespaces could not be set up (not root, a name or subnet already in use...)."""


def _checked(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode:
        raise SimNetError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _checked(["ip", *args], check)


class SimNet:
    def __init__(self, *, offset: int, nodes: int, rate_mbit: float):
        if os.geteuid() != 0:
            raise SimNetError("the scaling simulation needs root (ip netns, tc)")
        if not 1 <= nodes <= 200:
            raise SimNetError(f"nodes must be 1..200, not {nodes}")
        if not 0 < rate_mbit <= 100_000:
            raise SimNetError(f"rate must be in (0, 100000] Mbit/s, not {rate_mbit}")
        if not 0 <= offset < 100_000:
            raise SimNetError(f"offset must be 0..99999, not {offset}")
        self.offset, self.nodes, self.rate_mbit = offset, nodes, rate_mbit
        self.tag = f"{offset}"
        self.bridge = f"csb{self.tag}"
        # Private, link-local to this bridge: 10.213.<offset mod 250>.0/24.
        self.subnet = ipaddress.ip_network(f"10.213.{offset % 250}.0/24")
        self.host_ip = str(self.subnet.network_address + 1)

    # names -----------------------------------------------------------------------------
    def ns(self, i: int) -> str:
        return f"cobolsim{self.tag}-{i}"

    def veth_host(self, i: int) -> str:
        return f"csh{self.tag}-{i}"     # <= 15 characters for offsets < 100000 and i < 1000

    def veth_node(self, i: int) -> str:
        return f"csn{self.tag}-{i}"

    def node_ip(self, i: int) -> str:
        return str(self.subnet.network_address + 10 + i)

    # lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "SimNet":
        self.setup()
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def setup(self) -> None:
        if self.leftovers():
            raise SimNetError(f"devices or namespaces of offset {self.offset} already exist: {self.leftovers()} "
                              f"(another run, or one that was killed: `scaling_sim.py --cleanup`)")
        words = _ip("-o", "-4", "addr", "show").stdout.split()
        used = [words[k + 1] for k, w in enumerate(words[:-1]) if w == "inet"]
        if any(ipaddress.ip_interface(a).ip in self.subnet for a in used):
            raise SimNetError(f"subnet {self.subnet} is already used on this host")
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.host_ip}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(1, self.nodes + 1):
                self._add_node(i)
        except BaseException:
            self.teardown()
            raise

    def _add_node(self, i: int) -> None:
        ns, vh, vn = self.ns(i), self.veth_host(i), self.veth_node(i)
        _ip("netns", "add", ns)
        _ip("link", "add", vh, "type", "veth", "peer", "name", vn)
        _ip("link", "set", vn, "netns", ns)
        _ip("link", "set", vh, "master", self.bridge)
        _ip("link", "set", vh, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{self.node_ip(i)}/{self.subnet.prefixlen}", "dev", vn)
        _ip("-n", ns, "link", "set", vn, "up")
        # The same limit each way: host -> node on the host end, node -> host inside the namespace.
        tbf = ["root", "tbf", "rate", f"{self.rate_mbit}mbit", "burst", "64kb", "latency", "50ms"]
        _checked(["tc", "qdisc", "add", "dev", vh, *tbf])
        _checked(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", vn, *tbf])

    def teardown(self) -> None:
        """Delete our namespaces (their veth ends and qdiscs go with them), then host ends and bridge."""
        for name in self._our_namespaces():
            _ip("netns", "delete", name, check=False)
        for dev in self._our_links():
            _ip("link", "delete", dev, check=False)

    def _our_namespaces(self) -> list[str]:
        out = _ip("netns", "list", check=False).stdout.split("\n")
        names = [line.split()[0] for line in out if line.strip()]
        return [n for n in names if n.startswith(f"cobolsim{self.tag}-")]

    def _our_links(self) -> list[str]:
        out = _ip("-o", "link", "show", check=False).stdout.splitlines()
        devs = [line.split(":")[1].strip().split("@")[0] for line in out if line.count(":") >= 2]
        return [d for d in devs if d == self.bridge or d.startswith((f"csh{self.tag}-", f"csn{self.tag}-"))]

    def leftovers(self) -> list[str]:
        """Our namespaces and host devices that exist now (qdiscs live on those devices)."""
        return self._our_namespaces() + self._our_links()

    def qdisc(self, i: int) -> tuple[str, str]:
        """`tc qdisc show` of node i's host end and namespace end (for checks and the log)."""
        host = _checked(["tc", "qdisc", "show", "dev", self.veth_host(i)]).stdout.strip()
        node = _checked(["ip", "netns", "exec", self.ns(i), "tc", "qdisc", "show", "dev", self.veth_node(i)]).stdout.strip()
        return host, node

    def command(self, i: int, argv: list[str]) -> list[str]:
        """argv run inside node i's namespace."""
        return ["ip", "netns", "exec", self.ns(i), *argv]
