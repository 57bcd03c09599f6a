"""Pure parts of the API and its CLI client (no services)."""
from __future__ import annotations

import argparse
import json

import pytest

import services  # noqa: F401  (puts libs/mesh and libs/codec on sys.path)
from services.api.grpc_clients import job_to_dict
from services.api.upload import safe_name
from services.api.users import hash_password, verify_password

from cobol_proto import mesh_pb2  # noqa: E402


def test_password_hash_roundtrip_and_format():
    h = hash_password("correct horse", iterations=1000)
    scheme, iters, salt, digest = h.split("$")
    assert scheme == "pbkdf2_sha256" and iters == "1000" and salt and digest
    assert verify_password("correct horse", h)
    assert not verify_password("correct horsE", h)
    assert hash_password("x", 1000) != hash_password("x", 1000)  # salted
    assert not verify_password("x", None, iterations_hint=1000)
    assert not verify_password("x", "garbage")
    assert not verify_password("x", "md5$1$a$b")


@pytest.mark.parametrize("raw,want", [("a.log", "a.log"), ("C:\\x\\y.txt", "y.txt"), ("../../etc/passwd", "passwd"),
                                      ("", "upload"), ("a\nb\x00.log", "ab.log"), ("x" * 300, "x" * 255)])
def test_safe_name(raw, want):
    assert safe_name(raw) == want


def test_job_to_dict():
    j = mesh_pb2.JobStatus(job_id="j1", status="done", progress=1.0, bytes_in=1000, bytes_out=250, name="a.log",
                           source="rest", profile="max", created_at=1_700_000_000.5, finished_at=0)
    d = job_to_dict(j)
    assert d["id"] == "j1" and d["ratio"] == 4.0 and d["finished_at"] is None and d["reason"] is None
    assert d["created_at"].startswith("2023-11-14T22:13:20") and d["created_at"].endswith("Z")
    assert job_to_dict(mesh_pb2.JobStatus(job_id="j2"))["ratio"] is None
    assert job_to_dict(mesh_pb2.JobStatus(job_id="j2"))["status"] == "queued"


def test_cli_register_adds_the_mesh_commands():
    from cobol_mesh import cli_mesh

    p = argparse.ArgumentParser(prog="cobol")
    sub = p.add_subparsers(dest="command", required=True)
    cli_mesh.register(sub)
    a = p.parse_args(["submit", "f.log", "--profile", "balanced", "--wait"])
    assert (a.file, a.profile, a.wait, a.timeout) == ("f.log", "balanced", True, None)
    a = p.parse_args(["fetch", "J", "-o", "-", "--original"])
    assert (a.job, a.output, a.original) == ("J", "-", True)
    assert p.parse_args(["status", "J", "--json"]).json
    with pytest.raises(SystemExit):
        p.parse_args(["fetch", "J"])  # -o is required


def test_client_token_cache(tmp_path, monkeypatch):
    from cobol_mesh import client as c

    monkeypatch.setenv("COBOL_TOKEN_FILE", str(tmp_path / "sub" / "token"))
    c._write_cache({"http://x": {"user": "u", "token": "t", "expires_at": 4e9}})
    f = tmp_path / "sub" / "token"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert json.loads(f.read_text())["http://x"]["token"] == "t"
    api = c.ApiClient("http://x/", user="u")
    assert api._ensure_token() == "t"
    other = c.ApiClient("http://x", user="someone-else", password=None)
    with pytest.raises(c.ApiError, match="not logged in"):
        other._ensure_token()
    api.logout()
    assert "http://x" not in json.loads(f.read_text())
