"""L5 run-length coding with a pattern catalog."""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from cobol_codec.codecs.rle import rle as R
from corpora import corpus_files, corpus_id



def rt(data: bytes) -> bytes | None:
    enc = R.rle_encode(data)
    if enc is not None:
        assert len(enc) < len(data)
        assert R.rle_decode(enc, len(data)) == data
    return enc


@pytest.mark.parametrize("data", [b"", b"a", b"\0" * 7, b"\0" * 8, os.urandom(10_000), b"ab" * 3])
def test_edge_cases(data):
    enc = rt(data)
    if len(data) < 100 or data[:2] != b"\0\0":
        assert enc is None or len(data) >= 8


def test_empty_decode():
    assert R.rle_decode(b"", 0) == b""
    with pytest.raises(ValueError):
        R.rle_decode(b"\x01", 0)


def test_random_declines():
    assert R.rle_encode(os.urandom(100_000)) is None


def test_zero_padded_buffer_shrinks_10x():
    rng = random.Random(3)
    recs = b"".join(rng.randbytes(20) + b"\0" * 480 for _ in range(200))
    enc = rt(recs)
    assert enc is not None and len(enc) * 10 < len(recs)


def test_fixed_records_with_blank_fill():
    rng = random.Random(5)
    words = [b"ACME CORP", b"WIDGETS LTD", b"JOHN SMITH", b"Z"]
    recs = b"".join((rng.choice(words) + b" " * 80)[:80] + b"00000000" + str(rng.randrange(10**6)).encode().rjust(12, b"0")
                    for _ in range(500))
    enc = rt(recs)
    assert enc is not None and len(enc) < 0.6 * len(recs)


@pytest.mark.parametrize("unit", [b"\0", b"ab", b"-=+", b"\x00\x00\x00\x01", b"ABCDEFGH", b"12345"])
def test_periodic_units(unit):
    data = b"head" + unit * 1000 + b"mid" + unit * 3 + unit[:1] + b"tail" + unit * 37 + unit[:-1]
    enc = rt(data)
    assert enc is not None and len(enc) < 60


def test_many_units_catalog_limit():
    # more than 256 distinct profitable units: the catalog keeps the best 256
    rng = random.Random(11)
    parts = []
    for i in range(600):
        u = bytes([i % 251, (i * 7) % 253])
        parts.append(rng.randbytes(5) + u * (10 + i % 50))
    data = b"".join(parts)
    enc = rt(data)
    assert enc is not None and len(enc) < 0.5 * len(data)


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_corpus(path):
    data = path.read_bytes()
    rt(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=9), st.integers(0, 60)), max_size=30))
def test_hypothesis_runs(parts):
    data = b"".join(u * k for u, k in parts)
    rt(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_hypothesis_bytes(data):
    rt(data)


@pytest.mark.timeout(30)
def test_damaged():
    rng = random.Random(9)
    data = b"".join(rng.randbytes(rng.randrange(1, 30)) + bytes([rng.randrange(4)]) * rng.randrange(8, 300)
                    for _ in range(300))
    enc = R.rle_encode(data)
    assert enc is not None
    n = len(data)
    cases = [enc[:-1], enc[: len(enc) // 2], enc[:1], enc + b"\0", b"\x00", b"\x81\x02", b"\xff" * 20,
             b"\x01\x09" + b"a" * 20, b"\x01\x01a\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"]
    for _ in range(200):
        b = bytearray(enc)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        cases.append(bytes(b))
    for bad in cases:
        try:
            out = R.rle_decode(bad, n)
        except ValueError:
            continue
        assert len(out) == n
    for size in (n - 1, n + 1, 10**15):
        with pytest.raises(ValueError):
            R.rle_decode(enc, size)
    with pytest.raises(ValueError):
        R.rle_decode(enc, -1)
