"""Which cluster changes deserve an alert on the WebSocket (pure logic, unit-tested).

Alerts: a node went suspect or down, a job failed, a Kafka partition is under-replicated or
offline, a consumer's lag keeps growing. Each condition alerts once when it starts and once
(`resolved`) when it ends, never on every sample.
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque

LAG_SAMPLES = 3          # growing over this many consecutive samples ...
LAG_MIN = 100            # ... and at least this many messages behind
FAILED_MEMORY = 10_000   # failed job ids remembered, so a repeated status alerts once


def alert(kind: str, severity: str, message: str, **extra) -> dict:
    return {"type": "alert", "alert": {"kind": kind, "severity": severity, "message": message,
                                       "at": time.time(), **extra}}


class AlertState:
    def __init__(self) -> None:
        self.lags: dict[str, deque] = {}
        self.lag_alerted: set[str] = set()
        self.under: set[tuple[str, int]] = set()
        self.offline: set[tuple[str, int]] = set()
        self.failed: OrderedDict[str, None] = OrderedDict()

    def node_event(self, ev: dict) -> dict | None:
        """ev: clustersvc.event_to_dict of a NodeEvent."""
        if ev["kind"] in ("suspect", "down"):
            sev = "critical" if ev["kind"] == "down" else "warning"
            why = f": {ev['reason']}" if ev.get("reason") else ""
            return alert(f"node_{ev['kind']}", sev, f"{ev['instance']} ({ev['role']}) is {ev['kind']}{why}",
                         instance=ev["instance"])
        if ev["kind"] in ("alive", "restarted"):   # beats again, or came back as a new process
            why = f" ({ev['reason']})" if ev["kind"] == "restarted" and ev.get("reason") else ""
            return alert("node_alive", "info", f"{ev['instance']} ({ev['role']}) is alive again{why}",
                         instance=ev["instance"], resolved=True)
        return None

    def job(self, job: dict) -> dict | None:
        """job: the REST shape of a job; alerts the first time it is seen failed."""
        if job.get("status") != "failed" or job["id"] in self.failed:
            return None
        self.failed[job["id"]] = None
        if len(self.failed) > FAILED_MEMORY:
            self.failed.popitem(last=False)
        return alert("job_failed", "critical", f"job {job['id']} failed: {job.get('reason') or 'no reason given'}",
                     job_id=job["id"])

    def kafka(self, report: dict) -> list[dict]:
        """report: clustersvc.KafkaReplicas.report()."""
        if not report.get("available"):
            return []
        out = []
        for key, kind, sev, word in (("under_replicated", "under_replicated", "warning", "under-replicated"),
                                     ("offline", "partition_offline", "critical", "offline")):
            now = {(p["topic"], p["partition"]) for p in report[key]}
            seen = self.under if key == "under_replicated" else self.offline
            for topic, part in sorted(now - seen):
                row = next(p for p in report[key] if (p["topic"], p["partition"]) == (topic, part))
                out.append(alert(kind, sev, f"{topic}[{part}] is {word}: in sync {row['isr']} of {row['replicas']}",
                                 topic=topic, partition=part))
            for topic, part in sorted(seen - now):
                out.append(alert(kind, "info", f"{topic}[{part}] is no longer {word}", topic=topic, partition=part,
                                 resolved=True))
            seen.clear()
            seen.update(now)
        return out

    def lag(self, nodes: list[dict]) -> list[dict]:
        """nodes: REST nodes (with total `lag`); alerts when a node's lag grew over LAG_SAMPLES
        samples in a row and is at least LAG_MIN, and again when it stops growing."""
        out = []
        present = set()
        for n in nodes:
            name = n["instance"]
            present.add(name)
            if n.get("lag") is None or n["status"] != "alive":
                self.lags.pop(name, None)
                continue
            hist = self.lags.setdefault(name, deque(maxlen=LAG_SAMPLES + 1))
            hist.append(n["lag"])
            growing = (len(hist) == hist.maxlen and all(b > a for a, b in zip(hist, list(hist)[1:]))
                       and hist[-1] >= LAG_MIN)
            if growing and name not in self.lag_alerted:
                self.lag_alerted.add(name)
                out.append(alert("lag_growing", "warning", f"{name} is falling behind: lag {hist[-1]} and growing",
                                 instance=name, lag=hist[-1]))
            elif not growing and name in self.lag_alerted and hist[-1] <= hist[-2]:
                self.lag_alerted.discard(name)
                out.append(alert("lag_growing", "info", f"{name} is catching up: lag {hist[-1]}",
                                 instance=name, lag=hist[-1], resolved=True))
        for gone in set(self.lags) - present:
            self.lags.pop(gone, None)
            self.lag_alerted.discard(gone)
        return out
