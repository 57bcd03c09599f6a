"""LEB128 unsigned varints and a bounds-checked reader used by every header in the container."""
from __future__ import annotations

import operator

from .errors import CorruptFrameError


_ONE_BYTE = [bytes([v]) for v in range(128)]


def encode(value: int) -> bytes:
    if type(value) is int and 0 <= value < 128:     # most header fields of a small frame
        return _ONE_BYTE[value]
    value = operator.index(value)       # numpy integers too; floats are refused
    if value < 0:
        raise ValueError("varint cannot hold a negative value")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Cursor:
    """Reads fields from a buffer; every read past the end is a CorruptFrameError."""

    __slots__ = ("buf", "pos", "what")

    def __init__(self, buf: bytes | memoryview, what: str = "frame"):
        self.buf = memoryview(buf)
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise CorruptFrameError(f"{self.what} is truncated: needs {n} more bytes, has {self.remaining()}")
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def end(self) -> None:
        """Every byte must have been read."""
        if self.remaining():
            raise CorruptFrameError(f"{self.what} has {self.remaining()} trailing bytes")

    def u8(self) -> int:
        pos = self.pos
        if pos >= len(self.buf):
            raise CorruptFrameError(f"{self.what} is truncated: needs 1 more bytes, has 0")
        self.pos = pos + 1
        return self.buf[pos]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def varint(self, limit: int = 1 << 62) -> int:
        buf, pos = self.buf, self.pos      # read in place: a frame's headers hold many varints
        value = shift = 0
        while True:
            if shift > 63:
                self.pos = pos
                raise CorruptFrameError(f"{self.what} has an overlong varint")
            if pos >= len(buf):
                self.pos = pos
                raise CorruptFrameError(f"{self.what} is truncated: needs 1 more bytes, has 0")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        self.pos = pos
        if value > limit:
            raise CorruptFrameError(f"{self.what} declares {value}, above the limit of {limit}")
        return value
