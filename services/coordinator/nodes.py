"""Membership and failure detection: heartbeats in, Node records and NodeEvents out.

Pure logic, driven by the leader with its own clocks: `mono` (time.monotonic, for deciding)
and `wall` (time.time, for what is shown). A node is `suspect` once no beat came for
`suspect_after` seconds (two missed beats at 1 s) and `down` after `down_after` (< 5 s); one down
or left for `forget_after` is dropped from the table (`forgotten`; its events stay).
A beat brings it back (`alive`); a beat with a new pid is a restart; a `leaving` beat is a clean
stop (`left`, not a failure). On takeover the new leader counts every node as heard at its own
start, so a node that died just before is still detected, at most `down_after` later.
"""
from __future__ import annotations

from dataclasses import dataclass

from cobol_proto import cluster_pb2 as cpb

from .ledger import MAX_NAME

LIVE = ("alive", "suspect")
MAX_NODES = 10_000        # a flood of made-up instance names cannot grow the table without bound


@dataclass(frozen=True)
class Thresholds:
    suspect_after: float = 2.5
    down_after: float = 4.5
    forget_after: float = 3600.0   # a node down or left this long leaves the table (its events stay)


class NodeTable:
    def __init__(self, thresholds: Thresholds, next_seq: int = 1) -> None:
        self.t = thresholds
        self.nodes: dict[str, cpb.Node] = {}
        self.seen: dict[str, float] = {}      # instance -> monotonic time of its last beat
        self.dirty: set[str] = set()
        self.forgotten: set[str] = set()
        self.next_seq = next_seq

    def load(self, nodes: dict[str, bytes], mono: float) -> None:
        for inst, raw in nodes.items():
            self.nodes[inst] = cpb.Node.FromString(raw)
            self.seen[inst] = mono

    def _event(self, node: cpb.Node, kind: str, reason: str, wall: float) -> cpb.NodeEvent:
        ev = cpb.NodeEvent(seq=self.next_seq, at=wall, instance=node.instance, role=node.role,
                           kind=kind, status=node.status, reason=reason, pid=node.pid)
        self.next_seq += 1
        self.dirty.add(node.instance)
        return ev

    def beat(self, hb: cpb.Heartbeat, wall: float, mono: float) -> list[cpb.NodeEvent]:
        inst = hb.instance
        if not inst or len(inst.encode()) > MAX_NAME:
            return []
        node = self.nodes.get(inst)
        events: list[cpb.NodeEvent] = []
        if node is None:
            if len(self.nodes) >= MAX_NODES:
                return []
            node = self.nodes[inst] = cpb.Node(instance=inst, status="alive", status_since=wall)
            kind = "left" if hb.leaving else "joined"
            self._set(node, hb, wall)
            if hb.leaving:
                node.status = "left"
            events.append(self._event(node, kind, f"first heartbeat from pid {hb.pid}", wall))
        else:
            restarted = node.pid and hb.pid and node.pid != hb.pid
            before = node.status
            self._set(node, hb, wall)
            if hb.leaving:
                if before != "left":
                    node.status, node.status_since, node.reason = "left", wall, "clean shutdown"
                    events.append(self._event(node, "left", "clean shutdown", wall))
            elif restarted:
                node.status, node.status_since, node.reason = "alive", wall, f"restarted as pid {hb.pid}"
                events.append(self._event(node, "restarted", node.reason, wall))
            elif before != "alive":
                node.status, node.status_since = "alive", wall
                node.reason = f"heartbeat again after being {before}"
                events.append(self._event(node, "alive", node.reason, wall))
        self.seen[inst] = mono
        self.dirty.add(inst)
        return events

    @staticmethod
    def _set(node: cpb.Node, hb: cpb.Heartbeat, wall: float) -> None:
        node.role, node.host, node.pid, node.version = hb.role[:MAX_NAME], hb.host[:MAX_NAME], hb.pid, hb.version[:MAX_NAME]
        node.last_heartbeat, node.cpu_percent, node.rss_bytes = wall, hb.cpu_percent, hb.rss_bytes
        node.started_at = hb.started_at
        node.beats += 1
        del node.partitions[:]
        node.partitions.extend(hb.partitions[:512])

    def tick(self, wall: float, mono: float) -> list[cpb.NodeEvent]:
        events = []
        for inst, node in list(self.nodes.items()):
            if node.status not in LIVE:
                if wall - node.status_since >= self.t.forget_after:
                    events.append(self._event(node, "forgotten", f"{node.status} for {self.t.forget_after:.0f} s", wall))
                    del self.nodes[inst]
                    self.seen.pop(inst, None)
                    self.dirty.discard(inst)
                    self.forgotten.add(inst)
                continue
            quiet = mono - self.seen.get(inst, mono)
            if quiet >= self.t.down_after:
                node.status, node.status_since = "down", wall
                node.reason = f"no heartbeat for {quiet:.1f} s"
                events.append(self._event(node, "down", node.reason, wall))
            elif quiet >= self.t.suspect_after and node.status == "alive":
                node.status, node.status_since = "suspect", wall
                node.reason = f"no heartbeat for {quiet:.1f} s"
                events.append(self._event(node, "suspect", node.reason, wall))
        return events

    def take_dirty(self) -> dict[str, bytes]:
        out = {i: self.nodes[i].SerializeToString() for i in self.dirty if i in self.nodes}
        self.dirty.clear()
        return out

    def take_forgotten(self) -> set[str]:
        out, self.forgotten = self.forgotten, set()
        return out


def alive_by_role(nodes: dict[str, cpb.Node]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in nodes.values():
        if n.status == "alive":
            out.setdefault(n.role, []).append(n.instance)
    return out
