"""memwatch: the opt-in tracemalloc report names what grew since its first snapshot."""
from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh")]

from services.analytics import memwatch  # noqa: E402

HOARD: list = []


def hoard(n: int) -> None:
    HOARD.extend(bytearray(1024) for _ in range(n))


def test_report_names_the_growing_site_and_the_sizes(tmp_path):
    sizes = {"table.jobs": 0}
    watch = memwatch.MemWatch(tmp_path / "mem.txt", lambda: dict(sizes))
    try:
        watch.write()                      # the baseline
        hoard(2000)
        sizes["table.jobs"] = 7
        watch.write()
    finally:
        tracemalloc.stop()
        HOARD.clear()
    first, second = (tmp_path / "mem.txt").read_text().split("== t=")[1:]
    assert "table.jobs=0" in first and "table.jobs=7" in second
    assert "rss=" in second and memwatch.rss_bytes() > 0
    grown = [line for line in second.splitlines() if line.startswith("  +")]
    assert grown and "test_analytics_memwatch.py" in grown[0]
    kib = float(grown[0].split("KiB")[0].strip(" +"))
    assert kib >= 2000                     # 2000 blocks of 1 KiB at least


def test_off_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("COBOL_ANALYTICS_MEMWATCH", raising=False)
    assert memwatch.from_env(dict) is None
    monkeypatch.setenv("COBOL_ANALYTICS_MEMWATCH", str(tmp_path / "m.txt"))
    monkeypatch.setenv("COBOL_ANALYTICS_MEMWATCH_SECONDS", "1")
    try:
        watch, every = memwatch.from_env(dict)
        assert every == 5.0 and watch.path == tmp_path / "m.txt"
    finally:
        tracemalloc.stop()
