"""L1 generic tokenization: exact round trips, declines, damaged input."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobol_codec.codecs.tokens import tokens as L1
from corpora import corpus_files, corpus_id

FILES = corpus_files()


def roundtrip(data):
    res = L1.split_tokens(data)
    if res is None:
        return None
    params, streams = res
    assert [k for k, _ in streams] == ["bytes", "bytes", "ints"]
    assert L1.join_tokens(params, [p for _, p in streams], len(data)) == data
    return res


@pytest.mark.parametrize("path", FILES, ids=map(corpus_id, FILES))
def test_corpus_roundtrip(path):
    with open(path, "rb") as fh:
        roundtrip(fh.read())


def numeric_text(n=3000, seed=0):
    rnd = random.Random(seed)
    return "".join(f"item {rnd.randint(0, 10 ** 6)} qty {rnd.randint(0, 99)} id 00{rnd.randint(0, 9)} ok\r\n"
                   for _ in range(n)).encode()


def test_numeric_text_splits():
    data = numeric_text()
    assert roundtrip(data) is not None
    roundtrip(data[:-2] + "é ünï 9999999999999999999999".encode())


def test_binary_declines():
    assert L1.split_tokens(bytes(range(256)) * 100) is None
    assert L1.split_tokens(b"abc\x00def 12 " * 100) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([b"word", b"x", b" ", b"\n", b"\r\n", b"0", b"007", b"42", b"-", b".",
                                 b"\xc3\xa9", b"12345678901234567890", b"\xff", b"\x02"]), max_size=300),
       st.integers(1, 30))
def test_hypothesis_roundtrip(pieces, reps):
    roundtrip(b"".join(pieces) * reps)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_hypothesis_binary(data):
    roundtrip(data)


def test_damaged():
    data = numeric_text()
    params, streams = L1.split_tokens(data)
    payloads = [p for _, p in streams]
    n = len(data)
    for bad in ([payloads[0], payloads[1]], [payloads[0][:-1]] + payloads[1:],
                [payloads[0], payloads[1][:-1], payloads[2]], [payloads[0], payloads[1], payloads[2][:-8]],
                [payloads[0], payloads[1], payloads[2][:-1]],
                [payloads[0], payloads[1], (-5).to_bytes(8, "little", signed=True) + payloads[2][8:]]):
        with pytest.raises(ValueError):
            L1.join_tokens(params, bad, n)
    with pytest.raises(ValueError):
        L1.join_tokens(b"\x09", payloads, n)
    with pytest.raises(ValueError):
        L1.join_tokens(params, payloads, n - 1)
    with pytest.raises(ValueError):
        L1.join_tokens(params, payloads, n + 1)
    rnd = random.Random(3)
    for _ in range(200):
        ps = list(payloads)
        k = rnd.randrange(3)
        b = bytearray(ps[k])
        if b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        ps[k] = bytes(b)
        try:
            out = L1.join_tokens(params, ps, n)
            assert len(out) == n
        except ValueError:
            pass
