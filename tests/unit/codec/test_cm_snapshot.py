"""Priming `max` with a dictionary once: records up to 4 KiB code on a primed snapshot that
returns to its primed state after each record, so results equal a freshly primed model's."""
from __future__ import annotations

import random

import pytest

from cobol_codec import Dictionary, compress, decompress, encode_frame
from cobol_codec.container import FILE_HEADER
from cobol_codec.codecs.entropy import entropy as L


def _lines(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [b"2024-06-%02d 12:%02d:%02d sshd[%d]: Failed password for %s from 10.%d.%d.%d port %d ssh2\n"
            % (1 + i % 28, i % 60, i * 7 % 60, rnd.randrange(99999), rnd.choice([b"root", b"admin", b"invalid user x"]),
               rnd.randrange(256), rnd.randrange(256), rnd.randrange(256), rnd.randrange(65536)) for i in range(n)]


PRIME = b"".join(_lines(600, 1))


def _fresh(fn):
    """Runs fn with no snapshot in the pool, then empties it again."""
    L._snapshots.clear()
    try:
        return fn()
    finally:
        L._snapshots.clear()


@pytest.mark.parametrize("level", [1, 2])
def test_snapshot_returns_to_the_primed_state(level):
    records = _lines(40, 2) + [bytes(3000), random.Random(3).randbytes(4096), b"x"]
    fresh_digest = _fresh(lambda: L._snapshot_state(level, PRIME, 100))
    L._snapshots.clear()
    for r in records:
        enc = L.cm_encode(r, level, PRIME)
        if enc is not None:
            assert L.cm_decode(enc, len(r), level, PRIME) == r
    assert L._snapshot_state(level, PRIME, 100) == fresh_digest
    L._snapshots.clear()


@pytest.mark.parametrize("level", [1, 2])
def test_snapshot_output_equals_a_fresh_model(level):
    """The same record coded on a reused snapshot and on a fresh model gives the same bytes."""
    recs = _lines(30, 4)
    fresh = [_fresh(lambda r=r: L.cm_encode(r, level, PRIME)) for r in recs]
    L._snapshots.clear()
    reused = [L.cm_encode(r, level, PRIME) for r in recs]
    assert reused == fresh
    # and a fresh decoder (another process would prime from scratch) reads them
    for r, e in zip(recs, reused):
        if e is not None:
            assert _fresh(lambda e=e, r=r: L.cm_decode(e, len(r), level, PRIME)) == r


def test_snapshot_survives_a_damaged_payload():
    rec = _lines(1, 5)[0]
    enc = bytearray(L.cm_encode(rec, 2, PRIME))
    enc[-3] ^= 0x55
    digest = L._snapshot_state(2, PRIME, len(rec))
    with pytest.raises(ValueError):
        L.cm_decode(bytes(enc), len(rec), 2, PRIME)
    assert L._snapshot_state(2, PRIME, len(rec)) == digest
    assert L.cm_decode(L.cm_encode(rec, 2, PRIME), len(rec), 2, PRIME) == rec


def test_records_with_a_dictionary_do_not_prime_per_record():
    d = Dictionary(PRIME)
    recs = _lines(60, 6)
    L._snapshots.clear()
    encode_frame(recs[0], "max", d)                      # primes once per stream model size
    before = L.primings()
    frames = [encode_frame(r, "max", d) for r in recs]
    backs = [decompress(FILE_HEADER + f, d) for f in frames]
    assert backs == recs
    assert L.primings() - before <= 1       # the records reuse the primed snapshots


def test_larger_frames_still_prime_fresh_and_round_trip():
    d = Dictionary(PRIME)
    data = b"".join(_lines(200, 7))
    assert len(data) > 4096
    assert decompress(compress(data, "max", d), d) == data
