"""The container: file header, frames, optional index; streaming writer and reader.

Memory stays bounded by a few frames whatever the input size: the writer holds one frame
being filled plus the frames in flight on worker threads, the reader likewise.
"""
from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator

from . import profiles, varint
from .dictionary import Dictionary
from .errors import CorruptFrameError
from .frame import KIND_INDEX, MAX_FRAME, MAX_HEADER, SYNC, Stats, decode_frame, encode_frame, parse_header
from .varint import Cursor

MAGIC = b"COBL"
VERSION = 1
FLAG_INDEX = 0x01
INDEX_MAGIC = b"CBIX"
MAX_INDEX_ENTRIES = 1 << 24


def file_header(flags: int = 0) -> bytes:
    return MAGIC + bytes([VERSION, flags, 0, 0])


FILE_HEADER = file_header()          # a container of frames with no index (the mesh's)


def index_frame(entries: list[tuple[int, int]], offset: int) -> bytes:
    """entries: (frame size in bytes, original length) per frame; offset: where it starts."""
    body = bytearray(SYNC)
    body.append(KIND_INDEX)
    body += varint.encode(len(entries))
    for size, orig in entries:
        body += varint.encode(size) + varint.encode(orig)
    body += (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(body) + offset.to_bytes(8, "little") + INDEX_MAGIC


class Writer:
    """Compresses a byte stream into a container written to `out`, frame by frame."""

    def __init__(self, out: BinaryIO, profile: str = "balanced", dictionary: Dictionary | None = None,
                 threads: int = 1, frame_size: int | None = None, index: bool = True,
                 on_frame: Callable[[int, int], None] | None = None, layers=None):
        self.profile = profiles.get(profile, layers)
        self.frame_size = frame_size or self.profile.frame_size
        if not 1 <= self.frame_size <= MAX_FRAME:
            raise ValueError(f"frame size must be between 1 and {MAX_FRAME}")
        self.out = out
        self.dictionary = dictionary
        self.stats = Stats()
        self.on_frame = on_frame
        self.index = index
        self.entries: list[tuple[int, int]] = []
        self.offset = 0
        self.buf = bytearray()
        if threads < 0:
            raise ValueError("threads must be 0 (one per core) or a positive number")
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self.pending: deque = deque()
        self.closed = False
        self._emit(file_header(FLAG_INDEX if index else 0))

    def _emit(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def _encode(self, chunk: bytes):
        stats = Stats()
        d = self.dictionary
        frame = encode_frame(chunk, self.profile, d.content if d else b"", d.id if d else 0, stats)
        return frame, stats, len(chunk)

    def _finish(self, result) -> None:
        frame, stats, n = result
        self.entries.append((len(frame), n))
        self.stats.merge(stats)
        self._emit(frame)
        if self.on_frame:
            self.on_frame(n, len(frame))

    def _submit(self, chunk: bytes) -> None:
        if self.pool is None:
            self._finish(self._encode(chunk))
            return
        self.pending.append(self.pool.submit(self._encode, chunk))
        while len(self.pending) > 2 * self.threads:
            self._finish(self.pending.popleft().result())

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed Writer")
        data = memoryview(data).cast("B")
        at, fs = 0, self.frame_size
        if self.buf:                          # complete the frame begun by earlier writes
            at = min(fs - len(self.buf), len(data))
            self.buf += data[:at]
            if len(self.buf) < fs:
                return len(data)
            self._submit(bytes(self.buf))
            self.buf.clear()
        while len(data) - at >= fs:           # whole frames straight from the caller's buffer
            self._submit(bytes(data[at:at + fs]))
            at += fs
        self.buf += data[at:]
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.buf:
            self._submit(bytes(self.buf))
            self.buf.clear()
        while self.pending:
            self._finish(self.pending.popleft().result())
        if self.pool:
            self.pool.shutdown()
        if self.index:
            self._emit(index_frame(self.entries, self.offset))
        self.stats.bytes_out = self.offset

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        elif self.pool:
            self.pool.shutdown(cancel_futures=True)


class _Input:
    """A read buffer over a file object that may not be seekable (stdin, a socket)."""

    def __init__(self, src: BinaryIO):
        self.src = src
        self.buf = bytearray()
        self.eof = False

    def fill(self, n: int) -> bool:
        while len(self.buf) < n and not self.eof:
            more = self.src.read(max(n - len(self.buf), 1 << 16))
            if not more:
                self.eof = True
            else:
                self.buf += more
        return len(self.buf) >= n

    def take(self, n: int) -> bytes:
        if not self.fill(n):
            raise CorruptFrameError(f"container is truncated: expected {n} more bytes, found {len(self.buf)}")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _read_header(inp: _Input) -> int:
    if not inp.fill(8):
        if not inp.buf:
            raise CorruptFrameError("input is empty: not a Cobol container")
        raise CorruptFrameError("input is too short to be a Cobol container")
    head = inp.take(8)
    if head[:4] != MAGIC:
        raise CorruptFrameError("not a Cobol container (bad magic)")
    if head[4] != VERSION:
        raise CorruptFrameError(f"unsupported container version {head[4]} (this build reads {VERSION})")
    return head[5]


def _read_index(inp: _Input, frames: list[tuple[int, int]], offset: int) -> None:
    # An index closes the container: check it against the frames just read.
    raw = bytearray(inp.take(3))

    def read_varint() -> int:
        value = shift = 0
        while True:
            b = inp.take(1)[0]
            raw.append(b)
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise CorruptFrameError("index has an overlong varint")
    count = read_varint()
    if count != len(frames):
        raise CorruptFrameError(f"index lists {count} frames, the container holds {len(frames)}")
    for size, orig in frames:
        if read_varint() != size or read_varint() != orig:
            raise CorruptFrameError("index disagrees with the frames")
    crc = int.from_bytes(inp.take(4), "little")
    if crc != zlib.crc32(raw) & 0xFFFFFFFF:
        raise CorruptFrameError("index checksum mismatch")
    if int.from_bytes(inp.take(8), "little") != offset or inp.take(4) != INDEX_MAGIC:
        raise CorruptFrameError("container trailer is damaged")
    if inp.fill(1):
        raise CorruptFrameError("unexpected bytes after the container's index")


def _iter_frames(inp: _Input, flags: int) -> Iterator[tuple]:
    """Yields (header, body) for each data frame; validates the index if there is one."""
    offset = 8
    seen: list[tuple[int, int]] = []
    while True:
        if not inp.fill(3):
            if inp.buf:
                raise CorruptFrameError("container is truncated inside a frame header")
            if flags & FLAG_INDEX:
                raise CorruptFrameError("container is truncated: its index is missing")
            return
        if inp.buf[:2] == SYNC and inp.buf[2] == KIND_INDEX:
            _read_index(inp, seen, offset)
            return
        inp.fill(MAX_HEADER)
        header = parse_header(bytes(inp.buf[:MAX_HEADER]))
        inp.take(header.size)
        body = inp.take(header.body_len)
        seen.append((header.size + header.body_len, header.orig_len))
        offset += header.size + header.body_len
        yield header, body


def iter_decode(src: BinaryIO, dictionary: Dictionary | None = None, threads: int = 1) -> Iterator[bytes]:
    """Decodes a container from a readable binary file, yielding each frame's original bytes."""
    inp = _Input(src)
    flags = _read_header(inp)
    content, did = (dictionary.content, dictionary.id) if dictionary else (b"", 0)
    frames = _iter_frames(inp, flags)
    threads = threads if threads > 0 else os.cpu_count() or 1
    if threads <= 1:
        for header, body in frames:
            yield decode_frame(header, body, content, did)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for header, body in frames:
            pending.append(pool.submit(decode_frame, header, body, content, did))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_index(f: BinaryIO) -> list[tuple[int, int, int]]:
    """Random access: (file offset, frame size, original offset) per frame, from the index."""
    f.seek(0)
    if _read_header(_Input(f)) & FLAG_INDEX == 0:
        raise CorruptFrameError("this container has no index")
    f.seek(-12, 2)
    tail = f.read(12)
    if len(tail) != 12 or tail[8:] != INDEX_MAGIC:
        raise CorruptFrameError("container trailer is missing or damaged")
    index_at = int.from_bytes(tail[:8], "little")
    end = f.seek(0, 2)
    if not 8 <= index_at < end - 12:
        raise CorruptFrameError("container trailer points outside the file")
    f.seek(index_at)
    raw = f.read(end - 12 - index_at)
    if raw[:3] != SYNC + bytes([KIND_INDEX]) or zlib.crc32(raw[:-4]) & 0xFFFFFFFF != int.from_bytes(raw[-4:], "little"):
        raise CorruptFrameError("container index is damaged")
    cur = Cursor(raw[3:-4], "index")
    out, pos, orig = [], 8, 0
    for _ in range(cur.varint(MAX_INDEX_ENTRIES)):
        size, n = cur.varint(index_at), cur.varint(MAX_FRAME)
        out.append((pos, size, orig))
        pos += size
        orig += n
    if pos != index_at:
        raise CorruptFrameError("container index does not add up to the file")
    return out


def read_range(f: BinaryIO, start: int, length: int, dictionary: Dictionary | None = None) -> bytes:
    """Decodes only the frames that cover original bytes [start, start + length)."""
    if start < 0 or length < 0:
        raise ValueError("start and length must not be negative")
    content, did = (dictionary.content, dictionary.id) if dictionary else (b"", 0)
    out = bytearray()
    for pos, size, orig in read_index(f):
        f.seek(pos)
        raw = f.read(size)
        header = parse_header(raw[:MAX_HEADER])
        if orig + header.orig_len <= start or orig >= start + length:
            continue
        data = decode_frame(header, raw[header.size:], content, did)
        lo = max(start - orig, 0)
        out += data[lo:start + length - orig]
    return bytes(out)
