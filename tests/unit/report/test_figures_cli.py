"""`scripts/figures.py append`: figures from a non-Python command, stamped with this machine."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, str(ROOT / "scripts" / "figures.py"), "append"]


def test_append_stamps_each_figure_and_keeps_its_labels(tmp_path):
    out = tmp_path / "f.jsonl"
    lines = [{"source": "x.mjs", "name": "dashboard.load_ms", "value": 300, "unit": "ms", "peer": "cobol dashboard",
              "labels": {"page": "jobs", "cache": "cold"}},
             {"source": "x.mjs", "name": "dashboard.event_ms", "value": 6, "unit": "ms", "peer": "cobol dashboard"}]
    r = subprocess.run([*CLI, str(out)], input="\n".join(map(json.dumps, lines)) + "\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    figs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [f["name"] for f in figs] == ["dashboard.load_ms", "dashboard.event_ms"]
    assert figs[0]["labels"] == {"page": "jobs", "cache": "cold"} and figs[0]["machine"] and figs[0]["time"]


def test_a_bad_line_writes_nothing_and_names_the_line(tmp_path):
    out = tmp_path / "f.jsonl"
    good = json.dumps({"source": "x", "name": "n", "value": 1, "unit": "ms", "peer": "p"})
    for bad in ('{"name": "n"}', "not json", json.dumps({"source": "x", "name": "n", "value": "NaN", "unit": "ms",
                                                          "peer": "p"})):
        r = subprocess.run([*CLI, str(out)], input=f"{good}\n{bad}\n", capture_output=True, text=True)
        assert r.returncode == 2 and "stdin:2" in r.stderr
        assert not out.exists()
