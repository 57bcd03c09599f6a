"""L3 delta transforms: exact inverse for any int64 sequence, sensible choices, safe decode."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobol_codec.codecs.delta import delta as L3


def enc_dec(ints):
    res = L3.delta_encode(ints)
    if res is None:
        return None
    mode, out = res
    assert len(out) == len(ints)
    assert L3.delta_decode(mode, out, len(ints) // 8) == ints
    return mode


def i64(a):
    return np.asarray(a, dtype="<i8").tobytes()


def test_linear_timestamps_pick_dod_and_become_zero():
    x = i64(1_400_000_000 + 300 * np.arange(5000))
    mode, out = L3.delta_encode(x)
    assert mode in (L3.MODE_DOD, L3.MODE_ZZ_DOD)
    assert np.count_nonzero(np.frombuffer(out, "<i8")[2:]) == 0
    assert L3.delta_decode(mode, out, 5000) == x


def test_random_walk_picks_delta():
    rng = np.random.default_rng(0)
    x = i64(np.cumsum(rng.integers(-50, 50, 4000)) + 10 ** 12)
    assert enc_dec(x) in (L3.MODE_DELTA, L3.MODE_ZZ_DELTA)


def test_small_random_declines():
    rng = np.random.default_rng(1)
    assert L3.delta_encode(i64(rng.integers(0, 16, 4000))) is None
    assert L3.delta_encode(b"") is None
    assert L3.delta_encode(i64([5])) is None


def test_extremes_wraparound():
    vals = [2 ** 63 - 1, -2 ** 63, 0, -1, 1, 2 ** 63 - 1, -2 ** 63] * 10
    x = i64(vals)
    enc_dec(x)
    for mode in (1, 2, 3, 4, 5, 6):
        y = L3.delta_decode(mode, x, len(vals))
        assert len(y) == len(x)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=300))
def test_hypothesis_roundtrip(vals):
    enc_dec(i64(vals))


@settings(max_examples=100, deadline=None)
@given(st.integers(-2 ** 40, 2 ** 40), st.integers(-1000, 1000), st.lists(st.integers(-3, 3), min_size=2, max_size=500))
def test_hypothesis_smooth(start, step, noise):
    vals = [start + step * i + n for i, n in enumerate(noise)]
    enc_dec(i64(vals))


def test_bad_input_raises():
    with pytest.raises(ValueError):
        L3.delta_encode(b"1234567")
    with pytest.raises(ValueError):
        L3.delta_decode(0, b"", 0)
    with pytest.raises(ValueError):
        L3.delta_decode(7, b"\0" * 8, 1)
    with pytest.raises(ValueError):
        L3.delta_decode(1, b"\0" * 8, 2)
    with pytest.raises(ValueError):
        L3.delta_decode(1, b"\0" * 16, 1)
    with pytest.raises(ValueError):
        L3.delta_decode(1, b"", -1)
    assert L3.delta_decode(3, b"", 0) == b""
