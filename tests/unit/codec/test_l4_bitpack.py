"""L4 frame-of-reference bit-packing with patched exceptions."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cobol_codec.codecs.bitpack import bitpack as B

I64 = np.iinfo(np.int64)


def pack(values) -> bytes:
    return np.asarray(values, dtype="<i8").tobytes()


def rt(raw: bytes) -> bytes | None:
    enc = B.bitpack_encode(raw)
    n = len(raw) // 8
    if enc is not None:
        assert len(enc) < len(raw)
        assert B.bitpack_decode(enc, n) == raw
    return enc


def test_empty_and_one():
    assert B.bitpack_encode(b"") is None
    assert B.bitpack_decode(b"", 0) == b""
    enc = rt(pack([42]))
    assert enc is not None and len(enc) <= 3


def test_not_multiple_of_8():
    with pytest.raises(ValueError):
        B.bitpack_encode(b"\0" * 7)


def test_small_ints_under_2_bytes_per_value():
    rng = np.random.default_rng(1)
    vals = rng.integers(0, 1000, 100_000)
    enc = rt(pack(vals))
    assert enc is not None and len(enc) < 2 * len(vals)


def test_constant_and_long_runs():
    enc = rt(pack([7] * 100_000))
    assert enc is not None and len(enc) < 100_000 * 0.05
    enc = rt(pack([-(2**40)] * 5000 + [3] * 5000))
    assert enc is not None and len(enc) < 500


def test_outliers_are_patched():
    rng = np.random.default_rng(2)
    vals = rng.integers(100, 116, 128 * 200)
    vals[::97] = rng.integers(-(2**62), 2**62, len(vals[::97]))
    enc = rt(pack(vals))
    # the bulk stays at ~4 bits/value despite ~1% 63-bit outliers
    assert enc is not None and len(enc) < 1.5 * len(vals)


def test_full_int64_range():
    vals = [I64.min, I64.max, 0, -1, 1, I64.min + 1, I64.max - 1] * 50
    rt(pack(vals))
    rt(pack([I64.min] * 300 + [I64.max] * 300))
    rt(pack([I64.max, I64.min] * 300))


def test_random_declines():
    rng = np.random.default_rng(3)
    assert B.bitpack_encode(rng.integers(I64.min, I64.max, 10_000, dtype=np.int64).astype("<i8").tobytes()) is None


@pytest.mark.parametrize("width", list(range(0, 65)))
def test_every_width(width):
    rng = random.Random(width)
    n = rng.randrange(1, 400)
    vals = [rng.getrandbits(width) if width else 0 for _ in range(n)]
    raw = np.array(vals, dtype=np.uint64).astype("<u8").tobytes()
    rt(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(I64.min, I64.max), max_size=600), st.integers(0, 64))
def test_hypothesis(values, shift):
    rt(pack(values))
    rt(pack([v >> shift for v in values]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=1000), st.lists(st.integers(I64.min, I64.max), max_size=5))
def test_hypothesis_with_outliers(bulk, outliers):
    vals = list(bulk)
    for i, o in enumerate(outliers):
        vals[(i * 131) % len(vals)] = o
    rt(pack(vals))


@pytest.mark.timeout(30)
def test_damaged():
    rng = np.random.default_rng(4)
    vals = rng.integers(0, 5000, 3000)
    vals[::50] = 2**50
    enc = B.bitpack_encode(pack(vals))
    assert enc is not None
    n = len(vals)
    r = random.Random(5)
    cases = [enc[:-1], enc[: len(enc) // 2], enc[:3], enc + b"\0", b"\0" * 10, b"\xff" * 100,
             b"\x00\x41\x00" + b"\0" * 2000, b"\x00\x03\xff" + b"\0" * 100, b"\x00\x03\x02" + b"\0" * 48 + b"\x05\x00\x03\x00"]
    for _ in range(300):
        b = bytearray(enc)
        b[r.randrange(len(b))] ^= 1 << r.randrange(8)
        cases.append(bytes(b))
    for bad in cases:
        try:
            out = B.bitpack_decode(bad, n)
        except ValueError:
            continue
        assert len(out) == 8 * n
    for count in (n + 1, n - 1, 10**15):
        with pytest.raises(ValueError):
            B.bitpack_decode(enc, count)
    with pytest.raises(ValueError):
        B.bitpack_decode(enc, -1)
