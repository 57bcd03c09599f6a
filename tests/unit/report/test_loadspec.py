"""The load tests' pure logic: comma lists on the command line (loadtests/loadspec.py) and the
nearest-rank percentiles, and the scripts' argument validation (no mesh needed)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "loadtests")]

import loadspec  # noqa: E402


def test_counts_keeps_order_and_bounds():
    assert loadspec.counts("1,2,4", "--workers", 1, 64) == [1, 2, 4]
    assert loadspec.counts(" 1024 , 1,16", "--sizes", 1, 4096) == [1024, 1, 16]
    assert loadspec.counts("7", "--rate", 1, 10) == [7]


@pytest.mark.parametrize("text, message", [
    ("", "at least one"), (" , ", "at least one"), ("1,,2", "empty item"), ("1,", "empty item"),
    ("0", "outside 1..64"), ("65", "outside 1..64"), ("-1", "not a whole number"), ("1.5", "not a whole number"),
    ("x", "not a whole number"), ("２", "not a whole number"), ("1e3", "not a whole number"),
    ("2,2", "given twice"), ("9" * 400, "outside"),
])
def test_counts_refuses_bad_lists_naming_the_option(text, message):
    with pytest.raises(ValueError) as e:
        loadspec.counts(text, "--workers", 1, 64)
    assert str(e.value).startswith("--workers:") and message in str(e.value)


def test_percentile_is_nearest_rank():
    v = [float(i) for i in range(1, 101)]          # 1..100
    assert loadspec.percentile(v, 0.50) == 50
    assert loadspec.percentile(v, 0.99) == 99
    assert loadspec.percentile(v, 0.999) == 100    # fewer than 1,000 values: p99.9 is the max
    assert loadspec.percentile(v, 1.0) == 100
    v1000 = [float(i) for i in range(1, 1001)]
    assert loadspec.percentile(v1000, 0.999) == 999
    assert loadspec.percentile(v1000, 0.5) == 500
    assert loadspec.percentile([3.0], 0.5) == 3.0
    assert loadspec.percentile([1.0, 2.0], 0.5) == 1.0
    assert loadspec.percentile([1.0, 2.0], 0.51) == 2.0


@pytest.mark.parametrize("q", [0, -0.1, 1.01])
def test_percentile_refuses_empty_and_out_of_range(q):
    with pytest.raises(ValueError):
        loadspec.percentile([1.0], q)
    with pytest.raises(ValueError):
        loadspec.percentile([], 0.5)


def test_percentile_names_cover_the_issue():
    assert [n for n, _ in loadspec.PERCENTILES] == ["p50", "p90", "p99", "p99.9", "p100"]


def _parse(module: str, argv: list[str]):
    mod = __import__(module)
    return mod.parse_args(argv)


def test_mesh_throughput_arguments():
    a = _parse("mesh_throughput", [])
    assert a.workers == [1, 2, 4] and a.sizes == [] and a.mib == 256 and a.size_workers == 2
    a = _parse("mesh_throughput", ["--sizes", "1,16,256,1024", "--workers", "2", "--mib", "16"])
    assert a.sizes == [1, 16, 256, 1024] and a.workers == [2] and a.mib == 16


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers: 0 is outside"), (["--sizes", "1,x"], "--sizes: 'x'"),
    (["--sizes", "5000"], "--sizes: 5000 is outside"), (["--mib", "0"], "--mib must be"),
    (["--size-workers", "17"], "--size-workers must be"), (["--workers", "1,1"], "given twice"),
])
def test_mesh_throughput_refuses_bad_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        _parse("mesh_throughput", argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_record_latency_arguments(capsys):
    assert _parse("record_latency", []).rates == [1000]
    assert _parse("record_latency", ["--rate", "1000,5000,10000"]).rates == [1000, 5000, 10000]
    for argv, message in ((["--rate", "0"], "--rate: 0 is outside"), (["--rate", "1000,abc"], "'abc'"),
                          (["--seconds", "0"], "--seconds must be"), (["--devices", "0"], "--devices must be")):
        with pytest.raises(SystemExit) as e:
            _parse("record_latency", argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
