"""Pure parts of the API and its CLI client (no services)."""
from __future__ import annotations

import argparse
import json
import time

import jwt
import pytest

import services  # noqa: F401  (puts libs/mesh and libs/codec on sys.path)
from cobol_proto import mesh_pb2
from services.api import enums, security
from services.api.grpc_clients import job_to_dict
from services.api.layerstats import LayerCounter
from services.api.routes.jobs import parse_range
from services.api.upload import UploadError, check_field, safe_name


@pytest.fixture(scope="module")
def hasher():
    return security.PasswordHasherBox(time_cost=1, memory_kib=1024)


def test_argon2_roundtrip_and_legacy_pbkdf2_is_rehashed(hasher):
    h = hasher.hash("correct horse battery")
    assert h.startswith("$argon2id$")
    assert hasher.verify("correct horse battery", h) == (True, False)
    assert hasher.verify("correct horse batterY", h) == (False, False)
    legacy = security.hash_pbkdf2("old password 1", iterations=1000)
    assert legacy.startswith("pbkdf2_sha256$1000$")
    assert hasher.verify("old password 1", legacy) == (True, True)      # matches, and must be rehashed
    assert hasher.verify("old password 2", legacy)[0] is False
    assert hasher.verify("x", None) == (False, False)
    assert hasher.verify("x", "garbage")[0] is False
    assert hasher.verify("x", "pbkdf2_sha256$1$a$b")[0] is False       # absurd iteration counts refused


@pytest.mark.parametrize("password,user,ok", [
    ("12345678", "bob", False), ("short", "bob", False), ("password1234", "bob", False),
    ("aaaaaaaaaaaa", "bob", False), ("my-bob-is-great", "bob", False), ("Tr0ub4dor&3-horse", "bob", True),
    ("x" * 1025, "bob", False), ("a\x00bcdefghijk", "bob", False)])
def test_password_policy(password, user, ok):
    problem = security.password_problem(password, user)
    assert (problem is None) == ok
    if problem:
        assert password not in problem   # never echoes the password


def test_access_token_claims_and_refusals():
    tok, ttl = security.issue_access("s" * 40, "ann", "operator", "sid1", 60, all_jobs=True)
    c = security.decode_access("s" * 40, tok)
    assert (c.sub, c.role, c.sid, c.all_jobs, ttl) == ("ann", "operator", "sid1", True, 60)
    assert abs(c.ims / 1000 - time.time()) < 5
    with pytest.raises(jwt.PyJWTError):
        security.decode_access("t" * 40, tok)
    no_typ = jwt.encode({"sub": "a", "role": "admin", "sid": "s", "jti": "j", "iat": int(time.time()),
                         "exp": int(time.time()) + 60, "iss": "cobol-api"}, "s" * 40, algorithm="HS256")
    with pytest.raises(jwt.PyJWTError):
        security.decode_access("s" * 40, no_typ)


def test_api_key_format():
    kid, key = security.new_api_key()
    assert security.api_key_id(key) == kid and len(kid) == 12
    for bad in ("cobol_", "cobol_zzzzzzzzzzzz_" + "a" * 30, "other_" + kid + "_" + "a" * 40, f"cobol_{kid}_short"):
        assert security.api_key_id(bad) is None
    assert security.digest(key) != key and len(security.digest(key)) == 64


def test_enums_come_from_the_proto():
    assert enums.PROFILES == ("fast", "balanced", "max")
    assert enums.ROLES == ("viewer", "operator", "admin")
    assert enums.JOB_STATES == ("queued", "running", "done", "failed")
    assert enums.ROLE_RANK["admin"] > enums.ROLE_RANK["operator"] > enums.ROLE_RANK["viewer"]


@pytest.mark.parametrize("text,want", [("1-4", {1, 2, 3, 4}), ("1,2,6-7", {1, 2, 6, 7}), ("7", {7})])
def test_parse_layers(text, want):
    assert enums.parse_layers(text) == frozenset(want)


@pytest.mark.parametrize("text", ["0", "8", "1-", "4-1", "1,,2", "a", "1-9", "1\x002", ""])
def test_parse_layers_refuses(text):
    with pytest.raises(ValueError):
        enums.parse_layers(text)


@pytest.mark.parametrize("name,value,status", [("profile", "turbo", 422), ("layers", "9", 422),
                                                ("dictionary", "XYZ", 422), ("profile", "fa\x00st", 422)])
def test_check_field_refuses(name, value, status):
    with pytest.raises(UploadError) as e:
        check_field(name, value)
    assert e.value.status == status


def test_check_field_accepts():
    assert check_field("profile", "") == "" and check_field("profile", "max") == "max"
    assert check_field("dictionary", "none") == "none" and check_field("dictionary", "0123456789abcdef")
    assert check_field("layers", "1,2,6-7") == "1,2,6-7"


@pytest.mark.parametrize("header,size,want", [
    (None, 10, None), ("bytes=0-3", 10, (0, 3)), ("bytes=5-", 10, (5, 9)), ("bytes=-4", 10, (6, 9)),
    ("bytes=2-100", 10, (2, 9)), ("bytes=0-1,4-5", 10, None), ("items=0-1", 10, None), ("bytes=-", 10, None)])
def test_parse_range(header, size, want):
    assert parse_range(header, size) == want


@pytest.mark.parametrize("header,size", [("bytes=10-", 10), ("bytes=5-2", 10), ("bytes=-0", 10), ("bytes=0-0", 0)])
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(ValueError):
        parse_range(header, size)


def test_layer_counter_reads_a_real_container_in_any_pieces():
    from cobol_codec import compress
    from cobol_codec.errors import CorruptFrameError

    data = b"".join(f"2026-11-30T00:{i % 60:02d}:00Z INFO worker-{i % 7} took {i * 13 % 997} ms\n".encode()
                    for i in range(4000))
    blob = compress(data, "balanced")
    whole = LayerCounter()
    whole.feed(blob)
    r = whole.finish()
    assert r["bytes_in"] == len(data) and r["frames"] >= 1 and r["bytes_out"] <= len(blob)
    assert r["layers"] and all(row["bytes_in"] >= 0 for row in r["layers"])
    pieces = LayerCounter()
    for i in range(0, len(blob), 7):
        pieces.feed(blob[i:i + 7])
    assert pieces.finish() == r
    cut = LayerCounter()
    cut.feed(blob[:len(blob) // 2])   # inside a frame
    with pytest.raises(CorruptFrameError):
        cut.finish()
    with pytest.raises(CorruptFrameError):
        LayerCounter().feed(b"NOPE" + blob[4:])


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
    assert job_to_dict(mesh_pb2.JobStatus(job_id="j3", status="weird"))["status"] == "queued"


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


def test_api_lifts_its_file_descriptor_limit_for_many_sockets():
    import resource

    from services.api.__main__ import raise_fd_limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        got = raise_fd_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got
        assert got == hard or (hard == resource.RLIM_INFINITY and got >= 1 << 20)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
