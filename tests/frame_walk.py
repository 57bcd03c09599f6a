"""Reads what a container's frames recorded (split, L2 model, stages), for tests that check
which layers and coders an encoder wrote (importable by every test: pythonpath = tests)."""
from __future__ import annotations

from cobol_codec.varint import Cursor


def walk(blob: bytes, header: bool = True) -> list[tuple[int, int | None, list[tuple[int, bytes]]]]:
    """(split, l2 model, [(layer, params)...]) for every data frame of a version-1 container
    (`header=False`: frames without the 8-byte file header)."""
    cur = Cursor(blob[8:] if header else blob, "container")
    out = []
    while cur.remaining() > 12:
        if bytes(cur.buf[cur.pos:cur.pos + 3]) == b"\xcb\x46\x02":
            break                                   # the index
        cur.take(3)
        cur.varint()
        body_len = cur.varint()
        cur.take(16)
        body = Cursor(cur.take(body_len), "body")
        split = body.u8()
        params = body.take(body.varint())
        stages = []
        for _ in range(body.varint()):
            body.u8()
            body.varint()
            for _ in range(body.u8()):
                layer = body.u8()
                stages.append((layer, bytes(body.take(body.varint()))))
                body.varint()
            body.take(body.varint())
        out.append((split, params[0] if split == 2 and params else None, stages))
    return out
