"""Every profile restores every input exactly: generated edge cases and the real corpora."""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cobol_codec
from cobol_codec import compress, decompress
from corpora import corpus_files

PROFILES = ["fast", "balanced", "max"]


def _text_lines(n: int, seed: int, newline: bytes = b"\n") -> bytes:
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        lines.append(b"2024-01-%02d 10:%02d:%02d INFO worker-%d processed %d items in %d ms"
                     % (1 + i % 28, i % 60, (i * 7) % 60, rnd.randrange(8), rnd.randrange(1000), rnd.randrange(50)))
    return newline.join(lines) + newline


EDGE_CASES = {
    "empty": b"",
    "one byte": b"x",
    "one zero": b"\0",
    "long run": b"a" * 1_000_000,
    "zero run": bytes(3_000_000),
    "random": os.urandom(300_000),
    "mixed text and binary": _text_lines(2000, 1) + os.urandom(50_000) + _text_lines(500, 2),
    "crlf": _text_lines(3000, 3, b"\r\n"),
    "no final newline": _text_lines(100, 4)[:-1],
    "utf8": ("Zürich → 東京 — naïve café 🚀 " * 5000).encode(),
    "ebcdic": ("CUSTOMER 000123 SMITH      JOHN      00012345 " * 4000).encode("cp037"),
    "one huge line": b"x=" + b",".join(str(i).encode() for i in range(400_000)),
    "csv": b"timestamp,value\n" + b"".join(b"2014-02-%02d %02d:%02d:00,%d.%d\n" % (1 + i // 1440 % 28, i // 60 % 24, i % 60, 40 + i % 17, i % 10) for i in range(30_000)),
    "frame boundary": os.urandom(1 << 20) + b"tail",
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_round_trip(name, profile):
    data = EDGE_CASES[name]
    assert decompress(compress(data, profile)) == data


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(
    st.binary(max_size=5000),
    st.text(max_size=3000).map(lambda s: s.encode("utf-8")),
    st.lists(st.sampled_from([b"GET /a 200", b"\r\n", b"\n", b"12345", b" ", b"\xff\x00", b"ERR"]), max_size=400).map(b"".join),
))
def test_hypothesis_round_trip(profile, data):
    assert decompress(compress(data, profile)) == data


@pytest.mark.timeout(2400)     # max codes ~25 MB at ~0.5 MB/s: minutes, more on a shared machine
@pytest.mark.parametrize("profile", PROFILES)
def test_every_corpus_file_round_trips(corpora, profile):
    files = corpus_files()
    assert len(files) > 50
    for path in files:
        data = path.read_bytes()
        blob = compress(data, profile)
        assert decompress(blob) == data, path


def test_random_bytes_barely_grow():
    data = os.urandom(4 << 20)
    for profile in PROFILES:
        blob = compress(data, profile)
        frames = -(-len(data) // cobol_codec.profiles.get(profile).frame_size)
        # 0.1% of the input plus a header per frame and the container's own bytes.
        assert len(blob) <= len(data) * 1.001 + 64 * frames + 64, profile


def test_all_seven_layers_are_built():
    from cobol_codec import codecs
    for layer_id in range(1, 8):
        assert codecs.load(layer_id) is not None


@pytest.mark.parametrize("profile", PROFILES)
def test_structured_data_beats_zlib(profile):
    import zlib
    data = EDGE_CASES["csv"]
    assert len(compress(data, profile)) < len(zlib.compress(data, 9))


def test_json_lines_keys_become_template_text():
    """JSON lines go through L2's template model: keys and punctuation are template text, the
    values typed columns; the result beats xz -9 on the same bytes."""
    import json
    import lzma
    from cobol_codec.codecs import structure as l2_structure
    rnd = random.Random(5)
    data = "".join(json.dumps({"ts": 1_700_000_000 + i, "level": rnd.choice(["INFO", "WARN"]),
                               "host": f"web-{rnd.randint(1, 9)}", "ms": rnd.randint(0, 999)}) + "\n"
                   for i in range(5000)).encode()
    model, _, streams = l2_structure.analyze(data)
    assert model == l2_structure.MODEL_LOG and any(kind == "ints" for kind, _ in streams)
    blob = compress(data, "max")
    assert decompress(blob) == data
    assert len(blob) < len(lzma.compress(data, preset=9))
