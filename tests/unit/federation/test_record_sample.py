"""The node's record reservoir: bounded, uniform over every record offered, fed a chunk at a time."""
from __future__ import annotations

import random

from cobol_federation.node import RecordSample


def lines(lo: int, hi: int) -> bytes:
    return b"".join(b"record %d\n" % i for i in range(lo, hi))


def test_it_keeps_everything_until_full_then_stays_at_its_bound():
    s = RecordSample(5, rng=random.Random(1))
    s.add(lines(0, 3))
    assert s.size() == 3
    s.add(lines(3, 4000))
    assert s.size() == 5
    pool = s.for_training("t1")
    assert len(pool) == len(set(pool)) == 5
    assert all(r.startswith(b"record ") for r in pool)


def test_every_record_is_equally_likely_whatever_the_chunk_boundaries():
    """2,000 reservoirs of 10 over 1,000 records, fed in uneven chunks: each record is kept in
    about 1% of them (20 of 2,000). Keeping the first records, or favouring a chunk's start or
    end, moves whole tenths far outside these bounds."""
    n, k, runs = 1000, 10, 2000
    kept = [0] * n
    cuts = [0, 7, 8, 230, 231, 600, 999, n]
    for seed in range(runs):
        s = RecordSample(k, rng=random.Random(seed))
        for a, b in zip(cuts, cuts[1:]):
            s.add(lines(a, b))
        for r in s.for_training("t"):
            kept[int(r.split()[1])] += 1
    assert sum(kept) == k * runs
    for tenth in range(10):                       # 100 records each: expected 2,000 keeps
        share = sum(kept[tenth * 100:(tenth + 1) * 100])
        assert 1700 < share < 2300, (tenth, share)
    assert max(kept) < 50 and min(kept) > 4


def test_a_training_freezes_the_sample_and_the_next_one_starts_empty():
    s = RecordSample(3, rng=random.Random(7))
    s.add(lines(0, 50))
    first = s.for_training("a")
    assert s.for_training("a") is first and len(first) == 3
    assert s.size() == 0
    s.add(lines(50, 52))
    second = s.for_training("b")
    assert sorted(second) == [b"record 50", b"record 51"]
    assert len(first) == 3                          # the frozen sample did not change


def test_empty_lines_and_a_zero_bound_keep_nothing():
    s = RecordSample(0, rng=random.Random(3))
    s.add(lines(0, 100))
    assert s.size() == 0
    s = RecordSample(4, rng=random.Random(3))
    s.add(b"\n\n   \n")
    assert s.size() == 0
