"""Containers written by earlier versions of the codec keep decoding byte-exact.

tests/unit/codec/golden/v1 was written by the code of the first container format
(generate.py beside it says how); a format change adds a folder, never rewrites one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import cobol_codec
from cobol_codec import Dictionary
from frame_walk import walk

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
CASES = [(v, entry) for v in VERSIONS for entry in json.loads((v / "manifest.json").read_text())]


@pytest.mark.parametrize("version,entry", CASES, ids=[f"{v.name}/{e['file']}" for v, e in CASES])
def test_golden_decodes_byte_exact(version, entry):
    blob = (version / entry["file"]).read_bytes()
    original = (version / "inputs" / entry["input"]).read_bytes()
    assert hashlib.sha256(original).hexdigest() == entry["sha256"]
    d = Dictionary.from_bytes((version / "dict.cbdc").read_bytes()) if entry["dict"] else None
    assert cobol_codec.decompress(blob, d) == original
    assert cobol_codec.decompress(blob, d, threads=2) == original


def test_golden_needs_its_dictionary():
    v1 = GOLDEN / "v1"
    blob = (v1 / "log-max-dict.cobol").read_bytes()
    with pytest.raises(cobol_codec.DictionaryError):
        cobol_codec.decompress(blob)


def test_golden_set_covers_every_layer_and_model():
    seen_split, seen_models, seen_layers, seen_coders = set(), set(), set(), set()
    for version, entry in CASES:
        for split, model, stages in walk((version / entry["file"]).read_bytes()):
            seen_split.add(split)
            seen_models.add(model)
            for layer, params in stages:
                seen_layers.add(layer)
                if layer == 7:
                    seen_coders.add(params[0])
    assert {0, 1, 2} <= seen_split
    assert {1, 2, 6} <= seen_models        # log templates, CSV columns, records
    # L3 is absent: the first format's encoder never kept it (its output is as long as its
    # input, and a stage had to shrink the stream); the decoder path is tested in test_l3_delta.
    assert {4, 5, 6, 7} <= seen_layers
    assert {2, 3} <= seen_coders           # context mixing, Huffman per L6 sub-stream


def test_golden_l7v2_pins_the_compact_huffman_coders():
    """golden/v1-l7v2 (session 16's encoder) holds frames of L7 coders 4 and 5, and no coder 3."""
    coders = set()
    for entry in json.loads((GOLDEN / "v1-l7v2" / "manifest.json").read_text()):
        for _split, _model, stages in walk((GOLDEN / "v1-l7v2" / entry["file"]).read_bytes()):
            coders |= {params[0] for layer, params in stages if layer == 7}
    assert {4, 5} <= coders and 3 not in coders
