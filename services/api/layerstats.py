"""Per-layer statistics of a job's result container, read from the frames' own records.

Each frame's body lists its streams and, per stream, the coding stages that ran (layer id,
bytes into the stage); the last stage's output is the stored payload. Summing these over the
frames gives what each layer took in and gave out, without decoding any data. The byte layout
is libs/codec/FORMAT.md; the parsing uses the codec's own cursor, header parser and limits.
"""
from __future__ import annotations

from collections import defaultdict

from cobol_codec.container import MAGIC
from cobol_codec.errors import CorruptFrameError
from cobol_codec.frame import KIND_INDEX, MAX_HEADER, MAX_STAGES, MAX_STREAMS, SYNC, parse_header
from cobol_codec.varint import Cursor

SPLIT_NAMES = {0: "none", 1: "L1", 2: "L2"}


class LayerCounter:
    """Feed the container's bytes in any pieces; read ``result()`` at the end."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.header_seen = False
        self.done = False
        self.frames = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.layers: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])   # streams, in, out

    def feed(self, data: bytes) -> None:
        if not self.done:
            self.buf += data
            self._parse(final=False)

    def finish(self) -> dict:
        """The totals; raises CorruptFrameError when the container ended inside a frame."""
        self._parse(final=True)
        if not self.header_seen or (self.buf and not self.done):
            raise CorruptFrameError("the container is truncated")
        return self.result()

    def _parse(self, final: bool) -> None:
        if not self.header_seen:
            if len(self.buf) < 8:
                return
            if bytes(self.buf[:4]) != MAGIC:
                raise CorruptFrameError("not a Cobol container")
            del self.buf[:8]
            self.header_seen = True
        while len(self.buf) >= 3 and not self.done:
            if bytes(self.buf[:2]) == SYNC and self.buf[2] == KIND_INDEX:
                self.done = True       # the index closes the container
                return
            try:
                header = parse_header(bytes(self.buf[:MAX_HEADER]))
            except CorruptFrameError:
                if len(self.buf) < MAX_HEADER and not final:
                    return          # the header is not all here yet
                raise
            need = header.size + header.body_len
            if len(self.buf) < need:
                return
            self._frame(bytes(self.buf[header.size:need]), header.orig_len)
            self.bytes_in += header.orig_len
            self.bytes_out += need
            self.frames += 1
            del self.buf[:need]

    def _frame(self, body: bytes, orig_len: int) -> None:
        cur = Cursor(body, "frame body")
        split = cur.u8()
        cur.take(cur.varint(orig_len + 1024))
        n = cur.varint(MAX_STREAMS)
        if split in (1, 2):
            row = self.layers[SPLIT_NAMES[split]]
            row[0] += n
            row[1] += orig_len
        split_out = 0
        for _ in range(n):
            cur.u8()
            raw_len = cur.varint(8 * orig_len + 1024)
            n_stages = cur.u8()
            if n_stages > MAX_STAGES:
                raise CorruptFrameError(f"stream declares {n_stages} stages")
            stages = []
            for _ in range(n_stages):
                layer = cur.u8()
                cur.take(cur.varint(64))
                stages.append((layer, cur.varint(8 * orig_len + 1024)))
            payload = cur.varint(cur.remaining())
            cur.take(payload)
            split_out += raw_len
            for i, (layer, n_in) in enumerate(stages):
                n_out = stages[i + 1][1] if i + 1 < len(stages) else payload
                row = self.layers[f"L{layer}"]
                row[0] += 1
                row[1] += n_in
                row[2] += n_out
        if split in (1, 2):
            self.layers[SPLIT_NAMES[split]][2] += split_out

    def result(self) -> dict:
        return {"frames": self.frames, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "layers": [{"layer": k, "streams": v[0], "bytes_in": v[1], "bytes_out": v[2]}
                           for k, v in sorted(self.layers.items())]}
