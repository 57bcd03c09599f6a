"""`make bench` writes the group table's figures, which the report's ratio rows read."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import figures  # noqa: E402
import report  # noqa: E402


def test_codec_bench_json_writes_ratio_and_speed_per_group_and_codec(tmp_path):
    logs = tmp_path / "corpora" / "logs"
    logs.mkdir(parents=True)
    (logs / "a.log").write_bytes(b"".join(b"2026-11-30 INFO request %d served in %d ms\n" % (i, i % 97)
                                          for i in range(3000)))
    out = tmp_path / "figures.jsonl"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "codec_bench.py"), str(tmp_path / "corpora"),
                        "--quick", "--sections", "1", "--only", "cobol fast,zstd -3", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    figs = figures.load(out)
    seen = {(f["name"], f["peer"], f["labels"]["group"]) for f in figs}
    for group in ("logs", "random", "already compressed"):
        for peer in ("cobol fast", "zstd -3"):
            for name in ("codec.ratio", "codec.compress", "codec.decompress"):
                assert (name, peer, group) in seen
    ratio = {(f["peer"], f["labels"]["group"]): f["value"] for f in figs if f["name"] == "codec.ratio"}
    assert ratio[("cobol fast", "logs")] > 5 > ratio[("cobol fast", "random")]
    rows = {row.promise: row for row in report.build(figs, tmp_path / "reports")}
    assert rows["100–200x compression"].measured.startswith("max ") and "logs" in rows["100–200x compression"].measured
    assert "random" in rows["20–30x on high-entropy data"].measured \
        or "already compressed" in rows["20–30x on high-entropy data"].measured
