"""Every command-line script answers --help with its usage and exit 0, without doing its work.

`make loadtest-api` once died in argparse (two --json options, a merge leftover) and
`loadtests/cluster_figures.py` at import; neither had a run that would have said so."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CLIS = sorted(p for d in ("loadtests", "scripts", "bench") for p in (ROOT / d).glob("*.py")
              if "argparse" in p.read_text(encoding="utf-8"))


def test_the_scripts_are_found():
    assert len(CLIS) >= 15, CLIS


@pytest.mark.parametrize("script", CLIS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_help_prints_usage_and_exits_0(script):
    r = subprocess.run([PY, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower(), r.stdout[:500]


def test_mesh_help_exits_0():
    r = subprocess.run([PY, str(ROOT / "scripts" / "mesh.py"), "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "scripts/mesh.py up" in r.stdout, (r.returncode, r.stdout[:300])
