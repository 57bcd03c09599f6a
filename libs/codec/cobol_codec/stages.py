"""Stream stages: the layers L3–L7 seen as reversible steps on one stream.

Each stage encodes `data` into `(payload, params)` or declines with None; decoding gets the
payload, the params it wrote and the exact length of the data it had to encode. The frame
records (layer id, params, input length) for every stage that ran.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import codecs, varint
from .errors import CorruptFrameError
from .varint import Cursor

HUFFMAN, CM_FAST, CM_MAX, HUFFMAN_LZ = 0, 1, 2, 3   # L7 coders of format version 1
# L7 format version 2 (session 16): the compact Huffman table (runs of absent symbols instead
# of a 32-byte bitmap) and a tighter sub-stream framing; small frames gain most.
HUFFMAN_COMPACT, HUFFMAN_LZ2 = 4, 5
L7_CODERS = (HUFFMAN, CM_FAST, CM_MAX, HUFFMAN_LZ, HUFFMAN_COMPACT, HUFFMAN_LZ2)
_SUB_STORED, _SUB_HUFF, _SUB_COMPACT = 0, 1, 2
MIN_SUBSTREAM = 8     # shorter L6 sub-streams are stored: a Huffman table cannot pay


@dataclass(frozen=True)
class Stage:
    layer: int
    name: str
    encode: Callable[[bytes, bytes], tuple[bytes, bytes] | None]  # (data, dictionary)
    decode: Callable[[bytes, bytes, int, bytes], bytes]          # (payload, params, out_len, dictionary)
    keep_below: float = 1.0   # kept only if output < keep_below x input (a pre-pass that costs the next stage context)
    # L3 rewrites int64s into int64s: its output is never shorter, so it is kept whenever it
    # chose a transform (keep_below just above 1); bit-packing then gains from the small values.


def _count(out_len: int) -> int:
    if out_len % 8:
        raise CorruptFrameError("integer stream length is not a multiple of 8")
    return out_len // 8


def _delta_enc(data, _dictionary):
    res = codecs.load(3).delta_encode(data)
    if res is None:
        return None
    mode, out = res
    return out, bytes([mode])


def _delta_dec(payload, params, out_len, _dictionary):
    if len(params) != 1:
        raise CorruptFrameError("L3 parameters are malformed")
    return codecs.load(3).delta_decode(params[0], payload, _count(out_len))


def _pack_enc(data, _dictionary):
    out = codecs.load(4).bitpack_encode(data)
    return None if out is None else (out, b"")


def _pack_dec(payload, _params, out_len, _dictionary):
    return codecs.load(4).bitpack_decode(payload, _count(out_len))


def _rle_enc(data, _dictionary):
    out = codecs.load(5).rle_encode(data)
    return None if out is None else (out, b"")


def _rle_dec(payload, _params, out_len, _dictionary):
    return codecs.load(5).rle_decode(payload, out_len)


def _lz(level: int):
    def enc(data, dictionary):
        out = codecs.load(6).lz_encode(data, dictionary, level)
        return None if out is None else (out, bytes([level, 1 if dictionary else 0]))
    return enc


def _lz_dec(payload, params, out_len, dictionary):
    if len(params) != 2:
        raise CorruptFrameError("L6 parameters are malformed")
    return codecs.load(6).lz_decode(payload, out_len, dictionary if params[1] else b"")


def _huffman_lz_enc(data: bytes) -> bytes | None:
    """Huffman-codes each sub-stream of an L6 payload with its own table (literals, run
    lengths, offsets and lengths have very different statistics); coder 5's framing:
    count, then per sub-stream varint(raw_len << 2 | mode) [varint(coded_len)] bytes."""
    l6, l7 = codecs.load(6), codecs.load(7)
    try:
        parts = l6.split_streams(data)
    except ValueError:
        return None                     # L6 declined upstream: not an L6 payload
    out = bytearray(varint.encode(len(parts)))
    for part in parts:
        coded = l7.huffman_encode_smallest(part) if len(part) >= MIN_SUBSTREAM else None
        if coded is None:
            out += varint.encode(len(part) << 2 | _SUB_STORED) + part
        else:
            out += varint.encode(len(part) << 2 | (_SUB_COMPACT if coded[0] else _SUB_HUFF))
            out += varint.encode(len(coded[1])) + coded[1]
    return bytes(out)


def _huffman_lz_dec(payload: bytes, out_len: int, v2: bool) -> bytes:
    """Coder 3 (v1 framing: mode byte, raw and coded lengths) or coder 5 (v2, above)."""
    l6, l7 = codecs.load(6), codecs.load(7)
    cur = Cursor(payload, "L7 sub-streams")
    parts = []
    for _ in range(cur.varint(8)):
        if v2:
            head = cur.varint(4 * out_len + 3)
            n, mode = head >> 2, head & 3
            body = cur.take(n if mode == _SUB_STORED else cur.varint(cur.remaining()))
        else:
            mode = cur.u8()
            n = cur.varint(out_len)
            body = cur.take(cur.varint(cur.remaining()))
            if mode == _SUB_STORED and len(body) != n:
                raise CorruptFrameError("L7 sub-stream header is malformed")
        if mode == _SUB_STORED:
            parts.append(body)
        elif mode == _SUB_HUFF or (v2 and mode == _SUB_COMPACT):
            parts.append(l7.huffman_decode(body, n, mode == _SUB_COMPACT))
        else:
            raise CorruptFrameError("L7 sub-stream header is malformed")
    if cur.remaining():
        raise CorruptFrameError("L7 sub-streams have trailing bytes")
    return l6.join_streams(parts)


def _entropy(variant: int):
    def enc(data, dictionary):
        l7 = codecs.load(7)
        if variant == HUFFMAN_LZ:
            out = _huffman_lz_enc(data)
            if out is not None:
                return out, bytes([HUFFMAN_LZ2, 0])
        if variant in (HUFFMAN, HUFFMAN_LZ):
            out = l7.huffman_encode_smallest(data)
            return None if out is None else (out[1], bytes([HUFFMAN_COMPACT if out[0] else HUFFMAN, 0]))
        out = l7.cm_encode(data, variant, dictionary)
        return None if out is None else (out, bytes([variant, 1 if dictionary else 0]))
    return enc


def _entropy_dec(payload, params, out_len, dictionary):
    if len(params) != 2 or params[0] not in L7_CODERS:
        raise CorruptFrameError("L7 parameters are malformed")
    l7 = codecs.load(7)
    if params[0] in (HUFFMAN, HUFFMAN_COMPACT):
        return l7.huffman_decode(payload, out_len, params[0] == HUFFMAN_COMPACT)
    if params[0] in (HUFFMAN_LZ, HUFFMAN_LZ2):
        return _huffman_lz_dec(payload, out_len, params[0] == HUFFMAN_LZ2)
    return l7.cm_decode(payload, out_len, params[0], dictionary if params[1] else b"")


DELTA = Stage(3, "L3 delta", _delta_enc, _delta_dec, keep_below=1.0001)
BITPACK = Stage(4, "L4 bit-packing", _pack_enc, _pack_dec)
RLE = Stage(5, "L5 RLE", _rle_enc, _rle_dec)
RLE_LONG = Stage(5, "L5 RLE", _rle_enc, _rle_dec, keep_below=0.5)   # before CM: only long runs pay
LZ_FAST = Stage(6, "L6 match", _lz(1), _lz_dec)
LZ_DEEP = Stage(6, "L6 match", _lz(2), _lz_dec)
HUFF = Stage(7, "L7 Huffman", _entropy(HUFFMAN_LZ), _entropy_dec)
HUFF_PLAIN = Stage(7, "L7 Huffman", _entropy(HUFFMAN), _entropy_dec)     # when L6 may not run
CM1 = Stage(7, "L7 CM", _entropy(CM_FAST), _entropy_dec)
CM2 = Stage(7, "L7 CM", _entropy(CM_MAX), _entropy_dec)

# What decodes a recorded layer id (the encoder's choice of variant lives in its params).
DECODERS = {3: DELTA, 4: BITPACK, 5: RLE, 6: LZ_FAST, 7: HUFF}
