"""cobol_mesh.certs, shared by scripts/certs.py and the operator: what is kept, what is made
again, and that a kept bundle really works for gRPC mTLS between two identities."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509

from cobol_mesh import certs

IDS = ["coordinator", "archive", "client"]


@pytest.fixture(scope="module")
def bundle() -> dict[str, bytes]:
    files, made = certs.bundle(IDS, label="t")
    assert made == ["ca", *IDS]
    return files


def test_a_second_call_keeps_everything(bundle):
    again, made = certs.bundle(IDS, bundle, label="t")
    assert made == [] and again == bundle


def test_a_new_identity_gets_a_pair_and_nothing_else_changes(bundle):
    grown, made = certs.bundle([*IDS, "indexer"], bundle)
    assert made == ["indexer"] and {k: grown[k] for k in bundle} == bundle


@pytest.mark.parametrize("name, value", [
    ("archive.crt", b""), ("archive.crt", b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"),
    ("archive.crt", b"\x00" * 64), ("archive.key", b"garbage"), ("archive.key", None)])
def test_a_broken_leaf_is_made_again_alone(bundle, name, value):
    have = dict(bundle)
    if value is None:
        del have[name]
    else:
        have[name] = value
    files, made = certs.bundle(IDS, have)
    assert made == ["archive"]
    assert certs.usable_leaf("archive", files["archive.crt"], files["archive.key"], files["ca.crt"])
    assert all(files[k] == bundle[k] for k in bundle if not k.startswith("archive."))


def test_a_leaf_is_refused_for_the_wrong_name_key_or_ca(bundle):
    ca = bundle["ca.crt"]
    assert certs.usable_leaf("archive", bundle["archive.crt"], bundle["archive.key"], ca)
    assert not certs.usable_leaf("coordinator", bundle["archive.crt"], bundle["archive.key"], ca)  # other name
    assert not certs.usable_leaf("archive", bundle["archive.crt"], bundle["coordinator.key"], ca)  # other key
    other_ca, other_key = certs.new_ca("other")
    foreign, foreign_key = certs.new_leaf("archive", other_ca, other_key)
    assert not certs.usable_leaf("archive", foreign, foreign_key, ca)                              # other CA
    # same subject, other CA key: the signature check catches it, not just the issuer name
    impostor_ca, impostor_key = certs.new_ca("t")
    forged, forged_key = certs.new_leaf("archive", impostor_ca, impostor_key)
    assert x509.load_pem_x509_certificate(forged).issuer == x509.load_pem_x509_certificate(ca).subject
    assert not certs.usable_leaf("archive", forged, forged_key, ca)


def test_a_broken_ca_reissues_every_leaf(bundle):
    have = dict(bundle, **{"ca.key": certs.new_ca()[1]})          # a key that is not the CA's
    files, made = certs.bundle(IDS, have)
    assert made == ["ca", *IDS] and files["ca.crt"] != bundle["ca.crt"]
    assert all(certs.usable_leaf(i, files[f"{i}.crt"], files[f"{i}.key"], files["ca.crt"]) for i in IDS)


def test_a_certificate_near_its_end_is_renewed(bundle, monkeypatch):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=certs.VALID_DAYS - certs.RENEW_DAYS + 1)
    monkeypatch.setattr(certs, "_now", lambda: later)
    assert not certs.usable_ca(bundle["ca.crt"], bundle["ca.key"])
    assert certs.bundle(IDS, bundle)[1] == ["ca", *IDS]


def test_the_bundle_serves_grpc_mtls(bundle, tmp_path, monkeypatch):
    """A server with one identity's pair and a client with another's talk; a client with a
    certificate of another CA is refused."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from cobol_mesh import grpc_auth
    for name, data in bundle.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setenv("COBOL_CERT_DIR", str(tmp_path))
    server = grpc.server(ThreadPoolExecutor(2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc_auth.server_credentials("coordinator"))
    server.start()
    try:
        with grpc_auth.channel(f"127.0.0.1:{port}", "archive") as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        other = tmp_path / "other"
        other.mkdir()
        files, _ = certs.bundle(["archive"], label="other")
        for name, data in files.items():
            (other / name).write_bytes(data)
        (other / "ca.crt").write_bytes(bundle["ca.crt"])            # trusts the server, but is not trusted
        monkeypatch.setenv("COBOL_CERT_DIR", str(other))
        with grpc_auth.channel(f"127.0.0.1:{port}", "archive") as ch:
            with pytest.raises(grpc.RpcError):
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
    finally:
        server.stop(0)
