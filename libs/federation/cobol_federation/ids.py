"""Dictionary ids on the wire: 16 lower-case hex digits of the codec's 64-bit content id."""
from __future__ import annotations

import re

HEX_ID = re.compile(r"^[0-9a-f]{16}$")
FRAME_SYNC = b"\xcb\x46"


def to_hex(dictionary_id: int) -> str:
    return f"{dictionary_id:016x}" if dictionary_id else ""


def parse(text: str) -> int:
    """The int id of a wire id; ValueError with a clear message for anything else."""
    if not isinstance(text, str) or not HEX_ID.fullmatch(text):
        raise ValueError("a dictionary id is 16 lower-case hex digits")
    return int(text, 16)


def frame_dictionary_id(frame: bytes) -> str:
    """The dictionary id a container frame names, from the header layout documented in
    libs/codec/FORMAT.md (sync, kind, two varints, crc32, dict_id u64 LE); "" for none."""
    b = bytes(frame[:40])
    if b[:2] != FRAME_SYNC or len(b) < 3:
        raise ValueError("not a Cobol frame")
    pos = 3
    for _ in range(2):
        for _ in range(10):
            if pos >= len(b):
                raise ValueError("truncated frame header")
            pos += 1
            if not b[pos - 1] & 0x80:
                break
        else:
            raise ValueError("malformed varint in frame header")
    pos += 4
    if pos + 8 > len(b):
        raise ValueError("truncated frame header")
    return to_hex(int.from_bytes(b[pos:pos + 8], "little"))
