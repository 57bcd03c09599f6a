"""The analytics routes' range and step rules (services/api/routes/analytics.py), without services."""
from __future__ import annotations

import datetime as dt

import pytest
from fastapi import HTTPException

import services  # noqa: F401  (puts libs/mesh and libs/codec on sys.path)
from services.api.routes.analytics import pick_step, time_range

NOW = 1_800_000_000.0
UTC = dt.timezone.utc


def at(seconds_ago: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(NOW - seconds_ago, UTC)


def test_window_from_to_and_defaults():
    assert time_range(None, None, "15m", None, NOW) == (NOW - 900, NOW)
    assert time_range(None, None, "2d", None, NOW) == (NOW - 2 * 86400, NOW)
    assert time_range(None, None, None, None, NOW) is None                 # all-time
    assert time_range(None, None, None, 3600, NOW) == (NOW - 3600, NOW)     # the default hour
    assert time_range(at(600), None, None, None, NOW) == (NOW - 600, NOW)  # to = now
    assert time_range(None, at(60), None, 3600, NOW) == (NOW - 3660, NOW - 60)
    naive = dt.datetime.fromtimestamp(NOW - 300, UTC).replace(tzinfo=None)   # naive = UTC
    assert time_range(naive, at(0), None, None, NOW) == (NOW - 300, NOW)


@pytest.mark.parametrize("start,end,window,why", [
    (at(60), None, "1h", "either"),
    (None, None, "1w", "window must be"), (None, None, "0m", "window must be"), (None, None, "-5m", "window must be"),
    (None, None, "5", "window must be"), (None, None, "5m\n", "window must be"), (None, None, "٥m", "window must be"),
    (at(0), at(60), None, "after"), (at(60), at(60), None, "after"),
    (dt.datetime(1999, 12, 31, tzinfo=UTC), at(0), None, "between"),
    (at(0), dt.datetime(9999, 1, 1, tzinfo=UTC), None, "between"),
    (at(40 * 86400), at(0), None, "at most 31 days"), (None, None, "40d", "at most 31 days"),
])
def test_bad_ranges_are_422(start, end, window, why):
    with pytest.raises(HTTPException) as err:
        time_range(start, end, window, 3600, NOW)
    assert err.value.status_code == 422 and why in err.value.detail


def test_steps():
    assert pick_step(NOW - 3600, NOW, None, NOW) == 10               # 360 buckets of 10 s
    assert pick_step(NOW - 86400, NOW, None, NOW) == 300
    assert pick_step(NOW - 31 * 86400, NOW, None, NOW) == 21600
    assert pick_step(NOW - 7200, NOW - 6000, None, NOW) == 60        # older than an hour: no 10 s buckets
    assert pick_step(NOW - 600, NOW, 60, NOW) == 60
    for t0, step, why in [(NOW - 7200, 10, "multiple of 60"), (NOW - 86400, 30, "multiple of 60"),
                          (NOW - 31 * 86400, 60, "more than 2000 buckets")]:
        with pytest.raises(HTTPException) as err:
            pick_step(t0, NOW, step, NOW)
        assert err.value.status_code == 422 and why in err.value.detail
