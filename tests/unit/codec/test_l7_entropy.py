"""L7 entropy coding: canonical Huffman and context mixing (CM)."""
from __future__ import annotations

import os
import random
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from cobol_codec.codecs.entropy import entropy as L
from corpora import CORPORA, corpus_files, corpus_id

GROUPS = ["loghub", "nab", "ebcdic", "canterbury", "calgary"]


_files = corpus_files


def _sample(group: str, k: int = 2, limit: int = 48_000) -> list[tuple[str, bytes]]:
    """A few files of a group (deterministic pick), cut to ``limit`` bytes to keep CM tests quick."""
    files = _files(group)
    pick = [files[0], files[len(files) // 2]][:k]
    return [(p.name, p.read_bytes()[:limit]) for p in pick]


def huff_rt(data: bytes) -> bytes | None:
    enc = L.huffman_encode(data)
    if enc is not None:
        assert len(enc) < len(data)
        assert L.huffman_decode(enc, len(data)) == data
    return enc


def cm_rt(data: bytes, level: int, prime: bytes = b"") -> bytes | None:
    enc = L.cm_encode(data, level, prime)
    if enc is not None:
        assert len(enc) < len(data)
        assert L.cm_decode(enc, len(data), level, prime) == data
    return enc


# ------------------------------------------------------------------ Huffman round trips

@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"\0" * 100_000, bytes(range(256)) * 40,
                                  b"a" * 1000 + b"b", os.urandom(50_000)])
def test_huffman_edge_cases(data):
    enc = huff_rt(data)
    if len(data) <= 2 or data == bytes(range(256)) * 40 or len(set(data)) > 250:
        assert enc is None or len(enc) < len(data)
    if data == b"\0" * 100_000:
        assert enc is not None and len(enc) < 100_000 // 7


def test_huffman_empty_decode():
    assert L.huffman_decode(b"", 0) == b""
    with pytest.raises(ValueError):
        L.huffman_decode(b"x", 0)


def test_huffman_deep_tree_is_length_limited():
    # Fibonacci frequencies force an unlimited Huffman depth far beyond 12 bits
    fib = [1, 1]
    while len(fib) < 24:
        fib.append(fib[-1] + fib[-2])
    data = b"".join(bytes([i]) * f for i, f in enumerate(fib))
    data = bytes(random.Random(1).sample(data, len(data)))
    enc = huff_rt(data)
    assert enc is not None


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_huffman_corpus(path):
    data = path.read_bytes()
    enc = huff_rt(data)
    if path.suffix in (".txt", ".log", ".csv"):
        assert enc is not None and len(enc) < 0.75 * len(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 255))
def test_huffman_hypothesis(data, alphabet):
    huff_rt(data)
    huff_rt(bytes(b % alphabet for b in data) * 3)


# ------------------------------------------------------------------ CM round trips

@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("data", [b"", b"a", b"hello", b"\0" * 200_000, b"abc" * 5000,
                                  os.urandom(20_000)], ids=["empty", "one", "short", "zeros", "abc", "random"])
def test_cm_edge_cases(level, data):
    enc = cm_rt(data, level)
    if len(data) < 6:
        assert enc is None
    if data[:3] == b"\0\0\0":
        assert enc is not None and len(enc) < 200
    if data[:3] == b"abc":
        assert enc is not None and len(enc) < 100


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("n", [4095, 4097, 16_385, 70_000])
def test_cm_table_size_boundaries(level, n):
    # model tables are sized from the input length: sizes around the steps must round-trip,
    # including every byte value (both values of the bits where the model looks ahead)
    rng = random.Random(n)
    words = [bytes(rng.choice(b"abcdefghij\x00\xff\x80\x7f ") for _ in range(rng.randrange(1, 9)))
             for _ in range(300)]
    data = (bytes(range(256)) + b"".join(rng.choice(words) for _ in range(n)))[:n]
    assert cm_rt(data, level) is not None
    prime = data[: n // 3]
    assert cm_rt(data[n // 3:], level, prime) is not None


def test_cm_random_declines():
    assert L.cm_encode(os.urandom(50_000), 2) is None


def test_cm_empty_decode():
    assert L.cm_decode(b"", 0, 2) == b""
    with pytest.raises(ValueError):
        L.cm_decode(b"abcdef", 0, 2)


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("group", GROUPS)
def test_cm_corpus(group, level):
    for name, data in _sample(group):
        enc = cm_rt(data, level)
        assert enc is not None, name
        # CM must beat zlib -9 on every real file of these groups
        assert len(enc) < len(zlib.compress(data, 9)), name


@pytest.mark.parametrize("level", [1, 2])
def test_cm_text_beats_zlib_clearly(level):
    data = (CORPORA / "calgary" / "paper1").read_bytes()
    enc = cm_rt(data, level)
    assert len(enc) < 0.85 * len(zlib.compress(data, 9))
    hb = huff_rt(data)
    assert len(enc) < 0.6 * len(hb)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([1, 2]))
def test_cm_hypothesis(data, level):
    cm_rt(data, level)
    cm_rt(data * 4, level)


def test_cm_deterministic():
    data = _sample("canterbury", 1, 20_000)[0][1]
    assert L.cm_encode(data, 2) == L.cm_encode(data, 2)
    assert L.cm_encode(data, 1) != L.cm_encode(data, 2)


def test_cm_bad_level():
    with pytest.raises(ValueError):
        L.cm_encode(b"abcdefgh" * 10, 3)
    with pytest.raises(ValueError):
        L.cm_decode(b"abcdefgh", 10, 0)


# ------------------------------------------------------------------ priming

def test_cm_prime_helps_small_inputs():
    logs = _files("loghub")
    prime = logs[0].read_bytes()[:60_000]
    small = logs[0].read_bytes()[60_000:62_000]
    plain = cm_rt(small, 2)
    primed = cm_rt(small, 2, prime)
    assert primed is not None and plain is not None
    assert len(primed) < 0.7 * len(plain)
    primed1 = cm_rt(small, 1, prime)
    assert primed1 is not None
    # the decoder must be primed identically
    bad = None
    try:
        bad = L.cm_decode(primed, len(small), 2, b"")
    except ValueError:
        pass
    assert bad != small
    try:
        bad = L.cm_decode(primed, len(small), 2, prime[:-1] + b"?")
    except ValueError:
        bad = None
    assert bad != small


def test_cm_prime_tiny_and_bytearray():
    prime = bytearray(b"the quick brown fox jumps over the lazy dog " * 20)
    data = bytearray(b"the lazy dog jumps over the quick brown fox " * 3)
    enc = L.cm_encode(data, 2, prime)
    assert enc is not None
    assert L.cm_decode(memoryview(enc), len(data), 2, prime) == bytes(data)


# ------------------------------------------------------------------ damaged input

def _damage_cases(enc: bytes, rng: random.Random):
    yield enc[:-1]
    yield enc[: len(enc) // 2]
    yield enc[:5]
    yield enc + b"\0"
    yield enc + b"\xff" * 7
    for _ in range(12):
        b = bytearray(enc)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        yield bytes(b)
    yield bytes(len(enc))
    yield b"\xff" * len(enc)


def _check_damaged(decode, enc: bytes, n: int, original: bytes):
    rng = random.Random(7)
    for bad in _damage_cases(enc, rng):
        try:
            out = decode(bad, n)
        except ValueError:
            continue
        assert isinstance(out, bytes) and len(out) == n


@pytest.mark.timeout(60)
def test_huffman_damaged():
    data = _sample("canterbury", 1, 30_000)[0][1]
    enc = L.huffman_encode(data)
    _check_damaged(L.huffman_decode, enc, len(data), data)
    # absurd headers
    for bad in [b"\xff" * 32 + b"\x00" * 128, b"\xff" * 32 + b"\xdd" * 200, b"\x01" + b"\0" * 31 + b"\x0f",
                b"\x01" + b"\0" * 31 + b"\x02\x00\x00", b"\x00" * 40]:
        with pytest.raises(ValueError):
            L.huffman_decode(bad, 1000)
    # one size too many may decode a padding bit or fail; it never reproduces the input
    try:
        assert L.huffman_decode(enc, len(data) + 1)[:-1] == data
    except ValueError:
        pass
    with pytest.raises(ValueError):
        L.huffman_decode(enc, len(data) + 100)
    with pytest.raises(ValueError):
        L.huffman_decode(enc, 10**15)
    with pytest.raises(ValueError):
        L.huffman_decode(enc, -1)
    # a single-symbol code decodes the ones it was made for and rejects a '1' bit
    one = L.huffman_encode(b"z" * 1000)
    with pytest.raises(ValueError):
        L.huffman_decode(one[:-1] + b"\x80", 1000)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("level", [1, 2])
def test_cm_damaged(level):
    data = _sample("calgary", 1, 8_000)[0][1]
    enc = L.cm_encode(data, level)
    _check_damaged(lambda b, n: L.cm_decode(b, n, level), enc, len(data), data)
    for bad in [b"", b"\0" * 4, b"\xff" * 5]:
        with pytest.raises(ValueError):
            L.cm_decode(bad, len(data), level)
    with pytest.raises(ValueError):
        L.cm_decode(enc, len(data) + 1, level)
    with pytest.raises(ValueError):
        L.cm_decode(enc, -5, level)
    # an absurd size with a tiny payload must fail fast, not decode for ages
    with pytest.raises(ValueError):
        L.cm_decode(enc, 2**62, level)


# ------------------------------------------------------------------ compact Huffman tables (L7 v2)

def _compact_rt(data: bytes) -> bytes | None:
    enc = L.huffman_encode(data, True)
    if enc is not None:
        assert len(enc) < len(data)
        assert L.huffman_decode(enc, len(data), True) == data
    return enc


@pytest.mark.parametrize("data", [b"z" * 100, bytes([0, 255]) * 60, b"hello, small frame\n" * 30,
                                  bytes(range(0, 256, 2)) * 20 + b"\x00" * 500,
                                  bytes([7]) * 50 + bytes([200]) * 3 + bytes([201]) * 40,
                                  bytes([0]) * 90 + bytes([20, 40]) * 10])
def test_compact_huffman_round_trips(data):
    enc = _compact_rt(data)
    assert enc is not None
    # every run length of absent symbols (1, 2..17, 18..273, and more than one escape)
    for gap in (1, 2, 17, 18, 19, 200, 254):
        d = bytes([0]) * 60 + bytes([gap + 1]) * 30
        assert _compact_rt(d) is not None


def test_compact_table_is_smaller_on_a_small_alphabet():
    data = b"GET /index.html 200\nGET /about 404\n" * 10
    old, new = L.huffman_encode(data), L.huffman_encode(data, True)
    assert len(new) <= len(old) - 15       # 32-byte bitmap against a few nibbles of runs


def test_smallest_table_picks_the_bitmap_for_scattered_dense_alphabets():
    data = bytes(range(0, 256, 2)) * 3 + b"\x00" * 3000      # 128 symbols, 127 gaps of one, skewed
    compact, enc = L.huffman_encode_smallest(data)
    assert not compact and enc == L.huffman_encode(data)
    compact, enc = L.huffman_encode_smallest(b"small alphabet " * 20)
    assert compact and L.huffman_decode(enc, 300, True) == b"small alphabet " * 20


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 255))
def test_compact_huffman_hypothesis(data, alphabet):
    _compact_rt(data)
    _compact_rt(bytes(b % alphabet for b in data) * 3)
    best = L.huffman_encode_smallest(data)
    plain = L.huffman_encode(data)
    assert (best is None) == (plain is None)
    if best is not None:
        assert len(best[1]) <= len(plain)
        assert L.huffman_decode(best[1], len(data), best[0]) == data


@pytest.mark.timeout(60)
def test_compact_huffman_damaged():
    data = b"2024-03-01 12:00:00 INFO request took 12 ms\n" * 40
    enc = L.huffman_encode(data, True)
    _check_damaged(lambda b, n: L.huffman_decode(b, n, True), enc, len(data), data)
    for i in range(len(enc)):                              # every truncation is refused
        with pytest.raises(ValueError):
            L.huffman_decode(enc[:i], len(data), True)
    for bad in [b"\x0f", b"\xff", b"\xfd\xff", b"\xee\xee\xee", b"\x1d\x00", b"\x01\x10", b"\x0e\xff\xff\x01"]:
        with pytest.raises(ValueError):                    # empty table, runs past 255, padding, truncation
            L.huffman_decode(bad, 10, True)
