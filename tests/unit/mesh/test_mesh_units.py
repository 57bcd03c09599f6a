"""Mesh pieces that need no running engine: record validation, the fs store, (the job status maths moved to tests/unit/coordinator)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from services.archive.store import FsStore, frame_key, iter_frames, job_prefix  # noqa: E402
from services.ingest.raw import validate  # noqa: E402


@pytest.mark.parametrize("key,value,why", [
    (b"dev-1", b"t=1", None),
    (b"a.b:c_d-9", b"x" * 100, None),
    (None, b"x", "invalid key"),
    (b"", b"x", "invalid key"),
    (b"has space", b"x", "invalid key"),
    (b"k" * 129, b"x", "invalid key"),
    (b"dev", b"", "empty"),
    (b"dev", None, "empty"),
    (b"dev", b"a\nb", "newline"),
    (b"dev", b"x" * (1024 * 1024 + 1), "larger"),
])
def test_record_validation(key, value, why):
    got = validate(key, value)
    assert (got is None) if why is None else (why in got)


def test_fs_store_is_atomic_idempotent_and_ordered(tmp_path):
    s = FsStore(tmp_path)
    for seq in (2, 0, 1, 1):
        s.put(frame_key("j1", seq), f"frame{seq}".encode())
    assert s.list(job_prefix("j1")) == [frame_key("j1", i) for i in range(3)]
    assert [d for _, d in iter_frames(s, "j1")] == [b"frame0", b"frame1", b"frame2"]
    assert not list(tmp_path.rglob(".tmp-*"))
    s.put(frame_key("j2", 1), b"x")
    with pytest.raises(LookupError):
        list(iter_frames(s, "j2"))
    with pytest.raises(ValueError):
        s.put("../escape", b"x")
    assert s.list(job_prefix("nope")) == []



def test_stored_frames_carry_a_checksum(tmp_path):
    from services.archive.store import DamagedFrame, seal, unseal
    s = FsStore(tmp_path)
    s.put(frame_key("j", 0), seal(b"frame-bytes"))
    assert unseal(s.get(frame_key("j", 0))) == b"frame-bytes"
    assert unseal(b"legacy frame without a seal") == b"legacy frame without a seal"
    raw = bytearray(s.get(frame_key("j", 0)))
    raw[-1] ^= 1
    with pytest.raises(DamagedFrame):
        unseal(bytes(raw))
    s.put(frame_key("j", 1), bytes(raw))
    with pytest.raises(DamagedFrame):
        list(iter_frames(s, "j"))
    assert s.jobs() == ["j"] and not s.has_marker()
    s.put_marker("archive-1\n")
    assert s.has_marker() and s.jobs() == ["j"]


def test_codec_frames_never_look_sealed():
    from cobol_codec import encode_frame
    from services.archive.store import SEAL
    for profile in ("fast", "max"):
        assert not encode_frame(b"abc" * 100, profile).startswith(SEAL)


def test_archive_tombstones_delete_frames_and_refuse_late_ones(tmp_path):
    from services.archive.deletes import Tombstones
    from services.archive.store import seal, tombstone_key
    store = FsStore(tmp_path)
    for seq in range(3):
        store.put(frame_key("job-a", seq), seal(b"frame %d" % seq))
    store.put(frame_key("job-b", 0), seal(b"kept"))
    tombs = Tombstones(store)
    assert "job-a" not in tombs and tombs.store_frame("job-a", 3, seal(b"frame 3"))
    assert tombs.delete("job-a", "test") == 4
    assert store.list(job_prefix("job-a")) == [] and not (tmp_path / "jobs" / "job-a").exists()
    assert store.get(tombstone_key("job-a")).endswith(b" test\n")
    assert not tombs.store_frame("job-a", 0, seal(b"late"))          # a late frame is dropped
    assert store.list(job_prefix("job-a")) == []
    assert tombs.delete("job-a", "again") == 0                       # idempotent
    assert [seq for seq, _ in iter_frames(store, "job-b")] == [0]    # other jobs untouched
    again = Tombstones(FsStore(tmp_path))                           # a restart keeps the tombstones
    assert "job-a" in again and again.ids() == ["job-a"] and len(again) == 1
    with pytest.raises(ValueError):                                  # a hostile key never leaves the store
        store.delete("../outside")
