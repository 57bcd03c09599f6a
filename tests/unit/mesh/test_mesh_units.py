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

