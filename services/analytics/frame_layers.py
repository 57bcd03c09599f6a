"""Which codec layers ran on a frame, and how many bytes each took in and gave out.

cobol_codec has no public function that lists a frame's layers, so this reads only the
fields that libs/codec/FORMAT.md documents: the data-frame header, then the body's `split`
byte (L1 or L2 cut the frame into streams) and each stream's stage list (layer id, params,
`in_len`) and `payload_len`, with the codec's own bounds-checked reader (cobol_codec.varint).
Payloads are skipped, never decoded. Every length is checked against the bytes at hand, so
a damaged or hostile frame raises `FrameLayoutError` and costs one pass over its bytes.

Bytes per layer: a split layer takes `orig_len` bytes and gives the streams' `raw_len`s
plus its own params; a stage takes `in_len` and gives the next stage's `in_len` (or the
stream's `payload_len` for the last stage). Sums over the frame's streams.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

from cobol_codec.errors import CorruptFrameError
from cobol_codec.varint import Cursor

SYNC = b"\xCB\x46"
KIND_DATA = 1
MAX_STREAMS = 1 << 16
MAX_STAGES = 8
STAGE_LAYERS = frozenset({3, 4, 5, 6, 7})
SPLIT_LAYERS = {1: 1, 2: 2}          # split byte -> layer id (0 = no split)


class FrameLayoutError(ValueError):
    """The frame's documented header or stage lists are damaged or inconsistent."""


@dataclass(frozen=True)
class LayerBytes:
    layer: int          # 1..7
    bytes_in: int
    bytes_out: int


def layer_bytes(frame: bytes) -> list[LayerBytes]:
    """The layers that ran on one data frame (bytes without the container file header),
    with their summed bytes in and out, ordered by layer id."""
    try:
        return _layer_bytes(frame)
    except CorruptFrameError as exc:           # the codec's bounds-checked reader ran out
        raise FrameLayoutError(str(exc)) from None


def _layer_bytes(frame: bytes) -> list[LayerBytes]:
    r = Cursor(frame, "frame")
    if bytes(r.take(2)) != SYNC:
        raise FrameLayoutError("not a data frame: the frame marker is missing")
    if r.u8() != KIND_DATA:
        raise FrameLayoutError("not a data frame: wrong kind byte")
    limit = len(frame) * 8 + (32 << 20)
    orig_len = r.varint(32 << 20)
    body_len = r.varint(orig_len + 64 + orig_len // 64)
    r.take(4 + 8)                                            # crc, dict_id
    head_end = r.pos
    header_crc = int.from_bytes(r.take(4), "little")
    if header_crc != zlib.crc32(bytes(r.buf[:head_end])) & 0xFFFFFFFF:
        raise FrameLayoutError("frame header checksum mismatch")
    if len(frame) - r.pos != body_len:
        raise FrameLayoutError(f"frame body is {len(frame) - r.pos} bytes, header says {body_len}")
    totals: dict[int, list[int]] = {}

    def add(layer: int, n_in: int, n_out: int) -> None:
        row = totals.setdefault(layer, [0, 0])
        row[0] += n_in
        row[1] += n_out

    split = r.u8()
    if split not in (0, *SPLIT_LAYERS):
        raise FrameLayoutError(f"unknown split layer {split}")
    params_len = r.varint(body_len)
    r.take(params_len)
    n_streams = r.varint(MAX_STREAMS)
    split_out = params_len
    for _ in range(n_streams):
        r.u8()                                               # stream kind
        raw_len = r.varint(limit)
        split_out += raw_len
        n_stages = r.u8()
        if n_stages > MAX_STAGES:
            raise FrameLayoutError(f"a stream declares {n_stages} stages (at most {MAX_STAGES})")
        stages = []
        for _ in range(n_stages):
            layer = r.u8()
            if layer not in STAGE_LAYERS:
                raise FrameLayoutError(f"unknown stage layer id {layer}")
            r.take(r.varint(64))                             # params
            stages.append((layer, r.varint(limit)))
        payload_len = r.varint(len(frame))
        r.take(payload_len)
        outs = [n_in for _, n_in in stages[1:]] + [payload_len]
        for (layer, n_in), n_out in zip(stages, outs):
            add(layer, n_in, n_out)
    if r.pos != len(frame):
        raise FrameLayoutError("frame has trailing bytes after its streams")
    if split:
        add(SPLIT_LAYERS[split], orig_len, split_out)
    return [LayerBytes(layer, a, b) for layer, (a, b) in sorted(totals.items())]
