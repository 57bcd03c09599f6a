"""The local phase and the dictionary built from released counts.

Domain. A training discovers frequent byte strings level by level, as in prefix-tree heavy
hitters: level 0 counts all 65,536 byte pairs; level k+1 counts strings of twice the length,
a + b for survivors a, b of level k whose middle (a's second half + b's first half) also
survived (every occurrence of a frequent 2L-string contains those three frequent L-strings).
The candidate list of a round is fixed and public before any node counts: it derives from
the previous DP release only.

Local vector. Each record (a line, at most MAX_RECORD bytes) marks the candidates it contains;
its vector is scaled to L2 norm <= clip (and <= 1 per coordinate) and quantised down onto the
fixed-point grid, so adding or removing one record moves a node's vector by at most `clip`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_RECORD = 512
MIN_DICT_PATTERN = 4


def split_records(data: bytes, max_len: int = MAX_RECORD) -> list[bytes]:
    """Lines without their newline; empty lines dropped, long ones cut at max_len."""
    return [line[:max_len] for line in bytes(data).split(b"\n") if line.strip()]


def pattern_length(level: int) -> int:
    return 2 << level


@dataclass(frozen=True)
class Domain:
    level: int
    candidates: tuple[bytes, ...] = ()      # empty at level 0: every byte pair, in order

    @property
    def length(self) -> int:
        return pattern_length(self.level)

    @property
    def size(self) -> int:
        return 65536 if self.level == 0 else len(self.candidates)

    def text(self, i: int) -> bytes:
        return i.to_bytes(2, "big") if self.level == 0 else self.candidates[i]

    def _index(self) -> dict[bytes, int]:
        idx = getattr(self, "_idx", None)
        if idx is None:
            idx = {c: i for i, c in enumerate(self.candidates)}
            object.__setattr__(self, "_idx", idx)
        return idx

    def present(self, record: bytes) -> np.ndarray:
        """Indices of the candidates that occur in `record` (each once)."""
        n = self.length
        if len(record) < n:
            return np.empty(0, dtype=np.int64)
        if self.level == 0:
            a = np.frombuffer(record, dtype=np.uint8).astype(np.int64)
            return np.unique(a[:-1] * 256 + a[1:])
        idx = self._index()
        hits = {idx[g] for g in (record[i:i + n] for i in range(len(record) - n + 1)) if g in idx}
        return np.fromiter(hits, dtype=np.int64, count=len(hits))


def local_counts(records: list[bytes], domain: Domain, clip: float, scale_bits: int) -> np.ndarray:
    """Σ over records of each record's clipped presence vector, on the fixed-point grid (int64)."""
    out = np.zeros(domain.size, dtype=np.int64)
    one = 1 << scale_bits
    for r in records:
        hit = domain.present(r)
        if len(hit):
            w = min(1.0, clip / math.sqrt(len(hit)))
            out[hit] += int(math.floor(w * one))   # floor: the quantised norm stays <= clip
    return out


def noisy_vector(counts: np.ndarray, sigma: float, scale_bits: int, rng: np.random.Generator) -> np.ndarray:
    """counts + N(0, sigma^2) per coordinate (sigma in count units), as uint64 mod 2^64."""
    noise = np.rint(rng.normal(0.0, sigma, size=counts.shape) * (1 << scale_bits)).astype(np.int64)
    return (counts + noise).astype(np.uint64)


def decode_sum(total: np.ndarray, scale_bits: int) -> np.ndarray:
    """The unmasked uint64 sum back to signed counts (float)."""
    return total.astype(np.uint64).view(np.int64).astype(np.float64) / (1 << scale_bits)


def survivors(domain: Domain, counts: np.ndarray, threshold: float, keep: int) -> dict[bytes, float]:
    """Candidates whose noisy count clears `threshold`, the `keep` largest."""
    idx = np.nonzero(counts >= threshold)[0]
    idx = idx[np.argsort(-counts[idx], kind="stable")][:keep]
    return {domain.text(int(i)): float(counts[i]) for i in idx}


def next_domain(level: int, found: dict[bytes, float], max_candidates: int) -> Domain:
    """Level+1 candidates from level's survivors (see the module doc); the most promising
    (by the smallest of the three parts' counts) if there are too many."""
    half = pattern_length(level) // 2
    by_prefix: dict[bytes, list[bytes]] = {}
    for b in found:
        by_prefix.setdefault(b[:half], []).append(b)
    scored = []
    for a, ca in found.items():
        for mid in by_prefix.get(a[half:], ()):
            for b in by_prefix.get(mid[half:], ()):
                scored.append((min(ca, found[mid], found[b]), a + b))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return Domain(level + 1, tuple(sorted(c for _, c in scored[:max_candidates])))


@dataclass(frozen=True)
class Built:
    content: bytes
    patterns: list[tuple[bytes, float, float]]      # text, noisy count, estimated bytes saved


def build_dictionary(found: dict[bytes, float], max_bytes: int) -> Built:
    """Patterns worth most (count x (length - 3)) first, each not inside one already taken;
    a longer pattern that covers taken ones replaces them. Laid out best last, nearest the
    data, where LZ offsets are shortest."""
    ranked = sorted(((c * (len(p) - 3), p, c) for p, c in found.items() if len(p) >= MIN_DICT_PATTERN and c > 0),
                    key=lambda t: (-t[0], t[1]))
    chosen: dict[bytes, tuple[float, float]] = {}
    size = 0
    for saved, p, c in ranked:
        if any(p in q for q in chosen):
            continue
        covered = [q for q in chosen if q in p]
        for q in covered:
            size -= len(q)
            del chosen[q]
        if size + len(p) > max_bytes:
            continue
        chosen[p] = (c, saved)
        size += len(p)
    order = sorted(chosen.items(), key=lambda kv: (kv[1][1], kv[0]))
    content = b"".join(p for p, _ in order)
    return Built(content, [(p, c, s) for p, (c, s) in reversed(order)])


def agreement(previous: bytes, patterns: list[tuple[bytes, float, float]]) -> float:
    """Share of the new version's pattern bytes already present in the previous content."""
    total = sum(len(p) for p, _, _ in patterns)
    if not total:
        return 1.0
    return sum(len(p) for p, _, _ in patterns if p in previous) / total


def assemble(found: dict[bytes, float], min_len: int = 16, min_overlap: int = 8) -> dict[bytes, float]:
    """Longer strings from released ones (post-processing: no privacy cost): two patterns of
    at least min_len bytes whose suffix/prefix overlap by half their length or more are
    joined when the join is unambiguous (a has one successor, b one predecessor); the count of
    a join is the smaller of the two."""
    pats = {p: c for p, c in found.items() if len(p) >= min_len}
    for _ in range(8):
        succ: dict[bytes, list[bytes]] = {}
        pred: dict[bytes, list[bytes]] = {}
        by_prefix: dict[bytes, list[bytes]] = {}
        for p in pats:
            by_prefix.setdefault(p[:min_overlap], []).append(p)
        for a in pats:
            for off in range(1, len(a) - min_overlap + 1):
                if len(a) - off < max(min_overlap, len(a) // 2):
                    break
                for b in by_prefix.get(a[off:off + min_overlap], ()):
                    if b != a and b.startswith(a[off:]) and len(b) > len(a) - off:
                        succ.setdefault(a, []).append(b)
                        pred.setdefault(b, []).append(a)
                if a in succ:
                    break
        joined = {}
        for a, bs in succ.items():
            if len(bs) == 1 and len(pred.get(bs[0], ())) == 1:
                b = bs[0]
                over = next(k for k in range(min(len(a), len(b)), 0, -1) if a.endswith(b[:k]))
                joined[a + b[over:]] = min(pats[a], pats[b])
        new = {p: c for p, c in joined.items() if p not in pats and len(p) <= 4096}
        if not new:
            break
        pats.update(new)
    return {p: c for p, c in pats.items() if p not in found}
