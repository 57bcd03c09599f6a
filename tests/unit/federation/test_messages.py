"""Signed envelopes: a tampered field or a replayed nonce is refused."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cobol_federation import messages
from cobol_federation.proto import fpb


def test_tampered_envelopes_fail_verification():
    k = Ed25519PrivateKey.generate()
    pub = messages.public_bytes(k)
    env = messages.seal(k, "node-1", 5, "masked", b"payload")
    messages.verify(env, pub)
    for field, value in (("payload", b"payloaX"), ("round_id", 6), ("node_id", "node-2"), ("stage", "unmask")):
        bad = fpb.SignedEnvelope()
        bad.CopyFrom(env)
        setattr(bad, field, value)
        with pytest.raises(messages.MessageError):
            messages.verify(bad, pub)
    with pytest.raises(messages.MessageError):
        messages.verify(env, messages.public_bytes(Ed25519PrivateKey.generate()))


def test_replayed_nonce_is_refused():
    g = messages.ReplayGuard()
    g.check(1, b"n" * 16)
    with pytest.raises(messages.MessageError, match="replayed"):
        g.check(1, b"n" * 16)
    g.check(2, b"n" * 16)


def test_views_are_signed():
    k = Ed25519PrivateKey.generate()
    v = messages.sign_view(k, fpb.RoundView(round_id=3, stage="masked"))
    messages.verify_view(v, messages.public_bytes(k))
    v.members.append("intruder")
    with pytest.raises(messages.MessageError):
        messages.verify_view(v, messages.public_bytes(k))


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x" * 65, "nul\0", "new\nline", "ünï"])
def test_hostile_node_ids(bad):
    with pytest.raises(messages.MessageError):
        messages.valid_node_id(bad)
