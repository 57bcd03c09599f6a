"""scripts/certs.py: a CA and one certificate per topology service plus `client`, private keys
0600, idempotent, renewed when the CA changes; grpc_auth reads them."""
from __future__ import annotations

import importlib.util
import os

from cryptography import x509

from corpora import ROOT

spec = importlib.util.spec_from_file_location("certs", ROOT / "scripts" / "certs.py")
certs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(certs)


def test_certs_are_made_once_with_private_keys_and_the_mesh_name(tmp_path, monkeypatch):
    d = tmp_path / "certs"
    assert certs.main(["--dir", str(d)]) == 0
    names = set(certs.identities())
    assert {"api", "ingest", "coordinator", "archive", "compressor", "client"} <= names
    for n in names | {"ca"}:
        assert (d / f"{n}.crt").exists() and oct((d / f"{n}.key").stat().st_mode & 0o777) == "0o600"
    leaf = x509.load_pem_x509_certificate((d / "api.crt").read_bytes())
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "api"
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "cobol.mesh" in sans.get_values_for_type(x509.DNSName)
    before = {n: (d / f"{n}.crt").read_bytes() for n in names}
    certs.main(["--dir", str(d)])                                   # idempotent
    assert before == {n: (d / f"{n}.crt").read_bytes() for n in names}
    certs.main(["--dir", str(d), "--force"])                        # a new CA re-issues everything
    assert all(before[n] != (d / f"{n}.crt").read_bytes() for n in names)

    from cobol_mesh import grpc_auth

    monkeypatch.setenv("COBOL_CERT_DIR", str(d))
    monkeypatch.setenv("COBOL_INSTANCE", "archive-2")
    monkeypatch.delenv("COBOL_GRPC_IDENTITY", raising=False)
    assert grpc_auth.identity() == "archive"
    monkeypatch.setenv("COBOL_INSTANCE", "dev-1")
    assert grpc_auth.identity() == "client"
    assert grpc_auth.channel_credentials("api") is not None
    os.remove(d / "api.key")
    try:
        grpc_auth.channel_credentials("api")
    except grpc_auth.CertError as exc:
        assert "make setup" in str(exc)
    else:
        raise AssertionError("a missing key must be a clear error")
