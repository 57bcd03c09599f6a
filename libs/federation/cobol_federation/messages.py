"""Signed protocol messages: Ed25519 over every field that matters, nonces against replay.

A node signs SignedEnvelope(node_id, round_id, stage, nonce, payload); the federator signs
each RoundView it serves. Verification failures, a stale round or a nonce seen before raise
MessageError with the reason (the federator logs it and leaves the node out).
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .proto import fpb

STAGES = ("advertise", "shares", "masked", "unmask")
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MAX_PAYLOAD = 64 << 20


class MessageError(ValueError):
    pass


def valid_node_id(node_id: str) -> str:
    if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
        raise MessageError("node ids are 1-64 characters of [A-Za-z0-9._:-], starting with a letter or digit")
    return node_id


def _digest(node_id: str, round_id: int, stage: str, nonce: bytes, payload: bytes) -> bytes:
    head = f"cobol-federation/v1\0{node_id}\0{round_id}\0{stage}\0".encode()
    return head + len(nonce).to_bytes(2, "big") + nonce + payload


def seal(identity: Ed25519PrivateKey, node_id: str, round_id: int, stage: str, payload: bytes) -> fpb.SignedEnvelope:
    nonce = os.urandom(16)
    return fpb.SignedEnvelope(node_id=node_id, round_id=round_id, stage=stage, nonce=nonce, payload=payload,
                              signature=identity.sign(_digest(node_id, round_id, stage, nonce, payload)))


def verify(env: fpb.SignedEnvelope, public: bytes) -> None:
    if env.stage not in STAGES:
        raise MessageError(f"unknown stage {env.stage!r}")
    if len(env.nonce) != 16:
        raise MessageError("the nonce must be 16 bytes")
    if len(env.payload) > MAX_PAYLOAD:
        raise MessageError("payload too large")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            env.signature, _digest(env.node_id, env.round_id, env.stage, env.nonce, env.payload))
    except (InvalidSignature, ValueError):
        raise MessageError("bad signature (tampered, or not signed by this node's identity key)") from None


class ReplayGuard:
    """Remembers the nonces of the open rounds; a nonce seen twice is a replay."""

    def __init__(self) -> None:
        self._seen: dict[int, set[bytes]] = {}
        self._lock = threading.Lock()

    def check(self, round_id: int, nonce: bytes) -> None:
        with self._lock:
            seen = self._seen.setdefault(round_id, set())
            if nonce in seen:
                raise MessageError("replayed message (nonce already seen in this round)")
            seen.add(nonce)

    def forget_before(self, round_id: int) -> None:
        with self._lock:
            for r in [r for r in self._seen if r < round_id]:
                del self._seen[r]


def sign_view(identity: Ed25519PrivateKey, view: fpb.RoundView) -> fpb.RoundView:
    view.signature = b""
    view.signature = identity.sign(b"cobol-federation/view\0" + view.SerializeToString(deterministic=True))
    return view


def verify_view(view: fpb.RoundView, public: bytes) -> None:
    body = fpb.RoundView()
    body.CopyFrom(view)
    body.signature = b""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            view.signature, b"cobol-federation/view\0" + body.SerializeToString(deterministic=True))
    except (InvalidSignature, ValueError):
        raise MessageError("round view with a bad federator signature") from None


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_identity(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 identity key at `path`, created (mode 0600) on first use."""
    try:
        return Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    except FileNotFoundError:
        pass
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption()))
    os.replace(tmp, path)
    return key
