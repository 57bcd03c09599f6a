"""L6 match layer: LZ77 round trips, dictionary priming, corrupt-payload safety, training."""
from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobol_codec.codecs.match import match as l6_match
from cobol_codec.dictbuilder import train_patterns
from corpora import corpus_files

LEVELS = (1, 2, 3, 4)


_files = corpus_files


def roundtrip(data: bytes, dictionary: bytes = b"", level: int = 1) -> bytes | None:
    enc = l6_match.lz_encode(data, dictionary, level)
    raw = l6_match._encode(data, dictionary, level)   # the payload even when it does not pay
    assert l6_match.lz_decode(raw, len(data), dictionary) == data
    if enc is None:
        assert len(raw) >= len(data)
    else:
        assert enc == raw and len(enc) < len(data)
        assert l6_match.lz_decode(enc, len(data), dictionary) == data
    return enc


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("data", [
    b"", b"a", b"ab", b"abcd", b"\x00" * 5, b"\x00" * 100_000, b"ab" * 50_000, b"abc" * 7,
    bytes(range(256)) * 40, b"x" * 259 + b"y" * 260 + b"x" * 1000,
], ids=lambda d: f"{len(d)}")
def test_roundtrip_small_and_runs(data, level):
    roundtrip(data, level=level)
    roundtrip(data, b"some dictionary content abcabcabc" * 3, level)


@pytest.mark.parametrize("level", LEVELS)
def test_random_bytes_decline(level):
    data = random.Random(7).randbytes(200_000)
    assert roundtrip(data, level=level) is None
    assert len(l6_match._encode(data, b"", level)) <= len(data) + len(data) // 200 + 32


@pytest.mark.parametrize("level", LEVELS)
def test_empty_encodes_to_none_and_decodes(level):
    assert l6_match.lz_encode(b"", b"", level) is None
    assert l6_match.lz_decode(l6_match._encode(b"", b"", level), 0) == b""


def test_bad_level():
    with pytest.raises(ValueError):
        l6_match.lz_encode(b"abcd" * 10, b"", 9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.binary(max_size=300), st.sampled_from(LEVELS))
def test_hypothesis_roundtrip(data, dictionary, level):
    roundtrip(data, dictionary, level)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([b"abc", b"hello ", b"\x00\x01", b"zz", b"0123456789"]), max_size=400),
       st.sampled_from([b"", b"hello world 0123456789 abc", b"zz" * 40]), st.sampled_from(LEVELS))
def test_hypothesis_repetitive(parts, dictionary, level):
    roundtrip(b"".join(parts), dictionary, level)


def _corpus_samples(limit):
    """Up to `limit` bytes from each corpus file (keeps the whole-corpus pass fast)."""
    return [(p.name, p.read_bytes()[:limit]) for p in _files()]


@pytest.mark.parametrize("level", LEVELS)
def test_corpora_roundtrip(level):
    for name, data in _corpus_samples((24 if level == 3 else 96) << 10):
        enc = roundtrip(data, level=level)
        if name.endswith(".log"):
            assert enc is not None, name


def test_corpora_whole_files_level1_and_2():
    for p in _files("loghub")[:4] + _files("ebcdic") + _files("canterbury")[:3]:
        data = p.read_bytes()
        for level in (1, 2):
            roundtrip(data, level=level)


@pytest.mark.parametrize("level", LEVELS)
def test_corpora_with_dictionary(level):
    logs = _files("loghub")
    for p in logs[:6]:
        lines = p.read_bytes().splitlines(keepends=True)
        dictionary = b"".join(lines[:200])[:16 << 10]
        for line in lines[1000:1040]:
            roundtrip(line, dictionary, level)
        roundtrip(b"".join(lines[1000:1100]), dictionary, level)


def test_level_ordering_on_text():
    data = (_files("canterbury")[0]).read_bytes()[:200_000]
    sizes = [len(l6_match._encode(data, b"", lv)) for lv in (1, 2, 3)]
    assert sizes[1] < sizes[0] and sizes[2] <= sizes[1] * 1.01


# ----------------------------------------------------------------------------- dictionaries

def test_dictionary_makes_small_records_smaller():
    lines = [ln for ln in _files("loghub")[6].read_bytes().splitlines(keepends=True) if ln]
    dictionary = train_patterns(lines[:1000], 16 << 10)
    assert 0 < len(dictionary) <= 16 << 10
    plain = primed = 0
    for ln in lines[1000:1300]:
        plain += len(l6_match._encode(ln, b"", 2))
        primed += len(l6_match._encode(ln, dictionary, 2))
        roundtrip(ln, dictionary, 2)
    assert primed < plain * 0.7


def test_match_reaches_into_dictionary_and_beyond():
    dictionary = b"The quick brown fox jumps over the lazy dog. "
    data = b"The quick brown fox jumps over the lazy dog. The quick brown fox jumps again."
    for level in LEVELS:
        matches = l6_match.find_matches(data, dictionary, level)
        assert matches and matches[0][1] > matches[0][0]     # first match starts in the dictionary
        assert matches[0][2] > 45                             # ... and runs on into the data
        roundtrip(data, dictionary, level)
    enc = l6_match.lz_encode(data, dictionary, 2)
    assert enc is not None and len(enc) < 20


def test_wrong_dictionary_is_safe():
    lines = _files("loghub")[0].read_bytes().splitlines(keepends=True)
    d1 = b"".join(lines[:100])
    d2 = b"".join(lines[100:200])
    rng = random.Random(3)
    for ln in lines[500:600]:
        enc = l6_match._encode(ln, d1, 2)
        for other in (d2, b"", d1[:-1], rng.randbytes(len(d1))):
            try:
                out = l6_match.lz_decode(enc, len(ln), other)
            except ValueError:
                continue
            assert len(out) == len(ln)


def test_find_matches_consistent():
    data = b"abcdefgh" * 20 + b"xyz" + b"abcdefgh" * 5
    for level in LEVELS:
        ms = l6_match.find_matches(data, b"", level)
        for pos, off, length in ms:
            assert 1 <= off <= pos and length >= 4
            assert data[pos:pos + length] == bytes(data[pos - off + i] for i in range(length))


# ----------------------------------------------------------------------------- corrupt input

def _payloads():
    text = _files("canterbury")[0].read_bytes()[:20_000]
    out = [(l6_match._encode(text, b"", lv), len(text), b"") for lv in LEVELS]
    dictionary = text[:4000]
    out.append((l6_match._encode(text[10000:12000], dictionary, 2), 2000, dictionary))
    out.append((l6_match._encode(b"\x00" * 5000 + b"abc" * 300, b"", 1), 5900, b""))
    return out


def test_truncation_raises():
    for enc, n, dictionary in _payloads():
        step = max(1, len(enc) // 300)
        for cut in list(range(0, len(enc), step)) + [len(enc) - 1]:
            with pytest.raises(ValueError):
                l6_match.lz_decode(enc[:cut], n, dictionary)
        with pytest.raises(ValueError):
            l6_match.lz_decode(enc + b"\x00", n, dictionary)


def test_wrong_length_raises():
    for enc, n, dictionary in _payloads():
        for m in (0, n - 1, n + 1, n * 2):
            with pytest.raises(ValueError):
                l6_match.lz_decode(enc, m, dictionary)
    with pytest.raises(ValueError):
        l6_match.lz_decode(b"\x01\x00\x00\x00", -1)


def test_bit_flips_never_crash():
    rng = random.Random(11)
    for enc, n, dictionary in _payloads():
        for _ in range(400):
            bad = bytearray(enc)
            for _ in range(rng.randint(1, 3)):
                i = rng.randrange(len(bad))
                bad[i] ^= 1 << rng.randrange(8)
            try:
                out = l6_match.lz_decode(bytes(bad), n, dictionary)
            except ValueError:
                continue
            assert len(out) == n


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _payload(lits, llc, ofc, mlc, ext):
    n = len(llc)
    assert len(ofc) == n and len(mlc) == n
    return (b"\x01" + _varint(n) + _varint(len(lits)) + _varint(len(ext)) + lits
            + bytes(llc) + bytes(ofc) + bytes(mlc) + ext)


def test_handmade_payloads():
    # valid: "abcd" + match off 4 len 8 -> "abcdabcdabcd"
    good = _payload(b"abcd", [4], [3 + 4], [4], b"")
    assert l6_match.lz_decode(good, 12) == b"abcd" * 3
    # offset beyond the window (5 > 4 bytes written, no dictionary)
    with pytest.raises(ValueError, match="before the start"):
        l6_match.lz_decode(_payload(b"abcd", [4], [3 + 5], [4], b""), 12)
    # ... but fine with a dictionary long enough
    assert l6_match.lz_decode(_payload(b"abcd", [4], [3 + 5], [0], b""), 8, b"Z") == b"abcdZabc"
    # repeat offset 8 at the start reaches before the window
    with pytest.raises(ValueError):
        l6_match.lz_decode(_payload(b"ab", [2], [2], [0], b""), 6)
    # huge match length (varint extension) beyond out_len
    with pytest.raises(ValueError, match="past the declared"):
        l6_match.lz_decode(_payload(b"abcd", [4], [3 + 4], [255], _varint(1 << 30)), 12)
    # overlong varint
    with pytest.raises(ValueError):
        l6_match.lz_decode(_payload(b"abcd", [4], [3 + 4], [255], b"\xff" * 12), 12)
    # huge literal run
    with pytest.raises(ValueError):
        l6_match.lz_decode(_payload(b"abcd", [255], [3 + 4], [0], _varint(1 << 33)), 12)
    # invalid offset code
    with pytest.raises(ValueError, match="offset code"):
        l6_match.lz_decode(_payload(b"abcd", [4], [251], [4], b""), 12)
    # zero offset
    with pytest.raises(ValueError, match="zero"):
        l6_match.lz_decode(_payload(b"abcd", [4], [3 + 62], [4], b"\x00"), 12)
    # offset needing extra bytes that are missing
    with pytest.raises(ValueError):
        l6_match.lz_decode(_payload(b"abcd", [4], [3 + 62 * 3], [4], b"\x01"), 12)
    # header claims more sequences than the output can hold
    with pytest.raises(ValueError):
        l6_match.lz_decode(b"\x01" + _varint(1 << 40) + b"\x00\x00", 12)
    # bad format tag, empty payload
    with pytest.raises(ValueError):
        l6_match.lz_decode(b"\x07" + good[1:], 12)
    with pytest.raises(ValueError):
        l6_match.lz_decode(b"", 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=5000), st.binary(max_size=50))
def test_hypothesis_garbage_never_crashes(garbage, n, dictionary):
    for payload in (garbage, b"\x01" + garbage):
        try:
            out = l6_match.lz_decode(payload, n, dictionary)
        except ValueError:
            continue
        assert len(out) == n


# ----------------------------------------------------------------------------- training

def test_train_patterns_size_and_determinism():
    lines = _files("loghub")[3].read_bytes().splitlines(keepends=True)
    for size in (256, 1000, 4096, 32 << 10):
        a = train_patterns(lines[:1000], size)
        b = train_patterns(list(lines[:1000]), size)
        assert a == b and 0 < len(a) <= size
    assert train_patterns([], 1000) == b""
    assert train_patterns([b"", b""], 1000) == b""
    assert train_patterns([b"abc"], 0) == b""
    chunks = [zlib.compress(bytes([i]) * 64) for i in range(50)] + [b"x" * 10_000]
    assert len(train_patterns(chunks, 512)) <= 512


def test_train_patterns_on_chunks():
    raw = _files("loghub")[0].read_bytes()
    chunks = [raw[i:i + 4096] for i in range(0, len(raw), 4096)]
    half = len(chunks) // 2
    dictionary = train_patterns(chunks[:half], 16 << 10)
    assert 0 < len(dictionary) <= 16 << 10
    plain = sum(len(l6_match._encode(c, b"", 2)) for c in chunks[half:])
    primed = sum(len(l6_match._encode(c, dictionary, 2)) for c in chunks[half:])
    assert primed < plain


def test_split_and_join_streams():
    data = _files("loghub")[2].read_bytes()[:50_000]
    for level in LEVELS:
        enc = l6_match.lz_encode(data, b"", level)
        parts = l6_match.split_streams(enc)
        assert len(parts) == 5 and len(parts[1]) == len(parts[2]) == len(parts[3])
        assert l6_match.join_streams(parts) == enc
    with pytest.raises(ValueError):
        l6_match.split_streams(enc[:-1])
    with pytest.raises(ValueError):
        l6_match.join_streams([b"", b"a", b"", b"", b""])
