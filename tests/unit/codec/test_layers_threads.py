"""The layers a user picks (`parse_layers`, `layers=`, `cobol compress --layers`) and
`threads` (0 = one per core) for compress and decompress."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

import cobol_codec
from cobol_codec import CodecError, compress, decompress, encode_frame, parse_layers
from cobol_codec.container import FILE_HEADER
from cobol_codec.profiles import get
from frame_walk import walk


def _log(n: int, seed: int = 0) -> bytes:
    rnd = random.Random(seed)
    return b"".join(b"2024-05-%02d 10:%02d:%02d INFO node-%d served /api/v1/item/%d in %d ms\n"
                    % (1 + i % 28, i % 60, i * 7 % 60, rnd.randrange(9), rnd.randrange(10 ** 5), rnd.randrange(900))
                    for i in range(n))


@pytest.mark.parametrize("text,expected", [
    ("1-4", {1, 2, 3, 4}), ("1,2,6-7", {1, 2, 6, 7}), ("3", {3}), (" 1 - 2 ".replace(" - ", "-"), {1, 2}),
    ("7,1", {1, 7}), ("1-7", set(range(1, 8))), ("2,2,2", {2}), (" 5 , 6 ", {5, 6}),
])
def test_parse_layers_accepts(text, expected):
    assert parse_layers(text) == frozenset(expected)
    assert isinstance(parse_layers(text), frozenset)


@pytest.mark.parametrize("text,needle", [
    ("", "empty"), ("   ", "empty"), ("0", "does not exist"), ("8", "does not exist"), ("1-9", "does not exist"),
    ("4-1", "reversed"), ("a", "bad layers item"), ("1,,2", "bad layers item"), ("1-", "bad layers item"),
    ("-3", "bad layers item"), ("L1", "bad layers item"), ("1;2", "bad layers item"), ("1-2-3", "bad layers item"),
    ("١", "bad layers item"), ("1\n2", "bad layers item"), ("99999999999999999999", "does not exist"),
])
def test_parse_layers_refuses_with_a_clear_message(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse_layers(text)


def test_parse_layers_refuses_non_text():
    with pytest.raises(ValueError, match="must be text"):
        parse_layers(14)


def _layers_used(blob: bytes) -> set[int]:
    used = set()
    for split, _model, stages in walk(blob):
        if split:
            used.add(split)
        used.update(layer for layer, _ in stages)
    return used


@pytest.mark.parametrize("profile", cobol_codec.PROFILES)
@pytest.mark.parametrize("layers", ["1-4", "1,2,6-7", "3-4", "6", "7", "1-7", {2, 3, 4}])
def test_only_the_chosen_layers_run(profile, layers):
    data = _log(3000) + os.urandom(3000) + bytes(20000)
    blob = compress(data, profile, layers=layers)
    assert decompress(blob) == data
    allowed = parse_layers(layers) if isinstance(layers, str) else frozenset(layers)
    assert _layers_used(blob) <= allowed
    frame = encode_frame(data, profile, layers=layers)
    assert _layers_used(FILE_HEADER + frame) <= allowed
    assert decompress(FILE_HEADER + frame) == data


def test_l1_to_l4_means_no_entropy_stage_and_still_pays_on_structure():
    data = _log(5000)
    blob = compress(data, "fast", layers="1-4")
    used = _layers_used(blob)
    assert used and not used & {5, 6, 7}
    assert len(blob) < len(data)          # the structure split and bit-packing still pay


def test_restrict_keeps_plain_huffman_without_l6():
    prof = get("fast", "7")
    assert all(s.layer == 7 and s.name == "L7 Huffman" for c in prof.bytes_chains for s in c)
    assert not prof.use_l2 and not prof.use_l1
    data = _log(2000)
    assert decompress(compress(data, "fast", layers="7")) == data


@pytest.mark.parametrize("bad", ["0-3", "x", "", [0, 1], [8], [], ["1"], [True], 5])
def test_bad_layers_are_refused_before_anything_runs(bad):
    with pytest.raises(ValueError):
        compress(b"abc" * 100, "fast", layers=bad)
    with pytest.raises(ValueError):
        encode_frame(b"abc" * 100, "fast", layers=bad)


@pytest.mark.parametrize("profile", cobol_codec.PROFILES)
def test_threads_all_cores_round_trip(profile):
    data = _log(6000 if profile == "max" else 40000, 5)
    blob = compress(data, profile, threads=0)
    assert decompress(blob, threads=0) == data
    assert decompress(blob, threads=3) == data
    assert decompress(blob) == data


@pytest.mark.parametrize("profile", ["balanced", "max"])
def test_threads_cut_an_input_into_a_frame_per_thread(profile):
    data = _log(40000, 6)                  # ~2.6 MB: one frame of balanced or max single-threaded
    assert len(walk(compress(data, profile, threads=1, layers="1-4"))) == 1
    assert len(walk(compress(data, profile, threads=4, layers="1-4"))) == 3   # frames of >= 1 MiB


@pytest.mark.parametrize("threads", [-1, 1.5, "2", True])
def test_bad_threads(threads):
    with pytest.raises(ValueError):
        compress(b"x", "fast", threads=threads)


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "cobol_codec.cli", *args], capture_output=True, **kw)


def test_cli_layers_and_threads(tmp_path):
    src = tmp_path / "in.log"
    src.write_bytes(_log(20000, 7))
    r = _cli("compress", str(src), "--profile", "fast", "--layers", "1-4", "--threads", "0", "--json")
    assert r.returncode == 0, r.stderr
    import json
    rep = json.loads(r.stdout)
    assert rep["allowed_layers"] == [1, 2, 3, 4] and rep["threads"] >= 1
    blob = (tmp_path / "in.log.cobol").read_bytes()
    assert not _layers_used(blob) & {5, 6, 7}
    r = _cli("decompress", str(tmp_path / "in.log.cobol"), "-o", str(tmp_path / "back"), "--threads", "0")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("bad", ["0", "1-8", "4-1", "one", ""])
def test_cli_bad_layers_is_a_clear_error_and_writes_nothing(tmp_path, bad):
    src = tmp_path / "in.log"
    src.write_bytes(b"hello\n" * 10)
    r = _cli("compress", str(src), "--layers", bad)
    assert r.returncode == 2
    assert b"--layers" in r.stderr and b"layer" in r.stderr
    assert not (tmp_path / "in.log.cobol").exists()


def test_cli_negative_threads(tmp_path):
    src = tmp_path / "in.log"
    src.write_bytes(b"hello\n")
    r = _cli("compress", str(src), "--threads", "-2")
    assert r.returncode == 2 and b"--threads" in r.stderr
    assert not (tmp_path / "in.log.cobol").exists()


def test_codec_error_is_value_error():
    assert issubclass(CodecError, ValueError)
