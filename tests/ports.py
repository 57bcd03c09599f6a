"""Free TCP ports for the servers the tests start.

A port from `bind(0)` lies in Linux's ephemeral range (32768-60999 by default): once released,
any process's outgoing connection (a Kafka client, say) may be given it as its local port, and a
server started on it a moment later -- or restarted on it after a kill -- fails with "Address
already in use". That happened in CI. So ports come from below the ephemeral range, where the
kernel never picks local ports for connections, and one test process never hands out a port twice.
"""
from __future__ import annotations

import random
import socket

FLOOR = 20000
_given: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, outside the ephemeral range."""
    top = max(_ephemeral_low() - 1, FLOOR + 1000)
    for _ in range(500):
        port = random.randint(FLOOR, top)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {FLOOR}-{top}")
