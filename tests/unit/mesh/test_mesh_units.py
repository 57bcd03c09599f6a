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
