"""Trained dictionaries: content learned from samples, named by a hash of that content.

File layout: magic b"CBDC", version 1, varint content length, content, CRC-32 of content.
The id is the first 8 bytes of SHA-256(content) read little-endian (never 0: 0 means "no
dictionary" in a frame header).
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import varint
from .errors import DictionaryError
from .varint import Cursor

MAGIC = b"CBDC"
VERSION = 1
MAX_CONTENT = 16 << 20


def content_id(content: bytes) -> int:
    return int.from_bytes(hashlib.sha256(content).digest()[:8], "little") or 1


@dataclass(frozen=True)
class Dictionary:
    content: bytes

    @cached_property
    def id(self) -> int:
        """Computed once per dictionary (a SHA-256 of up to 16 MiB, read on every frame)."""
        return content_id(self.content)

    def to_bytes(self) -> bytes:
        return (MAGIC + bytes([VERSION]) + varint.encode(len(self.content)) + self.content
                + (zlib.crc32(self.content) & 0xFFFFFFFF).to_bytes(4, "little"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Dictionary":
        try:
            cur = Cursor(raw, "dictionary")
            if cur.take(4) != MAGIC:
                raise DictionaryError("not a Cobol dictionary (bad magic)")
            if cur.u8() != VERSION:
                raise DictionaryError("unsupported dictionary version")
            content = cur.take(cur.varint(MAX_CONTENT))
            crc = cur.u32()
        except DictionaryError:
            raise
        except ValueError as exc:
            raise DictionaryError(f"dictionary file is damaged: {exc}") from exc
        if zlib.crc32(content) & 0xFFFFFFFF != crc or cur.remaining():
            raise DictionaryError("dictionary file is damaged (checksum mismatch)")
        return cls(content)

    @classmethod
    def load(cls, path: str | Path) -> "Dictionary":
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise DictionaryError(f"cannot read dictionary {path}: {exc.strerror}") from exc
        return cls.from_bytes(raw)


def train(samples: list[bytes], size: int = 64 << 10) -> Dictionary:
    """Learns a dictionary of at most `size` bytes from samples (cobol_codec.dictbuilder)."""
    if not samples or not any(samples):
        raise DictionaryError("no sample data to train on")
    if not 256 <= size <= MAX_CONTENT:
        raise DictionaryError(f"dictionary size must be between 256 bytes and {MAX_CONTENT} bytes")
    from .dictbuilder import train_patterns     # compiled: imported on first use
    content = train_patterns([bytes(s) for s in samples if s], size)
    if not content:
        raise DictionaryError("the samples hold no recurring patterns to learn")
    return Dictionary(bytes(content))
