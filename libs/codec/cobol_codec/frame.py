"""One container frame: header, body layout, and the layer pipeline that fills the body.

Byte layout: see libs/codec/FORMAT.md. Every length a decoder trusts is checked against
limits derived from the frame's declared original length, so a hostile frame cannot make
the decoder allocate more than a small multiple of MAX_FRAME.
"""
from __future__ import annotations

import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from . import codecs, varint
from .errors import CorruptFrameError, DictionaryError
from .profiles import Profile
from .stages import DECODERS, HUFF, LZ_FAST, Stage
from .varint import Cursor

SYNC = b"\xCB\x46"
KIND_DATA, KIND_INDEX = 1, 2
MAX_FRAME = 32 << 20            # largest original length one frame may declare
MAX_STREAMS = 1 << 16
KIND_BYTES, KIND_INTS = 0, 1
KINDS = {"bytes": KIND_BYTES, "ints": KIND_INTS}
KIND_NAMES = {v: k for k, v in KINDS.items()}
SPLIT_NONE, SPLIT_L1, SPLIT_L2 = 0, 1, 2
MAX_STAGES = 8


@dataclass
class Stats:
    """Bytes in, bytes out and seconds per layer, summed over frames."""
    layers: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0.0]))
    bytes_in: int = 0
    bytes_out: int = 0
    frames: int = 0

    def add(self, name: str, n_in: int, n_out: int, seconds: float) -> None:
        row = self.layers[name]
        row[0] += n_in
        row[1] += n_out
        row[2] += seconds

    def merge(self, other: "Stats") -> None:
        for name, (a, b, c) in other.layers.items():
            self.add(name, a, b, c)
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.frames += other.frames

    def as_dict(self) -> dict:
        return {
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "frames": self.frames,
            "ratio": round(self.bytes_in / self.bytes_out, 4) if self.bytes_out else None,
            "layers": [
                {"layer": name, "bytes_in": a, "bytes_out": b, "seconds": round(c, 6)}
                for name, (a, b, c) in sorted(self.layers.items())
            ],
        }


# ---- encoding ---------------------------------------------------------------------------

def _code_stream(data: bytes, chain: tuple[Stage, ...], dictionary: bytes, rows: list):
    """Runs one chain over a stream: returns (records, payload) where records are the stages
    that ran as (layer id, params, input length); `rows` gets the chain's Stats rows."""
    records = []
    cur = data
    for stage in chain:
        t0 = time.perf_counter()
        res = stage.encode(cur, dictionary)
        dt = time.perf_counter() - t0
        if res is None or len(res[0]) >= len(cur) * stage.keep_below:
            rows.append((stage.name + " (declined)", len(cur), len(cur), dt))
            continue
        payload, params = res
        rows.append((stage.name, len(cur), len(payload), dt))
        records.append((stage.layer, params, len(cur)))
        cur = payload
    return records, cur


# an empty stream: no stage can shrink it (kind, raw_len 0, no stages, payload_len 0)
_EMPTY_STREAM = {kind: bytes([kind, 0, 0, 0]) for kind in KIND_NAMES}


def _encode_stream(kind: int, data: bytes, profile: Profile, dictionary: bytes, stats: Stats) -> bytes:
    if not data:
        return _EMPTY_STREAM[kind]
    chains = profile.ints_chains if kind == KIND_INTS else profile.bytes_chains
    records, payload, best_rows = [], data, None
    for chain in chains:
        rows = []
        r, p = _code_stream(data, chain, dictionary, rows)
        if len(p) < len(payload):
            records, payload, best_rows = r, p, rows
    for row in best_rows or ():
        stats.add(*row)
    out = bytearray([kind])
    out += varint.encode(len(data))
    out.append(len(records))
    for layer, params, n_in in records:
        out.append(layer)
        out += varint.encode(len(params)) + params
        out += varint.encode(n_in)
    out += varint.encode(len(payload)) + payload
    return bytes(out)


def _body(split: int, split_params: bytes, streams, profile: Profile, dictionary: bytes, stats: Stats) -> bytes:
    out = bytearray([split])
    out += varint.encode(len(split_params)) + split_params
    out += varint.encode(len(streams))
    for kind_name, payload in streams:
        out += _encode_stream(KINDS[kind_name], payload, profile, dictionary, stats)
    return bytes(out)


def _split(data: bytes, profile: Profile, stats: Stats, hint: tuple | None = None):
    """Asks L2, then L1, for a split of the frame into homogeneous streams. `hint` is the
    split a sample of this frame chose, (split kind, L2 model or None): only that model's
    analysis then runs on the whole frame."""
    kind, model = hint if hint is not None else (None, None)
    if profile.use_l2 and kind in (None, SPLIT_L2):
        t0 = time.perf_counter()
        res = codecs.load(2).analyze(data, model)
        stats.add("L2 structure" if res else "L2 structure (declined)", len(data),
                  sum(len(s[1]) for s in res[2]) if res else len(data), time.perf_counter() - t0)
        if res is not None:
            model, params, streams = res
            return SPLIT_L2, bytes([model]) + params, streams
    if profile.use_l1 and kind in (None, SPLIT_L1):
        t0 = time.perf_counter()
        res = codecs.load(1).split_tokens(data)
        stats.add("L1 tokens" if res else "L1 tokens (declined)", len(data),
                  sum(len(s[1]) for s in res[1]) if res else len(data), time.perf_counter() - t0)
        if res is not None:
            params, streams = res
            return SPLIT_L1, params, streams
    return None


NOISE_BITS = 7.97     # order-0 entropy (bits/byte) above which a frame is treated as noise


def order0_bits(data: bytes) -> float:
    """Order-0 entropy of the bytes, in bits per byte."""
    counts = np.bincount(np.frombuffer(data, np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum())


SAMPLE = 64 << 10        # bytes on which a large frame's structure decision is estimated
MAX_EXACT = 16 << 10     # `max` codes frames up to this size both ways; above, it estimates
MAY_PAY = 1.03           # fast/balanced: a split within 3% of the whole frame on the sample may still pay
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\r\n"


def _sample(data: bytes, size: int = SAMPLE) -> bytes:
    """A slice of the frame to estimate on: text lines from the head, cut after a newline (a
    CSV header and whole lines stay in); binary data from the middle, because the head of a
    binary file is often a header unlike its records."""
    if len(data) <= size:
        return data
    head = data[:size]
    cut = head.rfind(b"\n")
    text = len(head.translate(None, _TEXT_BYTES)) < len(head) // 10      # >= 90% printable
    if text and cut >= size // 2:
        return head[:cut + 1]
    mid = (len(data) - size) // 2
    return data[mid:mid + size]


def _whole(data: bytes, profile: Profile, dictionary: bytes, stats: Stats) -> bytes:
    return _body(SPLIT_NONE, b"", [("bytes", data)], profile, dictionary, stats)


def _split_body(data: bytes, profile: Profile, dictionary: bytes, stats: Stats, hint=None):
    """(body, (split kind, L2 model)) or None when no structure layer splits the frame."""
    split = _split(data, profile, stats, hint)
    if split is None:
        return None
    model = split[1][0] if split[0] == SPLIT_L2 else None
    return _body(split[0], split[1], split[2], profile, dictionary, stats), (split[0], model)


def _estimate(data: bytes, size: int, profile: Profile, dictionary: bytes, stats: Stats):
    """Codes a sample of the frame split and whole: (split size / whole size, the split's
    hint) or None when nothing splits the sample. Its cost is charged to its own Stats row."""
    t0 = time.perf_counter()
    sample = _sample(data, size)
    trial = Stats()
    split = _split_body(sample, profile, dictionary, trial)
    res = None
    if split is not None:
        res = len(split[0]) / len(_whole(sample, profile, dictionary, trial)), split[1]
    stats.add("structure estimate (sample)", len(sample), len(sample), time.perf_counter() - t0)
    return res


def encode_body(data: bytes, profile: Profile, dictionary: bytes, stats: Stats) -> bytes:
    """The smallest body this profile can make cheaply, never coding a frame worse than the
    same profile with L1 and L2 off where it codes both ways, and deciding by a sample where
    that would cost too much:

    - fast / balanced (whole path = matching + Huffman, cheap, and the only one that sees
      long-range repeats): frames up to SAMPLE are coded both ways, the smaller kept. Larger
      frames are always coded whole; the split runs on the whole frame only when it came
      within MAY_PAY of the whole on a sample, and then only the L2 model (or L1) the sample
      chose; the smaller body is kept.
    - max (context mixing, costly): frames up to MAX_EXACT both ways; larger ones code one
      path, chosen on a sample (SAMPLE bytes, or MAX_EXACT for frames up to SAMPLE).
    """
    stored = _body(SPLIT_NONE, b"", [("bytes", data)], _STORE, b"", Stats())
    if not data:
        return stored
    candidates = [stored]
    if len(data) >= 4096 and profile.try_unsplit and order0_bits(data) > NOISE_BITS:
        # Random or already-compressed bytes: context mixing cannot win here and costs
        # seconds per MiB; matching still catches repeats at hundreds of MB/s.
        candidates.append(_whole(data, _NOISE.restrict(profile.layers), dictionary, stats))
        return min(candidates, key=len)
    structure = profile.use_l1 or profile.use_l2
    exact = len(data) <= (SAMPLE if not profile.try_unsplit else MAX_EXACT)
    if not structure or exact:
        candidates.append(_whole(data, profile, dictionary, stats))
        if structure:
            split = _split_body(data, profile, dictionary, stats)
            if split is not None:
                candidates.append(split[0])
        return min(candidates, key=len)
    est = _estimate(data, SAMPLE if len(data) > SAMPLE else MAX_EXACT, profile, dictionary, stats)
    if not profile.try_unsplit:
        candidates.append(_whole(data, profile, dictionary, stats))
        if est is not None and est[0] < MAY_PAY:
            split = _split_body(data, profile, dictionary, stats, est[1])
            if split is not None:
                candidates.append(split[0])
        return min(candidates, key=len)
    if est is not None and est[0] < 1.0:
        split = _split_body(data, profile, dictionary, stats, est[1])
        if split is not None:
            candidates.append(split[0])
            return min(candidates, key=len)
    candidates.append(_whole(data, profile, dictionary, stats))
    return min(candidates, key=len)


_STORE = Profile("store", 0, False, False, False, ((),), ((),))
_NOISE = Profile("noise", 0, False, False, False, ((LZ_FAST, HUFF),), ((),))


def encode_frame(data: bytes, profile: Profile, dictionary: bytes = b"", dict_id: int = 0,
                 stats: Stats | None = None) -> bytes:
    if len(data) > MAX_FRAME:
        raise ValueError(f"a frame holds at most {MAX_FRAME} bytes, got {len(data)}")
    stats = stats if stats is not None else Stats()
    body = encode_body(bytes(data), profile, dictionary, stats)
    head = bytearray(SYNC)
    head.append(KIND_DATA)
    head += varint.encode(len(data))
    head += varint.encode(len(body))
    head += (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little")
    head += dict_id.to_bytes(8, "little")
    head += (zlib.crc32(head) & 0xFFFFFFFF).to_bytes(4, "little")
    stats.bytes_in += len(data)
    stats.bytes_out += len(head) + len(body)
    stats.frames += 1
    return bytes(head) + body


# ---- decoding ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FrameHeader:
    kind: int
    orig_len: int
    body_len: int
    crc: int
    dict_id: int
    size: int           # bytes of the header itself


MAX_HEADER = 2 + 1 + 10 + 10 + 4 + 8 + 4


def parse_header(buf: bytes) -> FrameHeader:
    """Parses a data frame header from the start of `buf` (which may hold more)."""
    cur = Cursor(buf, "frame header")
    if cur.take(2) != SYNC:
        raise CorruptFrameError("frame does not start with the frame marker (not a Cobol frame, or misaligned)")
    kind = cur.u8()
    if kind != KIND_DATA:
        raise CorruptFrameError(f"unexpected frame kind {kind}")
    orig_len = cur.varint(MAX_FRAME)
    body_len = cur.varint(orig_len + 64 + orig_len // 64)
    crc = cur.u32()
    dict_id = cur.u64()
    end = cur.pos
    if cur.u32() != zlib.crc32(bytes(cur.buf[:end])) & 0xFFFFFFFF:
        raise CorruptFrameError("frame header checksum mismatch")
    return FrameHeader(kind, orig_len, body_len, crc, dict_id, cur.pos)


def _decode_stream(cur: Cursor, orig_len: int, dictionary: bytes) -> tuple[int, bytes]:
    limit = 8 * orig_len + 1024
    kind = cur.u8()
    if kind not in KIND_NAMES:
        raise CorruptFrameError(f"unknown stream kind {kind}")
    raw_len = cur.varint(limit)
    n_stages = cur.u8()
    if n_stages > MAX_STAGES:
        raise CorruptFrameError(f"stream declares {n_stages} stages")
    stages = []
    for _ in range(n_stages):
        layer = cur.u8()
        if layer not in DECODERS:
            raise CorruptFrameError(f"unknown layer id {layer}")
        params = cur.take(cur.varint(64))
        stages.append((layer, params, cur.varint(limit)))
    payload = cur.take(cur.varint(cur.remaining()))
    if stages and stages[0][2] != raw_len:
        raise CorruptFrameError("stream length disagrees with its first stage")
    data = payload
    for layer, params, n_in in reversed(stages):
        try:
            data = DECODERS[layer].decode(data, params, n_in, dictionary)
        except CorruptFrameError:
            raise
        except (ValueError, IndexError, OverflowError, MemoryError) as exc:
            raise CorruptFrameError(f"layer L{layer} refused the frame: {exc}") from exc
        if len(data) != n_in:
            raise CorruptFrameError(f"layer L{layer} produced {len(data)} bytes, expected {n_in}")
    if len(data) != raw_len:
        raise CorruptFrameError("stream length mismatch")
    return kind, data


def decode_body(body: bytes, orig_len: int, dictionary: bytes) -> bytes:
    cur = Cursor(body, "frame body")
    split = cur.u8()
    params = cur.take(cur.varint(orig_len + 1024))
    n = cur.varint(MAX_STREAMS)
    streams = [_decode_stream(cur, orig_len, dictionary)[1] for _ in range(n)]
    if cur.remaining():
        raise CorruptFrameError("frame body has trailing bytes")
    try:
        if split == SPLIT_NONE:
            if n != 1:
                raise CorruptFrameError("an unsplit frame must have exactly one stream")
            return streams[0]
        if split == SPLIT_L2:
            if not params:
                raise CorruptFrameError("L2 parameters are missing")
            return codecs.load(2).reconstruct(params[0], params[1:], streams, orig_len)
        if split == SPLIT_L1:
            return codecs.load(1).join_tokens(params, streams, orig_len)
    except CorruptFrameError:
        raise
    except (ValueError, IndexError, OverflowError, MemoryError, TypeError) as exc:
        raise CorruptFrameError(f"structure layer L{split} refused the frame: {exc}") from exc
    raise CorruptFrameError(f"unknown structure layer {split}")


def decode_frame(header: FrameHeader, body: bytes, dictionary: bytes = b"", dict_id: int = 0) -> bytes:
    if header.dict_id and header.dict_id != dict_id:
        if not dict_id:
            raise DictionaryError(f"this frame needs dictionary {header.dict_id:016x}; pass it with --dict")
        raise DictionaryError(f"this frame needs dictionary {header.dict_id:016x}, but {dict_id:016x} was given")
    out = decode_body(body, header.orig_len, dictionary if header.dict_id else b"")
    if len(out) != header.orig_len:
        raise CorruptFrameError(f"frame decoded to {len(out)} bytes, header says {header.orig_len}")
    if zlib.crc32(out) & 0xFFFFFFFF != header.crc:
        raise CorruptFrameError("frame checksum mismatch: the data is damaged")
    return out
