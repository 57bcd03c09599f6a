"""Cobol Protocol's codec: seven Cython layers (L1–L7) behind a streaming container.

Bytes in, bytes out:
    >>> blob = compress(data, profile="max")
    >>> decompress(blob) == data
Streaming: `Writer(fileobj, ...)` and `iter_decode(fileobj)`; the mesh uses `encode_frame`
(one self-contained frame per chunk) and `FILE_HEADER` to assemble containers.
"""
from __future__ import annotations

import io

import os

from . import profiles
from .container import FILE_HEADER, Writer, iter_decode, read_index, read_range
from .dictionary import Dictionary, train
from .errors import CodecError, CorruptFrameError, DictionaryError
from .frame import Stats
from .frame import encode_frame as _encode_frame
from .profiles import parse_layers

__all__ = [
    "FILE_HEADER", "Writer", "iter_decode", "read_index", "read_range", "Dictionary", "train",
    "CodecError", "CorruptFrameError", "DictionaryError", "Stats", "compress", "decompress",
    "encode_frame", "PROFILES", "parse_layers", "resolve_threads",
]

PROFILES = tuple(profiles.PROFILES)


def resolve_threads(threads: int) -> int:
    """`threads` as given by a user: 0 means one per core; negative is an error."""
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise ValueError(f"threads must be 0 (one per core) or a positive number, got {threads!r}")
    return threads or os.cpu_count() or 1


def compress(data: bytes, profile: str = "balanced", dictionary: Dictionary | None = None,
             threads: int = 1, stats: Stats | None = None, layers=None) -> bytes:
    """`layers`: None (all the profile uses), text such as "1-4", or a set of layer numbers.
    With several threads an input smaller than threads x the profile's frame size is cut into
    one frame per thread (at least 1 MiB each), so every profile spreads over the cores."""
    threads = resolve_threads(threads)
    out = io.BytesIO()
    with Writer(out, profile, dictionary, threads=threads, layers=layers,
                frame_size=profiles.frame_size_for(profile, len(data), threads)) as w:
        w.write(data)
    if stats is not None:
        stats.merge(w.stats)
    return out.getvalue()


def decompress(blob: bytes, dictionary: Dictionary | None = None, threads: int = 1) -> bytes:
    return b"".join(iter_decode(io.BytesIO(blob), dictionary, resolve_threads(threads)))


def encode_frame(data: bytes, profile: str = "fast", dictionary: Dictionary | None = None,
                 stats: Stats | None = None, layers=None) -> bytes:
    """One self-contained frame; FILE_HEADER followed by such frames is a valid container.
    `layers` as for `compress`."""
    d = dictionary
    return _encode_frame(bytes(data), profiles.get(profile, layers), d.content if d else b"", d.id if d else 0, stats)
