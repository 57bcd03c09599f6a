"""L2 models 4 (fixed-length records) and 5 (length-prefixed records): analyze() no longer
picks them (model 6 replaced both), but frames written by earlier encoders carry them and a
hostile frame can name them, so their decoders stay and are tested here."""
from __future__ import annotations

import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobol_codec import CorruptFrameError, decompress, varint
from cobol_codec.container import FILE_HEADER
from cobol_codec.frame import SPLIT_L2, Stats, _body
from cobol_codec.profiles import get
from cobol_codec.codecs import structure as L2


def fixed_records(n: int = 400, seed: int = 0) -> bytes:
    rnd = random.Random(seed)
    return b"".join(struct.pack(">I", 1000 + i) + b"NAME%04d" % rnd.randrange(10 ** 4) + bytes([rnd.randrange(4)]) * 8
                    for i in range(n)) + b"tail"


def varrec_records(n: int = 300, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(n):
        body = b"REC%06d|%s" % (i, b"x" * rnd.randrange(0, 30))
        out += struct.pack(">HH", len(body) + 4, 0) + body
    return bytes(out)


def _frame(model, params, streams, data) -> bytes:
    """A container of one frame whose body is an L2 split by `model` with coded streams (as
    an older encoder could write it), behind a valid header."""
    body = _body(SPLIT_L2, bytes([model]) + params, streams, get("fast"), b"", Stats())
    head = bytearray(b"\xCB\x46\x01") + varint.encode(len(data)) + varint.encode(len(body))
    head += (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + bytes(8)
    head += (zlib.crc32(head) & 0xFFFFFFFF).to_bytes(4, "little")
    return FILE_HEADER + bytes(head) + body


@pytest.mark.parametrize("make,analyze,model", [
    (fixed_records, L2._analyze_fixed, L2.MODEL_FIXED),
    (varrec_records, L2._analyze_varrec, L2.MODEL_VARREC),
])
def test_legacy_model_frames_decode(make, analyze, model):
    data = make()
    res = analyze(data)
    assert res is not None and res[0] == model
    _, params, streams = res
    assert L2.reconstruct(model, params, [p for _, p in streams], len(data)) == data
    assert decompress(_frame(model, params, streams, data)) == data


@pytest.mark.parametrize("model", [L2.MODEL_FIXED, L2.MODEL_VARREC])
def test_legacy_models_refuse_damage(model):
    data = fixed_records() if model == L2.MODEL_FIXED else varrec_records()
    _, params, streams = (L2._analyze_fixed if model == L2.MODEL_FIXED else L2._analyze_varrec)(data)
    payloads = [p for _, p in streams]
    for bad_params in (b"", b"\x02" + params[1:], params + b"\x00", params[:-1]):
        with pytest.raises(ValueError):
            L2.reconstruct(model, bad_params, payloads, len(data))
    with pytest.raises(ValueError):
        L2.reconstruct(model, params, payloads[:-1], len(data))
    with pytest.raises(ValueError):
        L2.reconstruct(model, params, payloads, len(data) + 1)
    cut = [p[:-1] if i == 0 else p for i, p in enumerate(payloads)]
    with pytest.raises(ValueError):
        L2.reconstruct(model, params, cut, len(data))
    # a damaged frame is refused as a CorruptFrameError, never anything else
    frame = bytearray(_frame(model, params, streams, data))
    frame[-5] ^= 0xFF
    with pytest.raises(CorruptFrameError):
        decompress(bytes(frame))


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from([L2.MODEL_FIXED, L2.MODEL_VARREC]), params=st.binary(max_size=12),
       streams=st.lists(st.binary(max_size=64), max_size=4), out_len=st.integers(0, 300))
def test_legacy_models_hostile_input(model, params, streams, out_len):
    try:
        out = L2.reconstruct(model, bytes([1]) + params, streams, out_len)
    except ValueError:
        return
    assert len(out) == out_len
