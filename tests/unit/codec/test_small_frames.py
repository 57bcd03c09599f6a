"""Small frames (1 B - 64 KiB), the mesh's chunk sizes: every kind of data round-trips in
every profile, frames use the compact L7 tables, and damaged small frames are refused."""
from __future__ import annotations

import json
import random
import struct

import pytest

from cobol_codec import FILE_HEADER, CodecError, CorruptFrameError, decompress, encode_frame
from cobol_codec import stages, varint
from frame_walk import walk


def _log(n: int) -> bytes:
    rnd = random.Random(1)
    return b"".join(b"2024-03-01 10:%02d:%02d INFO [w%d] request id=%05x took %d ms\n"
                    % (i // 60 % 60, i % 60, rnd.randint(1, 8), rnd.randint(0, 99999), rnd.randint(1, 900))
                    for i in range(n))


def _csv(n: int) -> bytes:
    rnd = random.Random(2)
    return b"ts,sensor,temp,status\n" + b"".join(b"2024-03-01T10:%02d:%02d,s%d,%.2f,%s\n" % (
        i // 60 % 60, i % 60, rnd.randint(1, 6), rnd.uniform(15, 30), rnd.choice([b"ok", b"drift"])) for i in range(n))


def _json(n: int) -> bytes:
    rnd = random.Random(3)
    return b"".join(json.dumps({"ts": 1_700_000_000 + i, "user": f"u{rnd.randint(1, 40)}",
                                "amount": round(rnd.uniform(0, 500), 2)}).encode() + b"\n" for i in range(n))


def _ebcdic(n: int) -> bytes:
    rnd = random.Random(4)
    return b"".join(struct.pack(">I", 1000 + i) + f"CUSTOMER {rnd.randint(0, 999):03d}".ljust(20).encode("cp037")
                    + bytes.fromhex(f"{rnd.randint(0, 9_999_999):07d}C") + b"\x40" * 6 for i in range(n))


KINDS = {
    "log": _log(2000), "csv": _csv(3000), "json": _json(1500), "ebcdic": _ebcdic(2500),
    "random": random.Random(5).randbytes(70_000), "zeros": bytes(70_000),
    "one-symbol": b"a" * 70_000, "two-symbols": bytes([0, 255]) * 35_000,
}
SIZES = (1, 2, 63, 64, 100, 1024, 4096, 16384, 65536)


@pytest.mark.parametrize("profile", ["fast", "balanced"])
@pytest.mark.parametrize("kind", KINDS)
def test_small_frames_round_trip(kind, profile):
    for size in SIZES:
        data = KINDS[kind][:size]
        frame = encode_frame(data, profile)
        assert decompress(FILE_HEADER + frame) == data, (kind, size)


@pytest.mark.parametrize("kind", ["log", "csv", "ebcdic", "zeros"])
def test_small_frames_round_trip_max(kind):
    for size in (1, 100, 1024, 4096):
        data = KINDS[kind][:size]
        assert decompress(FILE_HEADER + encode_frame(data, "max")) == data


def _l7_coders(frame: bytes) -> list[int]:
    """The L7 coder of every stream of a frame."""
    return [params[0] for _split, _model, stages in walk(frame, header=False) for layer, params in stages if layer == 7]


@pytest.mark.parametrize("kind", ["log", "csv", "json", "ebcdic"])
def test_fast_small_frames_use_the_compact_tables(kind):
    coders = _l7_coders(encode_frame(KINDS[kind][:4096], "fast"))
    assert set(coders) <= {stages.HUFFMAN, stages.HUFFMAN_COMPACT, stages.HUFFMAN_LZ2}
    if kind in ("log", "csv"):
        assert coders


def _v1_substreams(lz: bytes) -> bytes:
    """What the v1 writer (coder 3: bitmap tables, mode byte and both lengths) made of an L6 payload."""
    from cobol_codec import codecs
    l6, l7 = codecs.load(6), codecs.load(7)
    out = bytearray(varint.encode(5))
    for part in l6.split_streams(lz):
        coded = l7.huffman_encode(part) if len(part) > 64 else None
        body = part if coded is None else coded
        out += bytes([0 if coded is None else 1]) + varint.encode(len(part)) + varint.encode(len(body)) + body
    return bytes(out)


@pytest.mark.parametrize("kind", ["log", "csv", "json"])
def test_compact_tables_shrink_small_frames(kind):
    """On a 4 KiB frame the v2 sub-streams are smaller than v1's, and v1's still decode."""
    data = KINDS[kind][:4096]
    lz = stages.LZ_FAST.encode(data, b"")[0]
    v1, v2 = _v1_substreams(lz), stages._huffman_lz_enc(lz)
    assert stages._huffman_lz_dec(v1, len(lz), False) == lz
    assert stages._huffman_lz_dec(v2, len(lz), True) == lz
    assert len(v2) <= len(v1) - 40


@pytest.mark.parametrize("kind", ["log", "csv", "ebcdic", "json"])
def test_damaged_small_frames_are_refused(kind):
    data = KINDS[kind][:4096]
    frame = encode_frame(data, "fast")
    rnd = random.Random(9)
    for end in range(1, len(frame), max(1, len(frame) // 60)):
        with pytest.raises(CodecError):
            decompress(FILE_HEADER + frame[:end])
    refused = 0
    for _ in range(150):
        bad = bytearray(frame)
        i = rnd.randrange(len(bad))
        bad[i] ^= 1 << rnd.randrange(8)
        try:        # refused, or (a flip in a field the decoder does not need) the exact original
            assert decompress(FILE_HEADER + bytes(bad)) == data
        except CodecError:
            refused += 1
    assert refused >= 120


def _substreams(*parts: bytes) -> bytes:
    return varint.encode(len(parts)) + b"".join(parts)


@pytest.mark.parametrize("payload", [
    b"",                                                        # no count
    _substreams(varint.encode(10 << 2 | 0) + b"short"),         # stored sub-stream cut short
    _substreams(varint.encode(4 << 2 | 3) + b"abcd"),           # mode 3 does not exist
    _substreams(varint.encode(4 << 2 | 1) + varint.encode(50) + b"x"),   # coded length past the end
    _substreams(varint.encode(4 << 2 | 2) + varint.encode(2) + b"\x0f\x00"),  # empty compact table
    _substreams(varint.encode(1 << 2 | 0) + b"a") + b"trailing",
    varint.encode(9) + b"\x00" * 9,                             # more sub-streams than L6 has
    varint.encode(1 << 40),                                     # absurd raw length
])
def test_hostile_substream_framing_is_refused(payload):
    with pytest.raises((CorruptFrameError, ValueError)):
        stages._huffman_lz_dec(payload, 1000, True)
