"""Scaling the workers down one at a time, each drained before the next (pure).

The protocol (docs/deploy.md): to remove a worker the operator picks one pod, annotates it
`cobolprotocol.io/drain=requested` and `controller.kubernetes.io/pod-deletion-cost=-1000` (so
the ReplicaSet deletes exactly that pod), then lowers the Deployment's replicas by one. The pod
gets SIGTERM after its preStop hook: the compressor stops polling, commits or aborts its open
Kafka transaction and closes its consumer, which leaves the group so that its partitions move
to the others at once (terminationGracePeriodSeconds bounds it). Only when that pod is gone
does the operator take the next step. Scaling up is done in one step.
"""
from __future__ import annotations

from dataclasses import dataclass

from .render import DRAIN_ANNOTATION


@dataclass(frozen=True)
class Step:
    replicas: int             # what the worker Deployment's replicas should be now
    victim: str | None        # the pod to mark for draining before lowering replicas
    draining: bool            # a scale-down is under way (the Progressing condition says so)


def terminating(pod: dict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_ready(pod: dict) -> bool:
    if terminating(pod):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def plan(want: int, current: int | None, pods: list[dict]) -> Step:
    """The next step from `current` worker replicas towards `want`, given the worker pods."""
    if current is None or want >= current:
        return Step(want, None, False)
    live = [p for p in pods if not terminating(p)]
    if len(live) > current:            # the previous victim has not left yet: wait for it
        return Step(current, None, True)
    return Step(current - 1, pick_victim(live), True)


def pick_victim(pods: list[dict]) -> str | None:
    """An already-marked pod first, then one that is not ready, then the newest."""
    if not pods:
        return None

    def rank(p: dict):
        m = p.get("metadata") or {}
        marked = DRAIN_ANNOTATION in (m.get("annotations") or {})
        return (not marked, is_ready(p), _neg(m.get("creationTimestamp") or ""), m.get("name", ""))
    return sorted(pods, key=rank)[0]["metadata"]["name"]


def _neg(ts: str) -> tuple:
    # newest first: RFC 3339 timestamps sort as text; negate by complementing each character
    return tuple(-ord(ch) for ch in ts)
