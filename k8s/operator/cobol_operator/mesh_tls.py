"""The mesh's gRPC mTLS certificates on Kubernetes: one CA per cluster, one pair per service.

Unless the spec names a Secret of its own (`spec.tls.secretName`: the user's, never written
here), the operator keeps two Secrets, both owned by the cluster:
  <cluster>-mesh-ca     ca.crt + ca.key (mounted nowhere; only the operator reads it)
  <cluster>-mesh-certs  ca.crt + <service>.crt/.key for every service of the topology and
                        `client` (each pod mounts ca.crt and its own pair only)
They are made with cobol_mesh.certs (as scripts/certs.py makes the local ones) and kept as
long as they are valid: a reconcile of an unchanged cluster rewrites nothing. A service new
in the topology gets its pair; a certificate near its end is made again.
"""
from __future__ import annotations

import base64
import binascii
import hashlib

from cobol_mesh import certs
from cobol_mesh.topology import Topology

from . import render
from .kube import Kube, path


def identities(topo: Topology) -> list[str]:
    return [*topo.services, "client"]


def required_files(topo: Topology) -> list[str]:
    """What a user-supplied Secret must hold (the CA's key is not needed)."""
    return ["ca.crt", *(f"{s}.{ext}" for s in topo.services for ext in ("crt", "key"))]


def secret_files(secret: dict | None) -> dict[str, bytes]:
    """A Secret's files as bytes (`data` is base64; emulators may keep `stringData`)."""
    out: dict[str, bytes] = {}
    for k, v in ((secret or {}).get("stringData") or {}).items():
        out[k] = str(v).encode()
    for k, v in ((secret or {}).get("data") or {}).items():
        try:
            out[k] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            out[k] = b""                   # unreadable: treated as missing, made again
    return out


def digest(files: dict[str, bytes]) -> str:
    """Of the certificates (not the keys): pods roll when any of them changes."""
    h = hashlib.sha256()
    for name in sorted(f for f in files if f.endswith(".crt")):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()[:16]


async def ensure(kube: Kube, c: render.Cluster, topo: Topology, logger=None) -> tuple[str | None, list[str]]:
    """Make sure the certificates Secret exists and holds what every pod mounts.
    Returns (digest of the certificates or None, problems for the Degraded condition)."""
    ns = c.namespace
    user = c.spec["tls"].get("secretName")
    if user:
        files = secret_files(await kube.get(path("v1", "Secret", ns, user)))
        if not files:
            return None, [f"Secret {user} (spec.tls.secretName) is missing or empty"]
        lacking = [f for f in required_files(topo) if not files.get(f)]
        if lacking:
            return None, [f"Secret {user} lacks {', '.join(lacking)} (scripts/certs.py makes them)"]
        return digest(files), []

    names = render.secret_names(c)
    ca_path = path("v1", "Secret", ns, names["ca"]["name"])
    certs_path = path("v1", "Secret", ns, names["certs"]["name"])
    ca_secret, certs_secret = await kube.get(ca_path), await kube.get(certs_path)
    have = {**secret_files(certs_secret), **secret_files(ca_secret)}   # the CA's own copy wins
    files, made = certs.bundle(identities(topo), have, label=c.name)
    ca_files = {k: files[k] for k in ("ca.crt", "ca.key")}
    mesh_files = {k: v for k, v in files.items() if k != "ca.key"}
    for secret, where, want in ((ca_secret, ca_path, ca_files), (certs_secret, certs_path, mesh_files)):
        obj = render.tls_secret(c, where.rsplit("/", 1)[1], want)
        if secret is None:
            await kube.request("POST", path("v1", "Secret", ns), obj)
        elif secret_files(secret) != want:
            # a merge patch keeps keys it does not name: remove the ones no longer wanted
            stale = {k: None for k in ((secret.get("data") or {}).keys() | (secret.get("stringData") or {}).keys())
                     if k not in want}
            await kube.patch(where, {"data": {**obj["data"], **stale}, **({"stringData": None}
                                                                            if secret.get("stringData") else {})})
    if made and logger:
        logger.info(f"mesh certificates made: {', '.join(made)}")
    return digest(files), []
