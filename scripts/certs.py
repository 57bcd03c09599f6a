#!/usr/bin/env python3
"""A local certificate authority and one certificate per mesh identity, for gRPC mTLS.

    scripts/certs.py [--dir DIR] [--force]

Writes DIR/ca.crt (+ ca.key) and DIR/<identity>.crt/.key for every service of topology.yaml
and for `client` (tools and people: it proves nothing but "holds a mesh certificate"; such a
caller must still present a bearer token or API key). DIR defaults to $COBOL_CERT_DIR or
.data/certs. Keys are written 0600. Idempotent: valid certificates signed by the current CA
are kept; `--force` makes new ones (and a new CA). On Kubernetes the same files come from a
Secret instead. Certificates name `cobol.mesh`, `localhost`, the identity and 127.0.0.1, so
every client verifies the server with the target name `cobol.mesh` whatever the address.
"""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh")]

VALID_DAYS = 825
RENEW_DAYS = 30
TARGET_NAME = "cobol.mesh"


def identities() -> list[str]:
    from cobol_mesh import topology

    return [*topology.load().services, "client"]


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=RENEW_DAYS)


def make_ca(d: Path, force: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    crt, key = d / "ca.crt", d / "ca.key"
    if not force and crt.exists() and key.exists():
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        if _fresh(cert):
            return cert, serialization.load_pem_private_key(key.read_bytes(), None), False
    now = dt.datetime.now(dt.timezone.utc)
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cobol Protocol local mesh CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(k, hashes.SHA256()))
    _write(key, _key_pem(k), private=True)
    _write(crt, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return cert, k, True


def make_leaf(d: Path, ident: str, ca: x509.Certificate, ca_key, force: bool) -> bool:
    crt, key = d / f"{ident}.crt", d / f"{ident}.key"
    if not force and crt.exists() and key.exists():
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        if _fresh(cert) and cert.issuer == ca.subject:
            try:
                ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
                return False
            except Exception:  # noqa: BLE001 - signed by an older CA: make a new one
                pass
    now = dt.datetime.now(dt.timezone.utc)
    k = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName(TARGET_NAME), x509.DNSName("localhost"),
                                       x509.DNSName(ident), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ident)]))
            .issuer_name(ca.subject).public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(key, _key_pem(k), private=True)
    _write(crt, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=None, help="where to write (default $COBOL_CERT_DIR or .data/certs)")
    p.add_argument("--force", action="store_true", help="make a new CA and new certificates")
    args = p.parse_args(argv)
    d = args.dir or Path(os.environ.get("COBOL_CERT_DIR") or ROOT / ".data" / "certs")
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca, ca_key, new_ca = make_ca(d, args.force)
    made = [i for i in identities() if make_leaf(d, i, ca, ca_key, args.force or new_ca)]
    print(f"certs: {d}: CA {'created' if new_ca else 'kept'}; "
          f"{'new: ' + ', '.join(made) if made else 'every certificate valid'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
