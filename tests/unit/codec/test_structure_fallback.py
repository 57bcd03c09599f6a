"""No layer makes a frame worse: a structure split (L1/L2) is kept only when it beats the
whole frame, so a profile never codes worse than itself with L1 and L2 off. fast/balanced
always code large frames whole and run the split only when a sample says it may pay (then
with the L2 model the sample chose); `max` codes frames up to MAX_EXACT both ways and
decides larger ones by an estimate on a sample."""
from __future__ import annotations

import random

import pytest

from cobol_codec import Stats, compress, decompress, encode_frame
from cobol_codec.container import FILE_HEADER
from cobol_codec.codecs import structure
from cobol_codec.frame import MAX_EXACT, SAMPLE, _sample


def long_range_log(n_lines: int, seed: int = 0) -> bytes:
    """A log whose lines are drawn from a pool of 3,000 distinct lines: every repeat is a
    whole line, far back (the case where splitting lines into columns hides the repeats)."""
    rnd = random.Random(seed)
    pool = [b"2024-02-%02d %02d:%02d:%02d host%d kernel: [%d.%06d] eth%d: link %s, speed %d Mb/s id=%08x\n"
            % (1 + i % 28, i % 24, i % 60, (i * 7) % 60, i % 5, i, (i * 7919) % 10 ** 6, i % 3,
               rnd.choice([b"up", b"down"]), rnd.choice([100, 1000, 10000]), rnd.getrandbits(32)) for i in range(3000)]
    return b"".join(rnd.choice(pool) for _ in range(n_lines))


def csv_noise(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    return b"a,b,c\n" + b"".join(b"%d,%s,%d\n" % (rnd.getrandbits(40), rnd.randbytes(6).hex().encode(), rnd.getrandbits(30))
                                 for _ in range(n))


def structured_log(n: int, seed: int = 2) -> bytes:
    rnd = random.Random(seed)
    return b"".join(b"2024-03-01 10:%02d:%02d INFO worker-%d processed %d items in %d ms\n"
                    % (i // 60 % 60, i % 60, rnd.randrange(8), rnd.randrange(1000), rnd.randrange(50)) for i in range(n))


INPUTS = {
    "long-range repeats": long_range_log(12000),
    "csv of random ids": csv_noise(6000),
    "structured log": structured_log(20000),
    "small log": structured_log(300),
}


@pytest.mark.parametrize("profile", ["fast", "balanced"])
@pytest.mark.parametrize("name", INPUTS)
def test_structure_never_worse_than_without_it(profile, name):
    data = INPUTS[name]
    with_structure = encode_frame(data, profile)
    without = encode_frame(data, profile, layers="3-7")
    assert len(with_structure) <= len(without)
    assert decompress(FILE_HEADER + with_structure) == data


@pytest.mark.parametrize("lines", [200, 300])
def test_max_small_frames_never_worse(lines):
    data = structured_log(lines)        # 200 lines: coded both ways; 300: above MAX_EXACT, estimated
    assert len(data) <= SAMPLE and (len(data) <= MAX_EXACT) == (lines == 200)
    assert len(encode_frame(data, "max")) <= len(encode_frame(data, "max", layers="3-7"))


def test_max_mid_sized_frame_codes_one_path_only():
    data = structured_log(600)
    assert MAX_EXACT < len(data) <= SAMPLE
    stats = Stats()
    blob = encode_frame(data, "max", stats=stats)
    assert decompress(FILE_HEADER + blob) == data
    # context mixing ran over the frame once (one path) plus the estimate's sample, not twice
    assert stats.layers["L7 CM"][0] < 1.5 * len(data)


def _prose(n_words: int, seed: int = 4) -> bytes:
    """Text without numbers or repeating line shapes: no structure model pays on it."""
    rnd = random.Random(seed)
    words = [bytes(rnd.choice(b"etaoinshrdlucmfwyp") for _ in range(rnd.randint(2, 9))) for _ in range(4000)]
    out, line = bytearray(), []
    for _ in range(n_words):
        line.append(rnd.choice(words))
        if rnd.random() < 0.08:
            out += b" ".join(line) + b".\n"
            line = []
    return bytes(out)


@pytest.mark.parametrize("profile", ["fast", "balanced"])
def test_large_frame_skips_a_split_the_sample_rejects(profile):
    data = _prose(60000)
    assert len(data) > 2 * SAMPLE
    stats = Stats()
    blob = encode_frame(data, profile, stats=stats)
    assert decompress(FILE_HEADER + blob) == data
    assert "structure estimate (sample)" in stats.layers
    # no structure layer ran on the whole frame: only the sample tried one
    assert not any(name.startswith(("L1 tokens", "L2 structure")) for name in stats.layers), dict(stats.layers)
    assert len(blob) <= len(encode_frame(data, profile, layers="3-7"))


def test_large_frame_applies_the_samples_model_to_the_whole_frame(monkeypatch):
    data = structured_log(30000)
    assert len(data) > 2 * SAMPLE
    calls = []
    real = structure.analyze
    monkeypatch.setattr(structure, "analyze", lambda d, model=None: calls.append((len(d), model)) or real(d, model))
    blob = encode_frame(data, "fast")
    assert decompress(FILE_HEADER + blob) == data
    sample_call, whole_call = calls
    assert sample_call[0] <= SAMPLE and sample_call[1] is None          # the sample: detected
    assert whole_call == (len(data), structure.MODEL_LOG)               # the frame: applied


def test_analyze_with_a_model_runs_only_that_model():
    csv = b"id,name,amount\n" + b"".join(b"%d,item%d,%d.%02d\n" % (i, i % 50, i * 3, i % 100) for i in range(400))
    assert structure.analyze(csv)[0] == structure.MODEL_CSV
    forced = structure.analyze(csv, structure.MODEL_LOG)
    assert forced is None or forced[0] == structure.MODEL_LOG
    assert structure.analyze(csv, structure.MODEL_RECORDS) is None or \
        structure.analyze(csv, structure.MODEL_RECORDS)[0] == structure.MODEL_RECORDS
    for bad in (structure.MODEL_FIXED, 99, "csv"):
        with pytest.raises(ValueError, match="not one the encoder picks"):
            structure.analyze(csv, bad)


def test_long_range_repeats_reach_the_matcher_in_fast():
    data = INPUTS["long-range repeats"]
    stats = Stats()
    blob = compress(data, "fast", stats=stats)
    assert decompress(blob) == data
    # the whole frame (all repeats visible to L6) is coded; the split only if it pays
    assert stats.layers["L6 match"][0] >= len(data)


def test_structure_pays_and_is_kept():
    data = INPUTS["structured log"]
    stats = Stats()
    compress(data, "fast", stats=stats)
    assert "L2 structure" in stats.layers
    assert len(compress(data, "fast")) < len(compress(data, "fast", layers="3-7"))


def test_binary_records_behind_a_header_keep_their_split():
    """A file header unlike the records that follow it must not hide the records' structure."""
    rnd = random.Random(9)
    header = rnd.randbytes(70_000)
    records = b"".join(b"\x00\x2a" + (i * 7919 % 65536).to_bytes(2, "big") + b"ACCT" + rnd.randbytes(2) + bytes(8)
                       for i in range(60_000))
    data = header + records
    for profile in ("fast", "balanced"):
        assert len(encode_frame(data, profile)) <= len(encode_frame(data, profile, layers="3-7"))
    assert len(data) > SAMPLE and _sample(data) == data[(len(data) - SAMPLE) // 2:][:SAMPLE]


def test_large_max_frame_codes_one_path_only():
    data = structured_log(2500) * 2           # above the sample size, structure pays
    assert len(data) > SAMPLE
    stats = Stats()
    blob = compress(data, "max", stats=stats)
    assert decompress(blob) == data
    assert "L2 structure" in stats.layers
    # the whole frame was not coded by context mixing: only the sample's trial was
    assert stats.layers["L7 CM"][0] < len(data) + 2 * SAMPLE


def test_sample_cuts_after_a_newline():
    data = b"x" * 100 + (b"0123456789abcdef" * 3 + b"\n") * 5000
    s = _sample(data)
    assert len(s) <= SAMPLE and s.endswith(b"\n") and data.startswith(s)
    binary = bytes(b for b in range(256) if b != 10) * 1000
    mid = (len(binary) - SAMPLE) // 2
    assert _sample(binary) == binary[mid:mid + SAMPLE]     # binary: the middle, past any file header
    assert _sample(b"short") == b"short"
