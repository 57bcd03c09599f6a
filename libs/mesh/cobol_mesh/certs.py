"""The mesh's certificate authority and its certificates for gRPC mTLS, in memory (PEM bytes).

One place makes them: scripts/certs.py writes them to a directory (local runs, compose), the
Kubernetes operator puts them in a Secret. Every leaf names `cobol.mesh` (the target name
every client verifies, see grpc_auth), `localhost`, its identity and 127.0.0.1; its common
name is the identity grpc_auth authorises.
"""
from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .grpc_auth import TARGET_NAME

VALID_DAYS = 825
RENEW_DAYS = 30            # a certificate with less left than this is made again
CA_NAME = "Cobol Protocol mesh CA"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate | None:
    """The certificate, or None for bytes that are not one (corrupt, truncated, empty)."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(pem, None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_DAYS)


def new_ca(label: str = "") -> tuple[bytes, bytes]:
    """(ca.crt, ca.key) of a new CA; `label` (a cluster's name) goes into its common name."""
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME} {label}".strip()[:64])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def usable_ca(crt: bytes | None, key: bytes | None) -> bool:
    """Whether (crt, key) is a CA to keep: parses, is not near its end, and the key is its own."""
    cert, k = load_cert(crt or b""), load_key(key or b"")
    if cert is None or k is None or not fresh(cert):
        return False
    return cert.public_key().public_numbers() == k.public_key().public_numbers()


def new_leaf(identity: str, ca_crt: bytes, ca_key: bytes) -> tuple[bytes, bytes]:
    """(crt, key) for one mesh identity, signed by the CA."""
    ca, signer = load_cert(ca_crt), load_key(ca_key)
    if ca is None or signer is None:
        raise ValueError("the CA certificate or key is not valid PEM")
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName(TARGET_NAME), x509.DNSName("localhost"),
                                       x509.DNSName(identity), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(signer, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def usable_leaf(identity: str, crt: bytes | None, key: bytes | None, ca_crt: bytes) -> bool:
    """Whether a leaf is one to keep: names `identity`, is not near its end, was signed by
    this CA, and `key` is its key."""
    cert, k, ca = load_cert(crt or b""), load_key(key or b""), load_cert(ca_crt)
    if cert is None or k is None or ca is None or not fresh(cert) or cert.issuer != ca.subject:
        return False
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != identity:
        return False
    if cert.public_key().public_numbers() != k.public_key().public_numbers():
        return False
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, TypeError):
        return False
    return True


def bundle(identities: list[str], have: dict[str, bytes] | None = None, label: str = "",
           force: bool = False) -> tuple[dict[str, bytes], list[str]]:
    """Every file of the mesh's certificates: ca.crt, ca.key, <identity>.crt/.key.

    `have` (the files as they exist) is kept wherever still usable, so calling this again
    changes nothing; a new CA re-issues every leaf. Returns (files, the names made anew)."""
    have = {} if force else dict(have or {})
    out: dict[str, bytes] = {}
    made: list[str] = []
    if usable_ca(have.get("ca.crt"), have.get("ca.key")):
        out["ca.crt"], out["ca.key"] = have["ca.crt"], have["ca.key"]
    else:
        out["ca.crt"], out["ca.key"] = new_ca(label)
        made.append("ca")
    for ident in identities:
        crt, key = have.get(f"{ident}.crt"), have.get(f"{ident}.key")
        if "ca" in made or not usable_leaf(ident, crt, key, out["ca.crt"]):
            crt, key = new_leaf(ident, out["ca.crt"], out["ca.key"])
            made.append(ident)
        out[f"{ident}.crt"], out[f"{ident}.key"] = crt, key
    return out, made
