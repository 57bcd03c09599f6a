"""`cobol federate simulate` refuses bad arguments with a clear message and exit code 2,
before starting anything."""
from __future__ import annotations

import pytest

from cobol_codec.cli import main


@pytest.fixture
def dirs(tmp_path):
    out = []
    for i in range(3):
        d = tmp_path / f"n{i}"
        d.mkdir()
        (d / "a.log").write_bytes(b"line one\nline two\n" * 10)
        out.append(str(d))
    (tmp_path / "empty").mkdir()
    return out, tmp_path


@pytest.mark.parametrize("extra,message", [
    (["--nodes", "1"], "at least 2"),
    (["--nodes", "2"], "one directory per node"),
    (["--rounds", "0"], "--rounds"),
    (["--rounds", "7"], "--rounds"),
    (["--epsilon", "0"], "--epsilon"),
    (["--epsilon", "nan"], "--epsilon"),
    (["--delta", "0.5"], "--delta"),
    (["--dropouts", "1"], "--dropouts"),
    (["--chunk-sizes", "4096,x"], "not an integer"),
    (["--holdout", "0.99"], "--holdout"),
])
def test_bad_arguments(dirs, capsys, extra, message):
    data, tmp = dirs
    argv = ["federate", "simulate", "--nodes", "3", "--data", *data, "--out", str(tmp / "o.dict"), *extra]
    if "--nodes" in extra:
        argv = ["federate", "simulate", "--data", *data, "--out", str(tmp / "o.dict"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp / "o.dict").exists()


def test_bad_directories_and_outputs(dirs, capsys):
    data, tmp = dirs
    base = ["federate", "simulate", "--nodes", "3"]
    assert main(base + ["--data", data[0], data[1], str(tmp / "missing"), "--out", str(tmp / "o")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(base + ["--data", data[0], data[1], str(tmp / "empty"), "--out", str(tmp / "o")]) == 2
    assert "no non-empty file" in capsys.readouterr().err
    assert main(base + ["--data", data[0], data[0], data[1], "--out", str(tmp / "o")]) == 2
    assert "distinct" in capsys.readouterr().err
    (tmp / "exists").write_bytes(b"x")
    assert main(base + ["--data", *data, "--out", str(tmp / "exists")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(base + ["--data", *data, "--out", str(tmp / "nodir" / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["federate", "promote", "../../etc/passwd", "--federator", "127.0.0.1:1"]) == 2
    assert "16 lower-case hex" in capsys.readouterr().err
