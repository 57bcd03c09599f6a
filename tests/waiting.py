"""Waiting for a condition with a deadline: the tests' one way to synchronise (never a bare sleep)."""
from __future__ import annotations

import time


def wait_until(what: str, check, timeout: float, interval: float = 0.2, describe=None):
    """check() until it returns something truthy (returned); AssertionError after `timeout` s,
    naming `what` and the last value seen (or describe(), when given)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    state = describe() if describe else last
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {state!r})")
