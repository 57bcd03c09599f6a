"""Damaged and hostile containers give a clear CodecError: never a crash, hang or huge allocation."""
from __future__ import annotations

import random
import resource
import zlib

import pytest

from cobol_codec import (CodecError, CorruptFrameError, Dictionary, DictionaryError, compress, decompress,
                         encode_frame, FILE_HEADER)
from cobol_codec import varint
from cobol_codec.frame import SYNC, parse_header

TEXT = b"".join(b"Nov 23 10:%02d:%02d host sshd[%d]: Accepted password for user%d from 10.0.%d.%d port %d\n"
                % (i // 60 % 60, i % 60, 4000 + i % 97, i % 13, i % 7, i % 250, 40000 + i) for i in range(20000))


def _rebuild_header(frame: bytes, **overrides) -> bytes:
    """Rewrites a data frame's header fields, with a valid header checksum (a lying frame)."""
    h = parse_header(frame)
    fields = {"orig_len": h.orig_len, "body_len": h.body_len, "crc": h.crc, "dict_id": h.dict_id} | overrides
    head = bytearray(SYNC) + bytes([1])
    head += varint.encode(fields["orig_len"]) + varint.encode(fields["body_len"])
    head += fields["crc"].to_bytes(4, "little") + fields["dict_id"].to_bytes(8, "little")
    head += (zlib.crc32(head) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(head) + frame[h.size:]


@pytest.fixture(scope="module", params=["fast", "balanced", "max"])
def frame(request):
    return encode_frame(TEXT[:50_000], request.param)


def _decode_frame_bytes(frame: bytes) -> bytes:
    return decompress(FILE_HEADER + frame)


def _expect_error(blob: bytes, exc=CodecError):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(exc):
        decompress(blob)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 600, f"decoder allocated {grown_mb:.0f} MB on a hostile frame"


def test_intact_frame_decodes(frame):
    assert _decode_frame_bytes(frame) == TEXT[:50_000]


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 10, 20, 33, 100, 1000, -1, -10, -100])
def test_truncated_frame(frame, cut):
    end = min(cut, len(frame) - 1) if cut > 0 else len(frame) + cut   # always short of the whole frame
    _expect_error(FILE_HEADER + frame[:end])


def test_truncated_container_with_index():
    blob = compress(TEXT, "fast")
    for end in (4, 8, 9, len(blob) // 2, len(blob) - 12, len(blob) - 1):
        _expect_error(blob[:end])


def test_bit_flips_anywhere(frame):
    rnd = random.Random(7)
    positions = sorted({rnd.randrange(len(frame)) for _ in range(40)} | {0, 1, 2, 3, len(frame) - 1})
    for pos in positions:
        for bit in (0, 3, 7):
            bad = bytearray(frame)
            bad[pos] ^= 1 << bit
            try:
                out = _decode_frame_bytes(bytes(bad))
            except CodecError:
                continue
            # A flip that still decodes must not pass off wrong bytes as right.
            assert out == TEXT[:50_000], (pos, bit)


def test_bad_checksum(frame):
    h = parse_header(frame)
    _expect_error(FILE_HEADER + _rebuild_header(frame, crc=h.crc ^ 1), CorruptFrameError)


@pytest.mark.parametrize("field,value", [
    ("orig_len", 1 << 40), ("orig_len", (32 << 20) + 1), ("orig_len", 0), ("orig_len", 7),
    ("body_len", 1 << 40), ("body_len", 3),
])
def test_lying_lengths(frame, field, value):
    _expect_error(FILE_HEADER + _rebuild_header(frame, **{field: value}))


def test_lying_stream_length_inside_body():
    # A stored frame whose stream declares a huge raw length.
    frame = encode_frame(b"abc", "fast")
    h = parse_header(frame)
    body = bytes([0]) + varint.encode(0) + varint.encode(1) + bytes([0]) + varint.encode(1 << 33) + bytes([0]) + varint.encode(3) + b"abc"
    bad = _rebuild_header(frame[:h.size] + body, body_len=len(body))
    _expect_error(FILE_HEADER + bad)


def test_unknown_layer_id():
    frame = encode_frame(b"abc", "fast")
    h = parse_header(frame)
    body = bytes([0]) + varint.encode(0) + varint.encode(1) + bytes([0]) + varint.encode(3) + bytes([1, 99]) + varint.encode(0) + varint.encode(3) + varint.encode(3) + b"abc"
    _expect_error(FILE_HEADER + _rebuild_header(frame[:h.size] + body, body_len=len(body)), CorruptFrameError)


def test_unknown_structure_layer():
    frame = encode_frame(b"abc", "fast")
    h = parse_header(frame)
    body = bytes([9]) + varint.encode(0) + varint.encode(1) + bytes([0]) + varint.encode(3) + bytes([0]) + varint.encode(3) + b"abc"
    _expect_error(FILE_HEADER + _rebuild_header(frame[:h.size] + body, body_len=len(body)), CorruptFrameError)


def test_bad_magic_and_version():
    blob = compress(b"hello world" * 10)
    _expect_error(b"XXXX" + blob[4:])
    _expect_error(blob[:4] + bytes([99]) + blob[5:])
    _expect_error(b"")


def test_trailing_garbage_after_index():
    _expect_error(compress(TEXT[:5000]) + b"junk")


def test_wrong_and_missing_dictionary():
    d1 = Dictionary(TEXT[:30000])
    d2 = Dictionary(TEXT[30000:60000])
    blob = compress(TEXT[100000:110000], "balanced", d1)
    assert decompress(blob, d1) == TEXT[100000:110000]
    with pytest.raises(DictionaryError, match="needs dictionary"):
        decompress(blob)
    with pytest.raises(DictionaryError, match="was given"):
        decompress(blob, d2)


def test_damaged_dictionary_file():
    raw = Dictionary(b"some patterns " * 100).to_bytes()
    with pytest.raises(DictionaryError):
        Dictionary.from_bytes(raw[:-1])
    bad = bytearray(raw)
    bad[10] ^= 0xFF
    with pytest.raises(DictionaryError):
        Dictionary.from_bytes(bytes(bad))


def test_random_garbage_after_header():
    rnd = random.Random(3)
    for n in (1, 10, 100, 10_000):
        _expect_error(FILE_HEADER + SYNC + bytes([1]) + rnd.randbytes(n))


def test_fuzzer_findings_are_refused():
    """Inputs `make fuzz` once crashed the decoder on: each must now be a clean CodecError."""
    from pathlib import Path
    found = sorted((Path(__file__).parent / "regressions").glob("*.cobol"))
    assert found
    for path in found:
        _expect_error(path.read_bytes())
