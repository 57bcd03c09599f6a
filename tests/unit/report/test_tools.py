"""Pure parts of the measuring tools: the traced-layer finder of scripts/coverage_run.py and the
on-disk byte count of loadtests/kafka_peer.py."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "loadtests")]

import coverage_run  # noqa: E402


def test_finder_loads_only_layer_modules_from_the_coverage_folder(tmp_path, monkeypatch):
    real = next((ROOT / "libs" / "codec" / "cobol_codec" / "codecs" / "tokens").glob("tokens*" + coverage_run.EXT))
    (tmp_path / "codecs" / "tokens").mkdir(parents=True)
    shutil.copy(real, tmp_path / "codecs" / "tokens" / real.name)
    monkeypatch.setenv("COBOL_COVERAGE_LAYERS", str(tmp_path))
    before = list(sys.meta_path)
    exec(compile(coverage_run.SITECUSTOMIZE.format(ext=coverage_run.EXT), "sitecustomize.py", "exec"), {})
    try:
        finder = sys.meta_path[0]
        assert finder not in before
        spec = finder.find_spec("cobol_codec.codecs.tokens.tokens")
        assert spec is not None and Path(spec.origin) == tmp_path / "codecs" / "tokens" / real.name
        for name in ("cobol_codec.codecs", "cobol_codec.codecs.tokens", "cobol_codec.codecs.tokens.missing",
                     "other.codecs.tokens.tokens", "cobol_codec.codecs.tokens.tokens.sub"):
            assert finder.find_spec(name) is None, name
    finally:
        sys.meta_path[:] = before


def test_finder_does_nothing_without_its_variable(monkeypatch):
    monkeypatch.delenv("COBOL_COVERAGE_LAYERS", raising=False)
    before = list(sys.meta_path)
    exec(compile(coverage_run.SITECUSTOMIZE.format(ext=coverage_run.EXT), "sitecustomize.py", "exec"), {})
    try:
        assert sys.meta_path[0].find_spec("cobol_codec.codecs.tokens.tokens") is None
    finally:
        sys.meta_path[:] = before


def test_each_layer_mode_writes_its_own_config_and_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(coverage_run, "WORK", tmp_path / "work")
    monkeypatch.setattr(coverage_run, "SITE", tmp_path / "site")
    monkeypatch.setattr(coverage_run, "BUILD", tmp_path / "build")
    monkeypatch.delenv("COBOL_COVERAGE_LAYERS", raising=False)
    rc, env = coverage_run.write_support("none")
    text = rc.read_text()
    assert "Cython.Coverage" not in text and "build/trace" not in text
    assert "services" in text and "libs/mesh/cobol_mesh" in text and "branch = true" in text
    assert "COBOL_COVERAGE_LAYERS" not in env and not (tmp_path / "site").exists()
    rc, env = coverage_run.write_support("gcov")            # gcc counts the layers: no plugin
    assert "Cython.Coverage" not in rc.read_text() and "build/trace" not in rc.read_text()
    assert env["COBOL_COVERAGE_LAYERS"] == str(tmp_path / "build" / "gcov" / "cobol_codec")
    assert env["PYTHONPATH"].startswith(str(tmp_path / "site"))
    assert (tmp_path / "work" / "layers").read_text() == "gcov"
    rc, env = coverage_run.write_support("trace")
    assert "plugins = Cython.Coverage" in rc.read_text() and "build/trace/cobol_codec" in rc.read_text()
    assert env["COBOL_COVERAGE_LAYERS"] == str(tmp_path / "build" / "trace" / "cobol_codec")


def test_layer_lines_join_the_totals_without_branches():
    t = {"covered_lines": 80, "num_statements": 100, "covered_branches": 10, "num_branches": 20,
         "percent_covered": 75.0}
    py = ("services/x.py", {"summary": {"percent_covered": 75.0}})
    layers = {"cobol_codec/codecs/a/a.pyx": {1: True, 2: True, 3: False, 4: False},
              "cobol_codec/codecs/common.pxd": {7: True}}
    t2, rows, (n, run) = coverage_run.with_layers(t, [py], layers)
    assert (n, run) == (5, 3)
    assert t2["covered_lines"] == 83 and t2["num_statements"] == 105 and t2["num_branches"] == 20
    assert t2["percent_covered"] == 100 * (83 + 10) / (105 + 20)
    assert t["covered_lines"] == 80                           # the input is left alone
    assert [r[0] for r in rows] == ["libs/codec/cobol_codec/codecs/a/a.pyx", "services/x.py",
                                    "libs/codec/cobol_codec/codecs/common.pxd"]
    assert rows[0][1]["summary"]["missing_lines"] == 2


def test_an_unknown_layer_mode_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("COVERAGE_LAYERS", "everything")
    try:
        coverage_run.main([])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("accepted COVERAGE_LAYERS=everything")
    assert "COVERAGE_LAYERS='everything'" in capsys.readouterr().err


def test_kafka_peer_counts_log_segments_of_its_topic_only(tmp_path, monkeypatch):
    import kafka_peer
    nodes = [{"name": f"kafka-{i}"} for i in (1, 2, 3)]
    monkeypatch.setattr(kafka_peer.infra, "DATA", tmp_path)
    monkeypatch.setattr(kafka_peer.infra, "kafka_nodes", lambda: nodes)
    topic = "peer.ab12cd.text.zstd"
    sizes = {"kafka-1": 100, "kafka-2": 100, "kafka-3": 60}        # kafka-3 still catching up
    for node, size in sizes.items():
        part = tmp_path / node / f"{topic}-0"
        part.mkdir(parents=True)
        (part / "00000000000000000000.log").write_bytes(b"x" * size)
        (part / "00000000000000000000.index").write_bytes(b"i" * 4096)     # preallocated: not data
        other = tmp_path / node / f"{topic}.more-0"                          # another topic's name
        other.mkdir()
        (other / "00000000000000000000.log").write_bytes(b"y" * 999)
    assert kafka_peer.stored_bytes(topic) == 260
    assert kafka_peer.leader_bytes(topic) == 100


def test_kafka_peer_records_cover_the_data_exactly():
    import kafka_peer
    data = [bytes([i]) * 1000 for i in range(5)]
    recs = kafka_peer.records(data, 1)
    assert [len(r) for r in recs] == [1024, 1024, 1024, 1024, 904]
    assert b"".join(recs) == b"".join(data)


def test_scaling_model_partition_split_and_bounds():
    import scaling_model as sm
    # six partitions: even for 1, 2, 3, 6 workers; 75% for 4, 60% for 5; nothing past 6
    assert [sm.effective_workers(w, 6) for w in (1, 2, 3, 4, 5, 6, 7, 12)] == [1, 2, 3, 3, 3, 6, 6, 6]
    m = sm.model(10, 2, 17.7, 31.4, 8.0)
    assert m["partitions"] == 60 and m["effective_workers"] == 20
    assert round(m["low_mbs"]) == 354 and round(m["high_mbs"]) == 628
    assert m["brokers"] == (3, 3)                      # never fewer than the replication factor
    big = sm.model(100, 2, 17.7, 31.4, 8.0)
    assert big["brokers"] == (15, 27)
    assert sm.broker_bytes_per_input(1.0) == 6.0       # random data: nothing saved on the frames
    capped = sm.model(10, 2, 17.7, 31.4, 8.0, partitions=6)
    assert round(capped["low_mbs"], 1) == round(6 * 17.7, 1)


def test_scaling_model_refuses_bad_arguments(capsys):
    import pytest
    import scaling_model as sm
    for argv in (["--nodes", "ten"], ["--nodes", "0"], ["--ratio", "0.5"], ["--cores", "0"]):
        with pytest.raises(SystemExit) as e:
            sm.main(argv)
        assert e.value.code == 2
    assert "error" in capsys.readouterr().err
