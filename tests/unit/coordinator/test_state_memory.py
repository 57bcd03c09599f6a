"""The in-memory State against the state contract (RedisState runs the same contract in
tests/integration/test_coordinator_state.py)."""
from __future__ import annotations

import state_contract as contract
from services.coordinator.state import MemoryState


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_lease_and_fencing():
    clock = Clock()
    s = MemoryState(clock)

    def expire():
        clock.t += 1.5
    contract.check_lease_and_fencing(s, expire)


def test_records_and_hostile_ids():
    contract.check_records(MemoryState())


def test_renew_keeps_the_lease_alive():
    clock = Clock()
    s = MemoryState(clock)
    t = s.try_acquire("a", 1000)
    for _ in range(5):
        clock.t += 0.6
        assert s.renew("a", t, 1000)
    assert s.leader() == ("a", t)
    clock.t += 1.1
    assert s.leader() is None and not s.renew("a", t, 1000)
