"""No layer makes a frame worse: a structure split (L1/L2) is kept only when it beats the
whole frame, so a profile never codes worse than itself with L1 and L2 off (exactly for
profiles whose whole path is matching + Huffman, and for every frame up to the sample size;
`max` decides large frames by an estimate on a sample)."""
from __future__ import annotations

import random

import pytest

from cobol_codec import Stats, compress, decompress, encode_frame
from cobol_codec.container import FILE_HEADER
from cobol_codec.frame import SAMPLE, _sample


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


@pytest.mark.parametrize("name", ["small log"])
def test_max_small_frames_never_worse(name):
    data = INPUTS[name]
    assert len(data) <= SAMPLE
    assert len(encode_frame(data, "max")) <= len(encode_frame(data, "max", layers="3-7"))


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
