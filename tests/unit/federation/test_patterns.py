"""The local phase: a fixed domain, bounded contribution per record; the built dictionary."""
from __future__ import annotations

import numpy as np

from cobol_federation import ids, patterns


def test_one_record_moves_the_vector_by_at_most_clip():
    recs = [b"INFO dfs.DataNode: Receiving block blk_%d src: /10.0.0.%d" % (i, i % 7) for i in range(50)]
    for level, dom in ((0, patterns.Domain(0)), (1, patterns.Domain(1, (b"INFO", b"bloc", b"10.0", b"zzzz")))):
        for clip in (0.5, 1.0, 3.0):
            base = patterns.local_counts(recs, dom, clip, 16)
            plus = patterns.local_counts(recs + [recs[0] * 9], dom, clip, 16)
            delta = (plus - base) / 2**16
            assert np.linalg.norm(delta) <= clip + 1e-12
            assert delta.max() <= 1.0


def test_domain_is_fixed_and_records_are_bounded():
    d = patterns.Domain(0)
    assert d.size == 65536
    hit = d.present(b"abab")
    assert sorted(hit.tolist()) == [0x6162, 0x6261]
    long = b"x" * 5000 + b"\nshort\n\n"
    assert [len(r) for r in patterns.split_records(long)] == [patterns.MAX_RECORD, 5]


def test_next_level_needs_both_halves_and_the_middle():
    found = {b"ab": 10.0, b"bc": 9.0, b"cd": 8.0, b"xy": 7.0}
    dom = patterns.next_domain(0, found, 100)
    assert b"abcd" in dom.candidates          # ab + cd, middle bc survived
    assert b"abxy" not in dom.candidates      # middle bx did not
    assert patterns.next_domain(0, found, 1).size == 1


def test_dictionary_prefers_long_valuable_patterns_and_fits():
    found = {b"GET /index.html HTTP/1.1": 50.0, b"GET ": 60.0, b"HTTP": 55.0, b"rare": 1.0}
    built = patterns.build_dictionary(found, 64)
    texts = [p for p, _, _ in built.patterns]
    assert texts[0] == b"GET /index.html HTTP/1.1"
    assert b"GET " not in texts and b"HTTP" not in texts      # inside a chosen pattern
    assert len(built.content) <= 64 and built.content.endswith(b"GET /index.html HTTP/1.1")
    assert patterns.agreement(built.content, built.patterns) == 1.0
    assert patterns.agreement(b"", built.patterns) == 0.0


def test_frame_dictionary_id_from_the_documented_header():
    import cobol_codec
    d = cobol_codec.Dictionary(b"hello dictionary " * 20)
    frame = cobol_codec.encode_frame(b"hello dictionary hello", "fast", dictionary=d)
    assert ids.frame_dictionary_id(frame) == ids.to_hex(d.id)
    assert ids.frame_dictionary_id(cobol_codec.encode_frame(b"plain", "fast")) == ""
    for bad in (b"", b"xx", b"\xcb\x46\x01"):
        try:
            ids.frame_dictionary_id(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
    for bad in ("", "../etc", "0123456789ABCDEF", "0" * 17, "g" * 16, "é" * 16):
        try:
            ids.parse(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
