"""scripts/audit.py: reviewed `# nosec` lines are listed with their reason, and a bare one is a finding."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import audit  # noqa: E402


def test_reviewed_lines_carry_their_reason_and_a_bare_nosec_is_flagged(tmp_path, monkeypatch):
    pkg = tmp_path / "libs" / "x"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text('q = f"SELECT {COLS} FROM t"  # nosec B608 # COLS is a constant\n'
                              'u = open(url)  # nosec B310\n'
                              'plain = 1  # not a nosec line\n')
    gen = tmp_path / "libs" / "gen"
    gen.mkdir()
    (gen / "b.py").write_text("x = 1  # nosec B101 # generated, excluded\n")
    monkeypatch.setattr(audit, "ROOT", tmp_path)
    monkeypatch.setattr(audit, "SCAN", ("libs",))
    monkeypatch.setattr(audit, "EXCLUDE", ("libs/gen",))
    assert audit.reviewed_lines() == ["libs/x/a.py:1: B608: COLS is a constant",
                                      "libs/x/a.py:2: B310: NO REASON GIVEN"]


def test_the_report_lists_reviewed_lines_under_their_tool():
    import datetime as dt
    res = audit.Result("bandit", True, [], "2 files", reviewed=["libs/x/a.py:1: B608: COLS is a constant"])
    md = audit.markdown([res], dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc))
    assert "## bandit: 0 finding(s)" in md
    assert "1 line(s):" in md and "- libs/x/a.py:1: B608: COLS is a constant" in md
