"""Secure aggregation after Bonawitz et al. (CCS 2017) with SecAgg+'s sparse graph (Bell et
al., CCS 2020): the server learns the sum of the nodes' vectors and nothing else.

Each node u, per round:
  advertise  two fresh X25519 key pairs (enc: share encryption, mask: pairwise masks), signed
             with its Ed25519 identity key;
  shares     a fresh self-mask seed b_u and its mask private key, each split t-of-k with Shamir
             among its neighbours (itself included), every share AES-GCM encrypted for its
             recipient under HKDF(X25519(enc_u, enc_v));
  masked     y_u = x_u + PRG(b_u) + sum_v ±PRG(HKDF(X25519(mask_u, mask_v))) mod 2^64, the sign
             by id order, so the pairwise masks of two survivors cancel in the sum;
  unmask     for each survivor a share of its seed, for each node that dropped after sharing a
             share of its mask key — never both for one node, and only if at least t survived.
PRG = AES-256-CTR keystream. Every primitive comes from `cryptography`; only the polynomial
arithmetic of Shamir is ours (shamir.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import shamir
from .proto import fpb

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class SecAggError(ValueError):
    """A protocol violation: the message (or the request) is refused, with the reason."""


def raw_public(key) -> bytes:
    return key.public_key().public_bytes(*RAW)


def private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def prg(key: bytes, n: int) -> np.ndarray:
    """n pseudo-random uint64 from a 32-byte key: the AES-256-CTR keystream."""
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return np.frombuffer(enc.update(bytes(8 * n)) + enc.finalize(), dtype="<u8").astype(np.uint64)


def pair_mask_key(sk: X25519PrivateKey, peer_public: bytes, round_id: int, a: str, b: str) -> bytes:
    lo, hi = sorted((a, b))
    shared = sk.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return hkdf(shared, f"cobol-secagg/mask/{round_id}/{lo}/{hi}".encode())


def share_key(sk: X25519PrivateKey, peer_public: bytes, round_id: int, a: str, b: str) -> bytes:
    lo, hi = sorted((a, b))
    shared = sk.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return hkdf(shared, f"cobol-secagg/share/{round_id}/{lo}/{hi}".encode())


def keys_message(round_id: int, node_id: str, enc: bytes, mask: bytes) -> bytes:
    return b"cobol-secagg/keys\0%d\0%s\0" % (round_id, node_id.encode()) + enc + mask


def neighbours(ids: list[str], me: str, degree: int) -> list[str]:
    """SecAgg+'s graph: a circulant graph of `degree` over the sorted ids (everyone if 0 or
    large enough), always including `me`. Symmetric: v in N(u) iff u in N(v)."""
    ids = sorted(ids)
    n = len(ids)
    if degree <= 0 or degree >= n - 1:
        return ids
    i = ids.index(me)
    half = degree // 2
    return sorted({ids[(i + d) % n] for d in range(-half, half + 1)})


def threshold_for(group: int) -> int:
    """Shares needed out of a neighbourhood of `group` (itself included): a strict majority,
    so the server can never gather both a seed and a mask key of one node."""
    return group // 2 + 1


def share_index(ids: list[str], node: str) -> int:
    return sorted(ids).index(node) + 1


def _sign(sign_key: Ed25519PrivateKey, msg: bytes) -> bytes:
    return sign_key.sign(msg)


def verify_keys(k: fpb.NodeKeys, round_id: int) -> None:
    if len(k.enc_public) != 32 or len(k.mask_public) != 32 or len(k.identity_public) != 32:
        raise SecAggError(f"{k.node_id}: keys must be 32-byte X25519/Ed25519 public keys")
    if k.enc_public == k.mask_public:
        raise SecAggError(f"{k.node_id}: the encryption and mask keys must differ")
    try:
        Ed25519PublicKey.from_public_bytes(k.identity_public).verify(
            k.signature, keys_message(round_id, k.node_id, k.enc_public, k.mask_public))
    except InvalidSignature:
        raise SecAggError(f"{k.node_id}: advertised keys carry a bad signature") from None


@dataclass
class SecAggClient:
    """One node's side of one round. Holds its round secrets in memory only."""
    node_id: str
    identity: Ed25519PrivateKey
    round_id: int
    degree: int = 0
    enc: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    mask: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    seed: bytes = field(default_factory=lambda: os.urandom(32))
    keys: dict = field(default_factory=dict)          # node -> NodeKeys (U1)
    group: list = field(default_factory=list)         # my neighbours in U1, me included
    threshold: int = 0
    held: dict = field(default_factory=dict)          # sender -> SharePair (shares I hold)
    u2: list = field(default_factory=list)
    unmasked: bool = False

    def advertise(self) -> fpb.NodeKeys:
        enc, mask = raw_public(self.enc), raw_public(self.mask)
        return fpb.NodeKeys(node_id=self.node_id, enc_public=enc, mask_public=mask,
                            identity_public=raw_public(self.identity),
                            signature=self.identity.sign(keys_message(self.round_id, self.node_id, enc, mask)))

    def share_keys(self, keys: list[fpb.NodeKeys], threshold: int) -> fpb.NodeShares:
        for k in keys:
            verify_keys(k, self.round_id)
        self.keys = {k.node_id: k for k in keys}
        if self.node_id not in self.keys or self.keys[self.node_id].mask_public != raw_public(self.mask):
            raise SecAggError("the key list does not hold this node's own keys")
        masks = [k.mask_public for k in keys]
        if len(set(masks)) != len(masks):
            raise SecAggError("two nodes advertised the same mask key")
        self.group = neighbours(list(self.keys), self.node_id, self.degree)
        if len(self.group) < 2:
            raise SecAggError("a round needs at least two nodes")
        if threshold < threshold_for(len(self.group)) or threshold > len(self.group):
            raise SecAggError(f"threshold {threshold} is unsafe for a group of {len(self.group)}")
        self.threshold = threshold
        ids = sorted(self.keys)
        xs = {v: share_index(ids, v) for v in self.group}
        key_shares = shamir.split(private_bytes(self.mask), threshold, list(xs.values()))
        seed_shares = shamir.split(self.seed, threshold, list(xs.values()))
        out = fpb.NodeShares()
        for v, x in xs.items():
            pair = fpb.SharePair(x=x, mask_key_share=key_shares[x], seed_share=seed_shares[x])
            k = share_key(self.enc, self.keys[v].enc_public, self.round_id, self.node_id, v)
            nonce = os.urandom(12)
            ct = AESGCM(k).encrypt(nonce, pair.SerializeToString(), self._aad(self.node_id, v))
            out.shares.append(fpb.EncryptedShare(sender=self.node_id, recipient=v, nonce=nonce, ciphertext=ct))
        return out

    def _aad(self, sender: str, recipient: str) -> bytes:
        return f"cobol-secagg/aad/{self.round_id}/{sender}/{recipient}".encode()

    def masked_input(self, x: np.ndarray, shares: list[fpb.EncryptedShare], u2: list[str]) -> fpb.NodeMasked:
        """x: uint64 fixed-point vector (noise already added). u2: nodes that completed sharing."""
        if self.node_id not in u2 or any(v not in self.keys for v in u2):
            raise SecAggError("the survivor list names nodes that never advertised keys")
        self.u2 = sorted(set(u2))
        for s in shares:
            if s.recipient != self.node_id or s.sender not in self.group:
                raise SecAggError(f"share from {s.sender} to {s.recipient} is not for this node")
            k = share_key(self.enc, self.keys[s.sender].enc_public, self.round_id, s.sender, self.node_id)
            try:
                pair = fpb.SharePair.FromString(AESGCM(k).decrypt(s.nonce, s.ciphertext, self._aad(s.sender, self.node_id)))
            except (InvalidTag, ValueError):
                raise SecAggError(f"share from {s.sender} fails authentication") from None
            self.held[s.sender] = pair
        missing = [v for v in self.group if v in self.u2 and v not in self.held]
        if missing:
            raise SecAggError(f"no share from {missing} although they completed sharing")
        y = np.asarray(x, dtype=np.uint64) + prg(self.seed, len(x))
        for v in self.group:
            if v == self.node_id or v not in self.u2:
                continue
            m = prg(pair_mask_key(self.mask, self.keys[v].mask_public, self.round_id, self.node_id, v), len(x))
            y = y + m if self.node_id < v else y - m
        return fpb.NodeMasked(length=len(x), vector=y.astype("<u8").tobytes())

    def unmask(self, survivors: list[str], dropped: list[str]) -> fpb.NodeUnmask:
        s, d = set(survivors), set(dropped)
        if self.unmasked:
            raise SecAggError("this round was unmasked already")
        if s & d:
            raise SecAggError("a node is named both survivor and dropped: refusing to reveal both secrets")
        if not s | d <= set(self.u2) or self.node_id not in s:
            raise SecAggError("the unmask request names nodes outside the round")
        if len(s & set(self.group)) < self.threshold:
            raise SecAggError(f"only {len(s & set(self.group))} survivors among my neighbours, {self.threshold} needed")
        self.unmasked = True
        out = fpb.NodeUnmask()
        for v in sorted(s):
            if v in self.held:
                out.seed_shares.append(fpb.RevealedShare(owner=v, x=self.held[v].x, share=self.held[v].seed_share))
        for v in sorted(d):
            if v in self.held:
                out.mask_key_shares.append(fpb.RevealedShare(owner=v, x=self.held[v].x, share=self.held[v].mask_key_share))
        return out


@dataclass
class SecAggServer:
    """The federator's side of one round: checks and routes messages, and sums at the end."""
    round_id: int
    degree: int = 0
    keys: dict = field(default_factory=dict)        # U1
    threshold: int = 0
    shares: dict = field(default_factory=dict)      # sender -> [EncryptedShare]
    masked: dict = field(default_factory=dict)      # U3: node -> np.ndarray
    seed_shares: dict = field(default_factory=dict)     # owner -> {x: share}
    key_shares: dict = field(default_factory=dict)
    unmask_from: set = field(default_factory=set)

    def add_keys(self, k: fpb.NodeKeys) -> None:
        verify_keys(k, self.round_id)
        if k.node_id in self.keys:
            raise SecAggError(f"{k.node_id} advertised keys twice")
        if any(o.mask_public == k.mask_public or o.enc_public == k.enc_public for o in self.keys.values()):
            raise SecAggError(f"{k.node_id} reuses another node's keys")
        self.keys[k.node_id] = k

    def close_advertise(self) -> int:
        n = len(neighbours(list(self.keys), min(self.keys), self.degree)) if self.keys else 0
        self.threshold = threshold_for(n)
        return self.threshold

    def group(self, node: str) -> list[str]:
        return neighbours(list(self.keys), node, self.degree)

    def add_shares(self, sender: str, msg: fpb.NodeShares) -> None:
        if sender not in self.keys:
            raise SecAggError(f"{sender} did not advertise keys in this round")
        if sender in self.shares:
            raise SecAggError(f"{sender} sent shares twice")
        want = set(self.group(sender))
        got = [s.recipient for s in msg.shares]
        if sorted(got) != sorted(want) or any(s.sender != sender for s in msg.shares):
            raise SecAggError(f"{sender}: shares must go to exactly its neighbours, once each")
        if any(len(s.nonce) != 12 or not s.ciphertext for s in msg.shares):
            raise SecAggError(f"{sender}: malformed encrypted share")
        self.shares[sender] = list(msg.shares)

    def u2(self) -> list[str]:
        return sorted(self.shares)

    def shares_for(self, recipient: str) -> list[fpb.EncryptedShare]:
        return [s for sender in self.u2() for s in self.shares[sender] if s.recipient == recipient]

    def add_masked(self, sender: str, msg: fpb.NodeMasked, length: int) -> None:
        if sender not in self.shares:
            raise SecAggError(f"{sender} did not complete the share stage")
        if sender in self.masked:
            raise SecAggError(f"{sender} sent its masked input twice")
        if msg.length != length or len(msg.vector) != 8 * length:
            raise SecAggError(f"{sender}: masked input has {len(msg.vector)} bytes, expected {8 * length}")
        self.masked[sender] = np.frombuffer(msg.vector, dtype="<u8").astype(np.uint64)

    def survivors(self) -> list[str]:
        return sorted(self.masked)

    def dropped(self) -> list[str]:
        return sorted(set(self.shares) - set(self.masked))

    def add_unmask(self, sender: str, msg: fpb.NodeUnmask) -> None:
        if sender not in self.masked:
            raise SecAggError(f"{sender} is not a survivor of this round")
        if sender in self.unmask_from:
            raise SecAggError(f"{sender} sent unmask shares twice")
        surv, drop = set(self.survivors()), set(self.dropped())
        for lst, owners, book in ((msg.seed_shares, surv, self.seed_shares), (msg.mask_key_shares, drop, self.key_shares)):
            for r in lst:
                if r.owner not in owners or sender not in self.group(r.owner):
                    raise SecAggError(f"{sender}: share for {r.owner} does not belong in this request")
                if r.x != share_index(list(self.keys), sender) or len(r.share) != shamir.SHARE_BYTES:
                    raise SecAggError(f"{sender}: malformed share for {r.owner}")
        self.unmask_from.add(sender)
        for r in msg.seed_shares:
            self.seed_shares.setdefault(r.owner, {})[r.x] = r.share
        for r in msg.mask_key_shares:
            self.key_shares.setdefault(r.owner, {})[r.x] = r.share

    def ready(self) -> bool:
        return (all(len(self.seed_shares.get(u, {})) >= self.threshold for u in self.survivors())
                and all(len(self.key_shares.get(v, {})) >= self.threshold for v in self.dropped()))

    def aggregate(self, length: int) -> np.ndarray:
        """The sum of the survivors' inputs (mod 2^64), or SecAggError if shares are missing."""
        if not self.ready():
            raise SecAggError("not enough unmask shares to remove every mask")
        total = np.zeros(length, dtype=np.uint64)
        for u, y in self.masked.items():
            total = total + y - prg(shamir.combine(self.seed_shares[u], self.threshold), length)
        for v in self.dropped():
            sk = X25519PrivateKey.from_private_bytes(shamir.combine(self.key_shares[v], self.threshold))
            if raw_public(sk) != self.keys[v].mask_public:
                raise SecAggError(f"the mask key of dropped node {v} did not reconstruct")
            for w in self.group(v):
                if w == v or w not in self.masked:
                    continue
                m = prg(pair_mask_key(sk, self.keys[w].mask_public, self.round_id, v, w), length)
                total = total - m if w < v else total + m   # w added +m if w < v
        return total
