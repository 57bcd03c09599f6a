"""The `cobol` command as a user runs it: files, pipes, stats, dictionaries, and clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpora import CORPORA, ROOT

COBOL = [sys.executable, "-m", "cobol_codec.cli"]


def run(*args, input=None, check=True):
    proc = subprocess.run([*COBOL, *map(str, args)], input=input, capture_output=True, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"cobol {args} failed: {proc.stderr.decode()}")
    return proc


@pytest.fixture()
def sample(tmp_path, corpora) -> Path:
    p = tmp_path / "hdfs.log"
    p.write_bytes((CORPORA / "loghub" / "HDFS_2k.log").read_bytes())
    return p


@pytest.mark.parametrize("profile", ["fast", "balanced", "max"])
def test_file_round_trip(tmp_path, sample, profile):
    run("compress", sample, "--profile", profile)
    packed = Path(str(sample) + ".cobol")
    assert packed.stat().st_size < sample.stat().st_size / 4
    out = tmp_path / "restored.log"
    run("decompress", packed, "-o", out)
    assert out.read_bytes() == sample.read_bytes()


def test_pipes(sample):
    packed = run("compress", "-", "-o", "-", input=sample.read_bytes()).stdout
    assert run("decompress", "-", input=packed).stdout == sample.read_bytes()


def test_default_names_and_no_overwrite(tmp_path, sample):
    run("compress", sample)
    proc = run("compress", sample, check=False)
    assert proc.returncode == 1 and b"already exists" in proc.stderr
    sample.unlink()
    run("decompress", str(sample) + ".cobol")
    assert sample.exists()


def test_stats_and_json(sample):
    proc = run("compress", sample, "-o", "-", "--json")
    report = json.loads(proc.stderr)
    assert report["bytes_in"] == sample.stat().st_size
    assert report["bytes_out"] == len(proc.stdout)
    assert report["layers"] and all({"layer", "bytes_in", "bytes_out", "seconds"} <= set(r) for r in report["layers"])
    text = run("compress", sample, "-o", os.devnull, "--stats").stderr.decode()
    assert "ratio" in text and "L7" in text


def test_missing_input_is_a_clear_error(tmp_path):
    proc = run("compress", tmp_path / "nope", check=False)
    assert proc.returncode == 1 and b"no such file" in proc.stderr


def test_corrupt_input_leaves_no_output(tmp_path, sample):
    run("compress", sample)
    packed = Path(str(sample) + ".cobol")
    blob = bytearray(packed.read_bytes())
    blob[len(blob) // 2] ^= 0x55
    packed.write_bytes(bytes(blob))
    out = tmp_path / "out.log"
    proc = run("decompress", packed, "-o", out, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith(b"cobol: ")
    assert not out.exists() and not list(tmp_path.glob(".out.log*"))


def test_bad_profile_rejected(sample):
    proc = run("compress", sample, "--profile", "ultra", check=False)
    assert proc.returncode == 2 and b"invalid choice" in proc.stderr


def test_dictionary_train_use_and_mismatch(tmp_path, corpora):
    lines = (CORPORA / "loghub" / "OpenSSH_2k.log").read_bytes().splitlines(keepends=True)
    train = tmp_path / "train.log"
    train.write_bytes(b"".join(lines[:1500]))
    other = tmp_path / "other.log"
    other.write_bytes((CORPORA / "loghub" / "Apache_2k.log").read_bytes())
    dict_path = tmp_path / "ssh.dict"
    run("dict", "train", train, "-o", dict_path, "--size", 16384, "--split-lines")
    wrong = tmp_path / "apache.dict"
    run("dict", "train", other, "-o", wrong, "--size", 16384)
    info = json.loads(run("dict", "info", dict_path).stdout)
    assert info["bytes"] <= 16384 and len(info["id"]) == 16

    record = tmp_path / "record.log"
    record.write_bytes(lines[1700])
    run("compress", record, "--dict", dict_path, "--profile", "max")
    plain = run("compress", record, "-o", "-", "--profile", "max").stdout
    packed = Path(str(record) + ".cobol")
    assert packed.stat().st_size < len(plain), "a trained dictionary must help a single record"
    out = tmp_path / "back.log"
    run("decompress", packed, "-o", out, "--dict", dict_path)
    assert out.read_bytes() == lines[1700]
    proc = run("decompress", packed, "-o", tmp_path / "x", check=False)
    assert proc.returncode == 1 and b"needs dictionary" in proc.stderr
    proc = run("decompress", packed, "-o", tmp_path / "y", "--dict", wrong, check=False)
    assert proc.returncode == 1 and b"was given" in proc.stderr


def test_help_lists_commands():
    text = run("--help").stdout.decode()
    for cmd in ("compress", "decompress", "dict"):
        assert cmd in text


def test_output_to_a_device_is_written_not_replaced(sample):
    before = os.stat(os.devnull)
    run("compress", sample, "-o", os.devnull)
    after = os.stat(os.devnull)
    assert (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)
