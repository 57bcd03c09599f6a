"""The soak's growth verdict (loadtests/soak.py): slopes and thresholds on made-up series."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("soak", ROOT / "loadtests" / "soak.py")
soak = sys.modules["soak"] = importlib.util.module_from_spec(_spec)     # dataclasses look it up
_spec.loader.exec_module(soak)
MiB = soak.MiB


def series(values, step=60.0):
    s = soak.Series()
    for i, v in enumerate(values):
        s.add(i * step, v)
    return s


def test_slope_is_per_hour_and_skips_the_warm_up():
    # a jump during the first fifth (start-up) then flat: no slope
    s = series([10, 50] + [100] * 18)
    assert soak.slope_per_hour(s) == pytest.approx(0.0)
    # +1 a minute = +60 an hour
    assert soak.slope_per_hour(series(range(30))) == pytest.approx(60.0)
    assert soak.slope_per_hour(series([5, 6])) == 0.0


def test_memory_verdict():
    flat = series([200 * MiB + (i % 3) * MiB for i in range(30)])
    leak = series([200 * MiB + i * MiB for i in range(30)])          # +60 MiB/h
    assert not soak.grows("rss", flat)
    assert soak.grows("rss", leak)


def test_open_files_and_lag_verdicts():
    assert soak.grows("fds", series([40 + i for i in range(30)]))     # +60 files/h
    assert not soak.grows("fds", series([40, 41, 40, 42, 40, 41] * 5))
    backlog = series([i * 100 for i in range(30)])                     # +6,000 records/h, rising
    assert soak.grows("lag", backlog)
    busy_but_steady = series([500, 3000, 800, 2500, 900, 2800] * 5)
    assert not soak.grows("lag", busy_but_steady)


def test_bad_arguments_are_refused(capsys):
    for args in (["--minutes", "0"], ["--minutes", "-3"], ["--sample", "0"], ["--job-kib", "0"]):
        with pytest.raises(SystemExit) as err:
            soak.main(args)
        assert err.value.code == 2
    assert "--minutes must be in" in capsys.readouterr().err


def test_report_writes_figures_and_exit_status(tmp_path, capsys):
    class Load:
        jobs_done, jobs_failed, records_sent, error = 10, 0, 2000, None

    class A:
        json = str(tmp_path / "f.jsonl")
    data = {"archive-1": {"rss": series([100 * MiB + i * 2 * MiB for i in range(30)]),
                          "fds": series([30] * 30), "lag": series([0] * 30)}}
    assert soak.report(A, data, {}, Load, 1800, run="2026-11-30T03:00:00Z") == 3
    out = capsys.readouterr().out
    assert "GROWTH: archive-1 rss" in out
    figs = [json.loads(x) for x in Path(A.json).read_text().splitlines()]
    rss = next(f for f in figs if f["name"] == "soak.rss_slope")
    assert rss["value"] == pytest.approx(120.0) and rss["unit"] == "MiB/h" and rss["labels"]["instance"] == "archive-1"
    assert next(f for f in figs if f["name"] == "soak.growing")["value"] == 1


def test_the_report_puts_the_newest_soak_beside_its_promise(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import report
    figs = []
    for run, growing, slope in (("2026-11-30T01:00:00Z", 1, 90.0), ("2026-11-30T03:00:00Z", 0, 2.5)):
        figs.append(report.figures.make(source="loadtests/soak.py", name="soak.rss_slope", value=slope, unit="MiB/h",
                                        peer="cobol mesh", instance="api-1", run=run) | {"time": run})
        figs.append(report.figures.make(source="loadtests/soak.py", name="soak.growing", value=growing, unit="count",
                                        peer="cobol mesh", minutes=30, run=run) | {"time": run})
    measured, met, _src = report.m_soak(figs)
    assert met and "0 growing" in measured and "+2.5 MiB/h (api-1)" in measured
    short = [f | {"labels": f["labels"] | {"minutes": 5}} for f in figs]
    assert report.m_soak(short)[1] is False          # five quiet minutes do not make the promise


def test_a_short_run_flags_only_what_it_saw_grow():
    # five minutes, +3 files and +5 MiB after the warm-up: steep per hour, but within the noise
    short = dict(step=10.0)
    assert not soak.grows("fds", series([43] * 8 + [44] * 10 + [46] * 12, **short))
    assert not soak.grows("rss", series([90 * MiB + i * MiB // 6 for i in range(30)], **short))
    # the same minutes with a real leak (+1 MiB per 10 s)
    assert soak.grows("rss", series([90 * MiB + i * MiB for i in range(30)], **short))


def test_over_time_takes_the_last_sample_at_or_before_each_moment():
    s = series([10, 20, 30, 40, 50, 60, 70, 80, 90], step=60.0)      # 0..8 min
    assert soak.over_time(s) == [10, 30, 50, 70, 90]
    assert soak.over_time(series([5])) == [5] * 5
    assert soak.over_time(soak.Series()) == []
    gap = soak.Series()
    for t, v in ((0, 1), (10, 2), (400, 3)):                         # nothing sampled mid-run
        gap.add(t, v)
    assert soak.over_time(gap, 3) == [1, 2, 3]


def test_series_file_is_written_and_the_report_plots_it(tmp_path, capsys):
    class Load:
        jobs_done, jobs_failed, records_sent, error = 10, 0, 2000, None

    class A:
        json = str(tmp_path / "f.jsonl")
        series = str(tmp_path / "sub" / "soak-series.json")
    data = {"compressor-1": {"rss": series([100 * MiB] * 10), "fds": series([30] * 10), "lag": series([0, 5] * 5)},
            "archive-1": {"rss": series([50 * MiB] * 10), "fds": series([20] * 10), "lag": soak.Series()}}
    assert soak.report(A, data, {}, Load, 540, run="2026-11-30T03:00:00Z") == 0
    out = capsys.readouterr().out
    assert "over time (start, 1/4, 1/2, 3/4, end" in out and "100.0  100.0" in out
    saved = json.loads(Path(A.series).read_text())
    assert saved["run"] == "2026-11-30T03:00:00Z" and saved["minutes"] == 9.0
    assert saved["instances"]["compressor-1"]["rss_mib"][1] == [1.0, 100.0]
    assert saved["instances"]["archive-1"]["lag"] == []
    sys.path.insert(0, str(ROOT / "scripts"))
    import report
    rep = tmp_path / "reports"
    assert report.main(["--figures", A.json, "--soak-series", A.series, "--out", str(rep)]) == 0
    text = (rep / "README.md").read_text()
    assert "## Soak over time" in text and "](soak.png)" in text
    assert "| compressor-1 | 100.0 → 100.0 → 100.0 | 30 → 30 → 30 | 0 → 5 → 5 |" in text
    assert "| archive-1 | 50.0 → 50.0 → 50.0 | 20 → 20 → 20 | - |" in text
    assert (rep / "soak.png").read_bytes()[:4] == b"\x89PNG"
    Path(A.series).write_text('{"instances": {"x": {"rss_mib": [["a", 1]]}}}')
    assert report.main(["--figures", A.json, "--soak-series", A.series, "--out", str(rep)]) == 2
    assert "not a soak series file" in capsys.readouterr().err
    assert report.main(["--figures", A.json, "--soak-series", str(tmp_path / "none.json"), "--out", str(rep)]) == 0
    assert not (rep / "soak.png").exists()                            # no samples: no stale plot
