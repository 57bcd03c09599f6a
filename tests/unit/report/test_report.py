"""The report builder (scripts/report.py) and the figures format (scripts/figures.py), on a small
figures file written here."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import figures  # noqa: E402
import report  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def write_figures(path: Path) -> None:
    def add(name, value, unit, peer, source="bench/codec_bench.py", **labels):
        figures.append(path, source=source, name=name, value=value, unit=unit, peer=peer, **labels)
    add("codec.ratio", 17.81, "x", "cobol max", group="loghub")
    add("codec.ratio", 11.15, "x", "cobol fast", group="loghub")
    add("codec.ratio", 13.60, "x", "xz -9", group="loghub")
    add("codec.ratio", 1.00, "x", "cobol max", group="random bytes")
    add("codec.ratio", 1.00, "x", "zstd -19", group="random bytes")
    add("mesh.throughput", 16.9, "MiB/s", "cobol mesh", "loadtests/mesh_throughput.py", workers=1)
    add("mesh.throughput", 23.1, "MiB/s", "cobol mesh", "loadtests/mesh_throughput.py", workers=2)
    add("kafka_peer.throughput", 41.0, "MB/s", "kafka zstd", "loadtests/kafka_peer.py", kind="text")
    add("record.latency_ms", 40, "ms", "cobol mesh", "loadtests/record_latency.py", percentile="p50", rate=1000)
    add("record.latency_ms", 90, "ms", "cobol mesh", "loadtests/record_latency.py", percentile="p99", rate=1000)
    w = "SIGKILL leader -> standby serves writes"
    add("failover.seconds", 9.9, "s", "cobol mesh", "loadtests/cluster_figures.py", what=w, run="old")
    add("failover.seconds", 4.2, "s", "cobol mesh", "loadtests/cluster_figures.py", what=w, run="new")
    add("failover.seconds", 3.1, "s", "cobol mesh", "loadtests/cluster_figures.py", what=w, run="new")
    add("failover.seconds", 8.0, "s", "cobol mesh", "loadtests/cluster_figures.py", what="lease", run="new")
    add("dashboard.load_ms", 900, "ms", "cobol dashboard", "loadtests/dashboard_load.mjs", page="jobs", cache="cold")
    add("dashboard.load_ms", 310, "ms", "cobol dashboard", "loadtests/dashboard_load.mjs", page="jobs", cache="cold")
    add("dashboard.load_ms", 120, "ms", "cobol dashboard", "loadtests/dashboard_load.mjs", page="jobs", cache="warm")
    add("dashboard.event_ms", 95, "ms", "cobol dashboard", "loadtests/dashboard_load.mjs", event="websocket -> screen")
    add("coverage.percent", 96.5, "%", "cobol", "scripts/coverage_run.py", kind="line", scope="unit")
    add("coverage.percent", 95.5, "%", "cobol", "scripts/coverage_run.py", kind="branch", scope="unit")
    add("coverage.percent", 91.0, "%", "cobol", "scripts/coverage_run.py", kind="layers_line", scope="unit")
    add("audit.findings", 2, "count", "cobol", "scripts/audit.py", tool="bandit")
    add("audit.findings", 0, "count", "cobol", "scripts/audit.py", tool="bandit")   # a later run: fixed
    add("audit.findings", 0, "count", "cobol", "scripts/audit.py", tool="pip-audit")


@pytest.fixture
def built(tmp_path):
    path = tmp_path / "figures.jsonl"
    write_figures(path)
    out = tmp_path / "reports"
    rows = report.build(figures.load(path), out)
    return {r.promise: r for r in rows}, out


def test_promise_rows_are_filled_from_the_figures(built):
    rows, _ = built
    assert rows["100–200x compression"].measured == "max 17.8x (cobol max, loghub)"
    assert rows["100–200x compression"].verdict == "missed"
    assert rows["100–200x compression"].command == "bench/codec_bench.py"
    assert "data" in rows["100–200x compression"].why
    assert rows["20–30x on high-entropy data"].measured == "max 1.00x (cobol max, random bytes)"
    assert rows["20–30x on high-entropy data"].verdict == "missed"
    # 23.1 MiB/s = 24.2 MB/s; scaling 23.1 / (2 x 16.9) = 68%
    assert rows["930 MB/s on one node"].measured == "24.2 MB/s (2 worker(s))"
    assert rows["90% linear scaling"].measured.startswith("68% at 2 workers")
    assert rows["90% linear scaling"].verdict == "missed"
    # the newest run only, and the time until the standby serves writes (not the lease alone)
    assert rows["failover < 5 s"].measured == "worst 4.20 s of 2 leader kill(s) until the standby serves writes"
    assert rows["dashboard < 500 ms"].measured == ("first load, median (ms): jobs cold 310, jobs warm 120; "
                                                    "websocket -> screen 95")
    assert rows["dashboard < 500 ms"].verdict == "met"
    assert rows["failover < 5 s"].verdict == "met" and rows["failover < 5 s"].why == ""
    assert rows["> 95% coverage"].measured == "line 96.5%, branch 95.5%; of which the Cython layers, line 91.0% (unit)"
    assert rows["> 95% coverage"].verdict == "met"
    assert rows['security audit: "passed"'].measured == "0 finding(s): bandit 0, pip-audit 0"
    assert rows['security audit: "passed"'].verdict == "met"


def test_promises_without_figures_say_not_measured_yet(built):
    rows, _ = built
    for promise in ("1 GB/s on ten nodes", "replication overhead < 20%",
                    "API latency 50–100 ms", "1,000+ concurrent users"):
        assert rows[promise].measured == "not measured yet"
        assert rows[promise].verdict == "not measured yet"
    assert len(rows) == len(report.PROMISES) == 13


def test_readme_names_machine_table_and_plots(built):
    _, out = built
    text = (out / "README.md").read_text()
    m = figures.machine_info()
    assert m["cpu"] in text and f"Python: {m['python']}" in text and "matplotlib" in text
    assert "| 100–200x compression | max 17.8x (cobol max, loghub) | missed | `bench/codec_bench.py` |" in text
    assert "| API latency 50–100 ms | not measured yet | not measured yet | `make loadtest-api` |" in text
    for name in ("ratio.png", "throughput.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == PNG
        assert f"]({name})" in text
    assert "| `loadtests/kafka_peer.py` | kafka_peer.throughput | kafka zstd | kind=text | 41 MB/s |" in text


def test_a_plot_without_figures_is_not_written_and_a_stale_one_goes(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "latency.png").write_bytes(PNG + b"stale")
    fig = figures.make(source="x.py", name="codec.ratio", value=3.0, unit="x", peer="zstd -3", group="g")
    report.build([fig], out)
    assert (out / "ratio.png").exists()
    assert not (out / "latency.png").exists() and not (out / "throughput.png").exists()
    assert "not measured yet" in (out / "README.md").read_text()


def test_ten_node_model_is_labelled_as_a_model(tmp_path):
    fig = figures.make(source="docs/scaling.md", name="scaling.model_throughput", value=160.0, unit="MB/s",
                       peer="model", nodes=10)
    rows = {r.promise: r for r in report.build([fig], tmp_path)}
    assert rows["1 GB/s on ten nodes"].measured == "160 MB/s (model, not a run)"
    assert rows["1 GB/s on ten nodes"].verdict == "missed"


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"source": "a", "name": "b", "value": 1, "unit": "x", "peer": "p"}', "missing machine"),
    ('{"source": "a", "name": "b", "value": NaN, "unit": "x", "peer": "p", "machine": "m"}', "finite"),
    ('{"source": "a", "name": "b", "value": true, "unit": "x", "peer": "p", "machine": "m"}', "finite"),
    ('{"source": "a", "name": "b", "value": "3", "unit": "x", "peer": "p", "machine": "m"}', "finite"),
    ('{"source": "a", "name": "b", "value": 3, "unit": "x", "peer": "p", "machine": "m", "labels": []}', "labels"),
    ('{"source": 1, "name": "b", "value": 3, "unit": "x", "peer": "p", "machine": "m"}', "source must be"),
])
def test_malformed_figure_lines_are_refused_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "f.jsonl"
    good = json.dumps(figures.make(source="a", name="b", value=1, unit="x", peer="p"))
    path.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(figures.FigureError) as e:
        figures.load(path)
    assert f"{path}:3:" in str(e.value) and message in str(e.value)


def test_make_refuses_non_finite_values_and_empty_fields():
    with pytest.raises(figures.FigureError):
        figures.make(source="a", name="b", value=float("inf"), unit="x", peer="p")
    with pytest.raises(figures.FigureError):
        figures.make(source="a", name="", value=1, unit="x", peer="p")
    assert figures.append(None, source="a", name="b", value=1, unit="x", peer="p") is None


def test_cli_refuses_a_malformed_file_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    out = tmp_path / "out"
    assert report.main(["--figures", str(bad), "--out", str(out)]) == 2
    assert "bad.jsonl:1: not JSON" in capsys.readouterr().err
    assert not (out / "README.md").exists()


def test_cli_without_figures_file_reports_every_promise_unmeasured(tmp_path, capsys):
    out = tmp_path / "out"
    assert report.main(["--figures", str(tmp_path / "absent.jsonl"), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no figures file" in captured.err
    assert captured.out.count("not measured yet") == 2 * len(report.PROMISES)   # verdict and measured, each row
    assert (out / "README.md").exists()


def test_an_incomplete_audit_is_not_a_pass(tmp_path):
    figs = [figures.make(source="scripts/audit.py", name="audit.findings", value=0, unit="count", peer="cobol",
                         tool="pip-audit"),
            figures.make(source="scripts/audit.py", name="audit.incomplete", value=127, unit="count", peer="cobol",
                         tool="pip-audit"),
            figures.make(source="scripts/audit.py", name="audit.findings", value=0, unit="count", peer="cobol",
                         tool="bandit")]
    rows = {r.promise: r for r in report.build(figs, tmp_path)}
    row = rows['security audit: "passed"']
    assert row.measured == "0 finding(s): bandit 0, pip-audit 0; could not check 127 with pip-audit"
    assert row.verdict == "missed"


def test_api_latency_shows_the_newest_run_and_the_worst_of_the_last_five(tmp_path):
    def fig(endpoint, p99):
        return figures.make(source="loadtests/api_latency.py", name="api.latency_ms", value=p99, unit="ms",
                            peer="cobol api", percentile="p99", endpoint=endpoint)
    old = [fig("me", 99_000)]                                        # six runs ago: out of the window
    figs = old + [fig("me", 10_000), fig("jobs/{id}", 40), fig("me", 80), fig("me", 70), fig("me", 60), fig("me", 50)]
    row = {r.promise: r for r in report.build(figs, tmp_path)}["API latency 50–100 ms"]
    assert row.measured == ("p99 (ms), newest run: jobs/{id} 40, me 50; "
                            "worst of the last 5 runs: jobs/{id} 40, me 10,000")
    assert row.verdict == "missed"                 # a collapse among the last five is not a pass
    figs += [fig("me", 45)]                        # the collapse leaves the window
    row = {r.promise: r for r in report.build(figs, tmp_path)}["API latency 50–100 ms"]
    assert row.measured.endswith("worst of the last 5 runs: jobs/{id} 40, me 80") and row.verdict == "met"


def test_audit_lists_requirements_that_are_not_pinned(tmp_path):
    import audit
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nCython==3.3.1\nsetuptools>=69\nwheel\nfoo==1.0  # pinned\nbar~=2.0\n\n")
    assert audit.unpinned(req) == ["setuptools>=69", "wheel", "bar~=2.0"]


def test_loadtest_tables_and_job_size_plot_use_the_newest_run(tmp_path):
    def fig(name, value, unit, peer, source, when, **labels):
        f = figures.make(source=source, name=name, value=value, unit=unit, peer=peer, **labels)
        f["time"] = when
        return f
    mt, kp, rl = "loadtests/mesh_throughput.py", "loadtests/kafka_peer.py", "loadtests/record_latency.py"
    t1, t2 = "2026-11-30T01:00:00Z", "2026-11-30T02:00:00Z"
    figs = [
        fig("mesh.throughput", 5.0, "MiB/s", "cobol mesh", mt, t1, workers=1, nodes=1, mib=256),   # replaced below
        fig("mesh.throughput", 10.0, "MiB/s", "cobol mesh", mt, t2, workers=1, nodes=1, mib=256),
        fig("mesh.throughput", 15.0, "MiB/s", "cobol mesh", mt, t2, workers=2, nodes=1, mib=256),
        fig("mesh.throughput", 17.0, "MiB/s", "cobol mesh", mt, t2, workers=4, nodes=1, mib=256),
        fig("mesh.throughput", 2.5, "MB/s", "cobol mesh", "loadtests/replication_cost.py", t2, workers=2, rf=3),
        fig("mesh.job_throughput", 3.0, "MiB/s", "cobol mesh", mt, t2, workers=2, mib=1, seconds=0.33,
            ratio=7.1, verified=True),
        fig("mesh.job_throughput", 12.0, "MiB/s", "cobol mesh", mt, t2, workers=2, mib=1024, seconds=85.3,
            ratio=7.4, verified=True),
        fig("kafka_peer.throughput", 6.6, "MB/s", "kafka zstd", kp, t2),
        fig("kafka_peer.stored_bytes", 42_500_000, "bytes", "kafka zstd", kp, t2),
        fig("codec.ratio", 4.73, "x", "kafka zstd", kp, t2, group="mesh text"),
        fig("record.latency_ms", 450, "ms", "cobol mesh", rl, t2, rate=1000, until="frames", percentile="p50",
            sent_rate=990),
        fig("record.latency_ms", 900, "ms", "cobol mesh", rl, t2, rate=1000, until="frames", percentile="p99.9",
            sent_rate=990),
        fig("record.latency_ms", 2000, "ms", "cobol mesh", rl, t2, rate=10000, until="frames", percentile="p50"),
        fig("record.missing", 3, "count", "cobol mesh", rl, t2, rate=10000, until="frames", sent=200000),
    ]
    lines = report.loadtest_tables(figs)
    text = "\n".join(lines)
    # the newest 1-worker run (10 MiB/s = 10.5 MB/s), 4 workers = 1.70x of it; replication_cost's run is not here
    assert "| 1 | 256 | 10.5 | 1.00x |" in text and "| 4 | 256 | 17.8 | 1.70x |" in text
    assert "| 2.5 |" not in text and "| 5.2 |" not in text
    assert "| kafka zstd | - | - | 6.6 | 42.5 MB | 4.73x |" in text
    assert "| 1 | 2 | 0.33 | 3.1 | 7.1 | yes |" in text and "| 1024 | 2 | 85.3 | 12.6 | 7.4 | yes |" in text
    assert text.index("| 1 | 2 | 0.33") < text.index("| 1024 | 2 |")            # sizes in numeric order
    assert "| 1000 | 990 | frames | 450 | - | 900 | - | - |" in text
    assert "| 10000 | - | frames | 2000 | - | - | - | 3 of 200000 |" in text
    assert text.index("| 1000 | 990 | frames") < text.index("| 10000 | - | frames")
    assert report.loadtest_tables([]) == []
    out = tmp_path / "reports"
    report.build(figs, out)
    readme = (out / "README.md").read_text()
    assert "## Load tests" in readme and "](jobsizes.png)" in readme
    assert (out / "jobsizes.png").read_bytes()[:8] == PNG


def test_latency_plot_puts_percentiles_in_numeric_order(tmp_path, monkeypatch):
    figs = [figures.make(source="a.py", name="api.latency_ms", value=v, unit="ms", peer="cobol api", percentile=p)
            for p, v in (("p50", 5), ("p99", 9))]
    figs += [figures.make(source="b.py", name="record.latency_ms", value=v, unit="ms", peer="cobol mesh",
                          percentile=p, rate=1000) for p, v in (("p50", 1), ("p90", 2), ("p99", 3), ("p99.9", 4))]
    import matplotlib.axes
    seen = {}
    real = matplotlib.axes.Axes.set_xticks

    def spy(self, ticks, labels=None, **kw):
        seen["labels"] = list(labels)
        return real(self, ticks, labels, **kw)
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xticks", spy)
    assert report.plot_latency(figs, tmp_path / "latency.png")
    assert seen["labels"] == ["p50", "p90", "p99", "p99.9"]
