"""The codec's layout: one folder per codec with a spec, a registry keyed by layer id and
format version, one varint / error convention shared by every codec (common.pxd), and no
import of the mesh from the codec."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cobol_codec import CorruptFrameError, codecs, compress, decompress
from cobol_codec.codecs.bitpack import bitpack
from cobol_codec.codecs.match import match
from cobol_codec.codecs.rle import rle

CODEC_DIR = Path(codecs.__file__).parent
PACKAGE = CODEC_DIR.parent


def test_every_layer_has_a_registered_codec_folder_with_a_spec():
    assert sorted(layer for layer, _version in codecs.REGISTRY) == list(range(1, 8))
    for (layer, version), entry in codecs.REGISTRY.items():
        assert entry.layer == layer and version == codecs.FORMAT_VERSION
        folder = CODEC_DIR / entry.name
        assert (folder / "spec.md").is_file(), folder
        mod = codecs.load(layer, version)
        # codecs/<name>/ under the package: here, or in the instrumented copy `make coverage` loads
        where = Path(mod.__file__).resolve().parent
        assert (where.parent.name, where.name) == ("codecs", entry.name), (layer, mod.__file__)


def test_unknown_layer_or_version_is_a_corrupt_frame():
    with pytest.raises(CorruptFrameError, match="no codec for layer id 9"):
        codecs.load(9)
    with pytest.raises(CorruptFrameError, match="format version 2"):
        codecs.load(3, 2)


def test_each_structure_model_is_its_own_module():
    names = {p.stem for p in (CODEC_DIR / "structure").glob("*.pyx")}
    assert {"logs", "delimited", "records", "legacy_records"} <= names


def _imports(path: Path) -> set[str]:
    text = path.read_text()
    if path.suffix == ".py":
        out = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
        return out
    return set(re.findall(r"^\s*(?:from|c?import)\s+([\w.]+)", text, re.M))


def test_the_codec_imports_nothing_from_the_mesh():
    sources = [p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx", ".pxd")]
    assert len(sources) > 20
    for path in sources:
        bad = {m for m in _imports(path) if m.split(".")[0] in ("cobol_mesh", "cobol_proto", "services")}
        assert not bad, f"{path} imports {bad}"
    # and at run time: importing every codec module pulls in no mesh module
    code = ("import sys, cobol_codec, cobol_codec.cli, cobol_codec.dictbuilder\n"
            "from cobol_codec import codecs\n"
            "[codecs.load(i) for i in range(1, 8)]\n"
            "print(sorted(m for m in sys.modules if m.startswith(('cobol_mesh', 'cobol_proto'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_mesh_adds_its_commands_through_the_entry_point():
    import argparse
    from cobol_codec.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"compress", "decompress", "submit", "status", "fetch"} <= set(sub.choices)


# ---- one varint reader (common.pxd): canonical, bounded ----------------------------------------

def test_rle_refuses_a_non_canonical_varint():
    good = rle.rle_encode(b"ab" * 40 + b"xyz" + b"\x00" * 50)
    assert good is not None and rle.rle_decode(good, 133) == b"ab" * 40 + b"xyz" + b"\x00" * 50
    k = good[0]                       # the catalog size, one byte: spell it in two
    assert k < 0x80
    with pytest.raises(CorruptFrameError, match="L5 RLE"):
        rle.rle_decode(bytes([k | 0x80, 0]) + good[1:], 133)


def test_bitpack_refuses_a_non_canonical_base():
    values = b"".join((1000 + i).to_bytes(8, "little") for i in range(10))
    good = bitpack.bitpack_encode(values)
    assert bitpack.bitpack_decode(good, 10) == values
    # the first block's base varint (1000 zigzagged = 2000: two bytes) padded to three
    assert good[:2] == bytes([2000 & 0x7F | 0x80, 2000 >> 7])
    with pytest.raises(CorruptFrameError, match="L4 bit-packing: payload truncated"):
        bitpack.bitpack_decode(bytes([good[0], good[1] | 0x80, 0]) + good[2:], 10)


def _l6_payload(nseq_bytes: bytes) -> bytes:
    return b"\x01" + nseq_bytes + b"\x04\x00" + b"abcd" + bytes([4, 3 + 4, 4])


def test_match_refuses_non_canonical_and_overlong_varints():
    assert match.lz_decode(_l6_payload(b"\x01"), 12) == b"abcd" * 3
    with pytest.raises(CorruptFrameError, match="L6 match: .*not canonical"):
        match.lz_decode(_l6_payload(b"\x81\x00"), 12)
    with pytest.raises(CorruptFrameError, match="L6 match: .*overlong"):
        match.lz_decode(_l6_payload(b"\x81\x80\x80\x80\x80\x80\x00"), 12)
    with pytest.raises(CorruptFrameError, match="L6 match: payload is truncated"):
        match.lz_decode(b"\x01\x81", 12)


def test_every_codec_names_itself_in_its_errors():
    blob = bytearray(compress(b"timestamp=1700000000 level=INFO user=42 msg=hello\n" * 200, "fast"))
    blob[-3] ^= 0x55
    with pytest.raises(CorruptFrameError):
        decompress(bytes(blob))
    for fn, args, name in ((rle.rle_decode, (b"\x00", 5), "L5 RLE"),
                           (bitpack.bitpack_decode, (b"\x00", 1), "L4 bit-packing"),
                           (match.lz_decode, (b"\x07", 1), "L6 match")):
        with pytest.raises(CorruptFrameError, match=name):
            fn(*args)
