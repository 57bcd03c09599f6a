"""RedisState against the real Redis: the same contract the in-memory state passes."""
from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, ROOT / "libs" / "mesh", ROOT / "tests" / "unit" / "coordinator"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import state_contract as contract  # noqa: E402
from services.coordinator.state_redis import KEYS, LAYOUT, RedisState  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture()
def state(infra):
    prefix = f"cobol:statetest:{secrets.token_hex(4)}:"
    s = RedisState(infra["redis"]["url"], prefix)
    yield s
    for k in s.r.scan_iter(match=prefix + "*"):
        s.r.delete(k)


def test_lease_and_fencing_on_redis(state):
    def expire():      # the 1 s lease runs out in Redis itself
        deadline = time.monotonic() + 5
        while state.leader() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    contract.check_lease_and_fencing(state, expire)


def test_records_and_hostile_ids_on_redis(state):
    contract.check_records(state)
    prefix = state.keys[0][: -len(LAYOUT + "leader")]
    names = {k.decode()[len(prefix):] for k in state.r.scan_iter(match=prefix + "*")}
    assert names <= {LAYOUT + k for k in KEYS}   # ids never became key names, whatever they were
