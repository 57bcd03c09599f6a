"""Cobol Protocol's codec: seven Cython layers (L1–L7) behind a streaming container.

Bytes in, bytes out:
    >>> blob = compress(data, profile="max")
    >>> decompress(blob) == data
Streaming: `Writer(fileobj, ...)` and `iter_decode(fileobj)`; the mesh uses `encode_frame`
(one self-contained frame per chunk) and `FILE_HEADER` to assemble containers.
"""
from __future__ import annotations

import io

from . import profiles
from .container import FILE_HEADER, Writer, iter_decode, read_index, read_range
from .dictionary import Dictionary, train
from .errors import CodecError, CorruptFrameError, DictionaryError
from .frame import Stats
from .frame import encode_frame as _encode_frame

__all__ = [
    "FILE_HEADER", "Writer", "iter_decode", "read_index", "read_range", "Dictionary", "train",
    "CodecError", "CorruptFrameError", "DictionaryError", "Stats", "compress", "decompress",
    "encode_frame", "PROFILES",
]

PROFILES = tuple(profiles.PROFILES)


def compress(data: bytes, profile: str = "balanced", dictionary: Dictionary | None = None,
             threads: int = 1, stats: Stats | None = None) -> bytes:
    out = io.BytesIO()
    with Writer(out, profile, dictionary, threads=threads) as w:
        w.write(data)
    if stats is not None:
        stats.merge(w.stats)
    return out.getvalue()


def decompress(blob: bytes, dictionary: Dictionary | None = None, threads: int = 1) -> bytes:
    return b"".join(iter_decode(io.BytesIO(blob), dictionary, threads))


def encode_frame(data: bytes, profile: str = "fast", dictionary: Dictionary | None = None,
                 stats: Stats | None = None) -> bytes:
    """One self-contained frame; FILE_HEADER followed by such frames is a valid container."""
    d = dictionary
    return _encode_frame(bytes(data), profiles.get(profile), d.content if d else b"", d.id if d else 0, stats)
