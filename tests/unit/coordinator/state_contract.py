"""What every State implementation must do (run on MemoryState in tests/unit and on
RedisState against the real Redis in tests/integration/test_coordinator_state.py)."""
from __future__ import annotations

import pytest

from services.coordinator.state import Batch, Fenced

HOSTILE = ["jobs", "jobs:order", "leader", "epoch", "offsets", "nodes", "nodes:events", "..", "/", "a\0b",
           "a\nb", "ünï ✓", "x" * 10_000, "cobol:coord:jobs"]


def check_lease_and_fencing(state, expire) -> None:
    """`expire()` makes the current lease run out (a clock jump, or waiting past a short TTL)."""
    t1 = state.try_acquire("c-1", 1000)
    assert t1 and state.leader() == ("c-1", t1)
    assert state.try_acquire("c-2", 1000) is None                 # held: nobody else gets it
    assert state.renew("c-1", t1, 1000) and not state.renew("c-2", t1, 1000)
    state.write("c-1", t1, Batch(offsets={("t", 0): 5}))
    expire()
    assert state.leader() is None
    t2 = state.try_acquire("c-2", 60_000)
    assert t2 > t1 and state.leader() == ("c-2", t2)
    with pytest.raises(Fenced):                                   # the deposed leader is refused ...
        state.write("c-1", t1, Batch(offsets={("t", 0): 99}, jobs={"j": b"stale"}, status={"j": b"stale"}))
    assert state.offsets("t") == {0: 5} and state.jobs(["j"]) == {}   # ... and changed nothing
    assert state.statuses(["j"]) == {}
    assert not state.renew("c-1", t1, 1000)
    with pytest.raises(Fenced):                                   # a same-name holder with an old token too
        state.write("c-2", t1, Batch(offsets={("t", 0): 99}))
    state.release("c-1", t1)                                      # not its lease: no effect
    assert state.leader() == ("c-2", t2)
    state.release("c-2", t2)
    assert state.leader() is None


def check_records(state) -> None:
    t = state.try_acquire("c-1", 60_000)
    b = Batch()
    for i, j in enumerate(HOSTILE):
        b.jobs[j] = f"rec-{i}".encode()
        if i % 2:
            b.status[j] = f"st-{i}".encode()
        b.order[j] = float(i)
        b.open_add.add(j)
    b.offsets = {("cobol.jobs.events", 0): 7, ("cobol.jobs.events", 3): 11, ("other", 0): 1}
    b.nodes = {"compressor-1": b"n1", "a\nb": b"n2"}
    b.node_events = [(1, b"e1"), (2, b"e2"), (3, b"e3")]
    state.write("c-1", t, b)
    got = state.jobs(HOSTILE + ["missing"])
    assert got == {j: f"rec-{i}".encode() for i, j in enumerate(HOSTILE)}
    assert state.job_ids(3) == HOSTILE[::-1][:3]
    assert state.statuses(HOSTILE + ["missing"]) == {j: f"st-{i}".encode() for i, j in enumerate(HOSTILE) if i % 2}
    assert state.statuses([]) == {}
    assert sorted(state.open_jobs()) == sorted(HOSTILE)
    assert state.offsets("cobol.jobs.events") == {0: 7, 3: 11}
    assert state.nodes() == {"compressor-1": b"n1", "a\nb": b"n2"}
    assert state.node_events(2) == [b"e3", b"e2"] and state.node_events(10, before_seq=2) == [b"e1"]
    assert state.last_event_seq() == 3
    state.write("c-1", t, Batch(open_del={"..", "a\0b"}, finish_add={"a\0b"}))
    assert ".." not in state.open_jobs() and state.finish_pending() == ["a\0b"]
    state.write("c-1", t, Batch(finish_del={"a\0b"}, nodes_del={"a\nb", "never-there"}))
    assert state.finish_pending() == [] and state.nodes() == {"compressor-1": b"n1"}
    state.release("c-1", t)
