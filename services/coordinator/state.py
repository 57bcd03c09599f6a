"""The coordinator's state interface: the one owner of cluster state (as Flower's linkstate).

The logic (ledger, membership, progress watch, election) is plain Python over this interface;
`RedisState` keeps the state in Redis (the service), `MemoryState` in dicts (unit tests of the
logic). The state is dumb storage: records are serialized protobuf messages, keyed by the id
*inside* a collection (a hash field, a set member), never spliced into a key name, so no job
id or instance name can ever name an internal key.

Writes: only the leader writes, with `write(token, batch)`: one atomic step that first checks
the leader's fencing token and then applies everything in the batch (job records, the Kafka
offsets they were derived from, node records, node events). A deposed leader's write raises
`Fenced` and changes nothing.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

EVENTS_CAP = 10_000      # node events kept in the history


class Fenced(Exception):
    """The writer no longer holds the lease its token came from."""


@dataclass
class Batch:
    jobs: dict[str, bytes] = field(default_factory=dict)          # job_id -> JobRecord
    status: dict[str, bytes] = field(default_factory=dict)        # job_id -> JobStatus (the read side's copy)
    order: dict[str, float] = field(default_factory=dict)         # job_id -> created_at
    open_add: set[str] = field(default_factory=set)                # jobs not yet final
    open_del: set[str] = field(default_factory=set)
    finish_add: set[str] = field(default_factory=set)              # JobFinished still to emit
    finish_del: set[str] = field(default_factory=set)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next
    nodes: dict[str, bytes] = field(default_factory=dict)          # instance -> Node
    nodes_del: set[str] = field(default_factory=set)
    node_events: list[tuple[int, bytes]] = field(default_factory=list)  # (seq, NodeEvent)

    def empty(self) -> bool:
        return not (self.jobs or self.status or self.order or self.open_add or self.open_del or self.finish_add
                    or self.finish_del or self.offsets or self.nodes or self.nodes_del or self.node_events)


class State(ABC):
    # -- leader election: a lease with a monotonic fencing token -----------------------------
    @abstractmethod
    def try_acquire(self, holder: str, ttl_ms: int) -> int | None:
        """Take the lease if nobody holds it; returns the new fencing token (greater than every
        earlier one), or None."""

    @abstractmethod
    def renew(self, holder: str, token: int, ttl_ms: int) -> bool:
        """Extend our lease; False if it is no longer ours."""

    @abstractmethod
    def release(self, holder: str, token: int) -> None: ...

    @abstractmethod
    def leader(self) -> tuple[str, int] | None:
        """(holder, token) of the current lease, None if nobody holds it."""

    # -- the fenced write --------------------------------------------------------------------
    @abstractmethod
    def write(self, holder: str, token: int, batch: Batch) -> None:
        """Apply `batch` atomically if (holder, token) still holds the lease; else raise Fenced."""

    # -- reads -------------------------------------------------------------------------------
    @abstractmethod
    def jobs(self, job_ids: list[str]) -> dict[str, bytes]: ...

    @abstractmethod
    def statuses(self, job_ids: list[str]) -> dict[str, bytes]:
        """The JobStatus written beside each record (jobs written before it existed have none)."""

    @abstractmethod
    def job_ids(self, limit: int) -> list[str]:
        """Newest first."""

    @abstractmethod
    def open_jobs(self) -> list[str]: ...

    @abstractmethod
    def finish_pending(self) -> list[str]: ...

    @abstractmethod
    def offsets(self, topic: str) -> dict[int, int]: ...

    @abstractmethod
    def nodes(self) -> dict[str, bytes]: ...

    @abstractmethod
    def node_events(self, limit: int, before_seq: int = 0) -> list[bytes]:
        """Newest first, seq < before_seq when before_seq > 0."""

    @abstractmethod
    def last_event_seq(self) -> int: ...

    @abstractmethod
    def ping(self) -> None: ...



class MemoryState(State):
    """The state in dicts, with an injectable clock for the lease (unit tests only)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._lease: tuple[str, int, float] | None = None   # holder, token, expires
        self._epoch = 0
        self._jobs: dict[str, bytes] = {}
        self._status: dict[str, bytes] = {}
        self._order: dict[str, float] = {}
        self._open: set[str] = set()
        self._finish: set[str] = set()
        self._offsets: dict[tuple[str, int], int] = {}
        self._nodes: dict[str, bytes] = {}
        self._events: dict[int, bytes] = {}

    def _current(self):
        if self._lease and self._lease[2] <= self.clock():
            self._lease = None
        return self._lease

    def try_acquire(self, holder, ttl_ms):
        with self._lock:
            if self._current():
                return None
            self._epoch += 1
            self._lease = (holder, self._epoch, self.clock() + ttl_ms / 1000)
            return self._epoch

    def renew(self, holder, token, ttl_ms):
        with self._lock:
            cur = self._current()
            if not cur or cur[:2] != (holder, token):
                return False
            self._lease = (holder, token, self.clock() + ttl_ms / 1000)
            return True

    def release(self, holder, token):
        with self._lock:
            if self._current() and self._lease[:2] == (holder, token):
                self._lease = None

    def leader(self):
        with self._lock:
            cur = self._current()
            return (cur[0], cur[1]) if cur else None

    def write(self, holder, token, batch):
        with self._lock:
            cur = self._current()
            if not cur or cur[:2] != (holder, token):
                raise Fenced(f"{holder} (token {token}) does not hold the lease")
            self._jobs.update(batch.jobs)
            self._status.update(batch.status)
            self._order.update(batch.order)
            self._open |= batch.open_add
            self._open -= batch.open_del
            self._finish |= batch.finish_add
            self._finish -= batch.finish_del
            self._offsets.update(batch.offsets)
            self._nodes.update(batch.nodes)
            for inst in batch.nodes_del:
                self._nodes.pop(inst, None)
            self._events.update(batch.node_events)
            for seq in sorted(self._events)[:-EVENTS_CAP]:
                del self._events[seq]

    def jobs(self, job_ids):
        return {j: self._jobs[j] for j in job_ids if j in self._jobs}

    def statuses(self, job_ids):
        return {j: self._status[j] for j in job_ids if j in self._status}

    def job_ids(self, limit):
        return sorted(self._order, key=lambda j: (self._order[j], j), reverse=True)[:limit]

    def open_jobs(self):
        return sorted(self._open)

    def finish_pending(self):
        return sorted(self._finish)

    def offsets(self, topic):
        return {p: o for (t, p), o in self._offsets.items() if t == topic}

    def nodes(self):
        return dict(self._nodes)

    def node_events(self, limit, before_seq=0):
        seqs = sorted((s for s in self._events if not before_seq or s < before_seq), reverse=True)
        return [self._events[s] for s in seqs[:limit]]

    def last_event_seq(self):
        return max(self._events, default=0)

    def ping(self):
        return None
