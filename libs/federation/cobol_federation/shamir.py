"""t-of-n Shamir secret sharing of 32-byte secrets over GF(2^521 - 1).

Polynomial arithmetic only (no cipher): a random polynomial of degree t-1 with the secret as
its constant term, evaluated at x = 1..n; any t points give the secret back by Lagrange
interpolation at 0, fewer reveal nothing about it.
"""
from __future__ import annotations

import secrets

PRIME = (1 << 521) - 1           # a Mersenne prime, larger than any 32-byte secret
SHARE_BYTES = 66                 # ceil(521 / 8)


class ShamirError(ValueError):
    pass


def split(secret: bytes, t: int, xs: list[int]) -> dict[int, bytes]:
    """Shares of `secret` for the points `xs` (distinct, 1..2^31); any t of them recover it."""
    if not 1 <= t <= len(xs):
        raise ShamirError(f"threshold {t} must be between 1 and the number of shares {len(xs)}")
    if len(set(xs)) != len(xs) or any(not 0 < x < 1 << 31 for x in xs):
        raise ShamirError("share points must be distinct positive integers")
    if len(secret) > 64:
        raise ShamirError("secret too long")
    coeffs = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(t - 1)]
    out = {}
    for x in xs:
        y = 0
        for c in reversed(coeffs):          # Horner
            y = (y * x + c) % PRIME
        out[x] = y.to_bytes(SHARE_BYTES, "big")
    return out


def combine(shares: dict[int, bytes], t: int, length: int = 32) -> bytes:
    """The secret from at least t shares {x: y}; uses the first t (any t agree if honest)."""
    if len(shares) < t:
        raise ShamirError(f"{len(shares)} shares, {t} needed")
    pts = []
    for x, raw in list(shares.items())[:t]:
        if len(raw) != SHARE_BYTES:
            raise ShamirError("malformed share")
        y = int.from_bytes(raw, "big")
        if y >= PRIME or not 0 < x < 1 << 31:
            raise ShamirError("share out of range")
        pts.append((x, y))
    secret = 0
    for i, (xi, yi) in enumerate(pts):
        num, den = 1, 1
        for j, (xj, _) in enumerate(pts):
            if i != j:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        secret = (secret + yi * num * pow(den, -1, PRIME)) % PRIME
    if secret >> (8 * length):
        raise ShamirError("shares do not agree (reconstructed value out of range)")
    return secret.to_bytes(length, "big")
