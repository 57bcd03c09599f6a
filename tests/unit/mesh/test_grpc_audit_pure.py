"""What the gRPC audit records (libs/mesh/cobol_mesh/grpc_audit.py), without services."""
from __future__ import annotations

import grpc
import pytest

import services  # noqa: F401  (puts libs/mesh on sys.path)
from cobol_mesh import grpc_audit as ga


class Ctx:
    def __init__(self, code=None, peer="ipv4:127.0.0.1:51234") -> None:
        self._code, self._peer = code, peer

    def code(self):
        return self._code

    def peer(self):
        return self._peer


def test_which_calls_are_audited():
    assert ga.audited("/cobol.v1.Ingest/Upload", "service:api")
    assert ga.audited("/cobol.v1.Ingest/Upload", "user:alice")
    assert ga.audited("/cobol.v1.Federator/Promote", "user:alice")
    assert ga.audited("/cobol.v1.Archive/ReadOriginal", "user:alice")       # a person's download
    assert not ga.audited("/cobol.v1.Archive/ReadOriginal", "service:api")  # the API audits its own
    assert not ga.audited("/cobol.v1.Coordinator/ListJobs", "user:alice")   # reads change nothing
    assert not ga.audited("/cobol.v1.Analytics/Totals", "user:alice")


@pytest.mark.parametrize("code,exc,status,outcome", [
    (None, None, 200, "ok"), (grpc.StatusCode.OK, None, 200, "ok"),
    (grpc.StatusCode.PERMISSION_DENIED, Exception(), 403, "forbidden"),
    (grpc.StatusCode.UNAUTHENTICATED, Exception(), 401, "denied"),
    (grpc.StatusCode.INVALID_ARGUMENT, Exception(), 400, "rejected"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, Exception(), 429, "rate_limited"),
    (None, RuntimeError("boom"), 500, "error"), (grpc.StatusCode.UNAVAILABLE, Exception(), 503, "error"),
])
def test_status_and_outcome(code, exc, status, outcome):
    got = ga.status_of(Ctx(code), exc)
    assert got == status and ga.outcome(got) == outcome


def test_peer_addresses():
    assert ga.peer_address(Ctx(peer="ipv4:10.1.2.3:999")) == "10.1.2.3"
    assert ga.peer_address(Ctx(peer="ipv6:[::1]:4000")) == "::1"
    assert ga.peer_address(Ctx(peer="unix:/tmp/s")) == "unix:/tmp/s"


def test_schema_names_are_checked(monkeypatch):
    monkeypatch.setenv("COBOL_AUDIT_DB_SCHEMA", "api_test_1")
    assert ga.schema() == "api_test_1"
    monkeypatch.setenv("COBOL_AUDIT_DB_SCHEMA", 'x"; drop table api_audit; --')
    with pytest.raises(SystemExit, match="plain lower-case"):
        ga.schema()


def test_a_row_that_cannot_be_written_is_logged_not_raised(capsys):
    log = ga.AuditLog(dsn="postgresql://nobody:x@127.0.0.1:1/none", schema_name="public", instance="t-1")
    log.record(who="alice", method="/cobol.v1.Ingest/Upload", status=200, client="127.0.0.1")
    assert log.flush(30)
    assert "audit_lost" in capsys.readouterr().out
