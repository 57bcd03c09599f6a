"""Profiles: which layers a frame may use, in what order, and how large frames are.

A stream is coded by every chain its profile lists for its kind and the smallest result is
kept; within a chain each stage may decline. `max` also codes the frame unsplit and keeps
whichever body is smaller, because context mixing on the raw bytes can beat a split.

A user may narrow a profile to a set of layers (`parse_layers("1-4")`): a stage of a layer
outside the set never runs, so `1-4` means structure, delta and bit-packing only (no RLE,
matching or entropy coding). The decoder needs no flag for this: a frame records what ran.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .stages import BITPACK, CM2, DELTA, HUFF, HUFF_PLAIN, LZ_DEEP, LZ_FAST, RLE, RLE_LONG, Stage

MiB = 1 << 20
ALL_LAYERS = frozenset(range(1, 8))
_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def parse_layers(text: str) -> frozenset[int]:
    """`"1-4"`, `"1,2,6-7"`, `"3"` -> the set of layer numbers (1..7). Raises ValueError
    with a message naming the bad part for anything else (empty, out of range, reversed)."""
    if not isinstance(text, str):
        raise ValueError(f"layers must be text such as '1-4' or '1,2,6-7', got {type(text).__name__}")
    if not text.strip():
        raise ValueError("layers list is empty: give layers such as '1-4' or '1,2,6-7'")
    out: set[int] = set()
    for part in text.split(","):
        m = _ITEM.fullmatch(part.strip())
        if m is None:
            raise ValueError(f"bad layers item {part.strip()!r} in {text!r}: use numbers 1-7 and ranges "
                             "such as '1-4' or '1,2,6-7'")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if not (1 <= lo <= 7 and 1 <= hi <= 7):
            raise ValueError(f"layer {hi if not 1 <= hi <= 7 else lo} in {text!r} does not exist: layers are 1 to 7")
        if hi < lo:
            raise ValueError(f"reversed range {part.strip()!r} in {text!r}: write the low layer first")
        out.update(range(lo, hi + 1))
    return frozenset(out)


def layer_set(layers: str | Iterable[int] | None) -> frozenset[int]:
    """Normalises what a caller passes as `layers=`: None (all), text, or layer numbers."""
    if layers is None:
        return ALL_LAYERS
    if isinstance(layers, str):
        return parse_layers(layers)
    try:
        out = frozenset(layers)
    except TypeError:
        raise ValueError(f"layers must be text such as '1-4' or a set of layer numbers, got {layers!r}") from None
    bad = sorted(x for x in out if not isinstance(x, int) or isinstance(x, bool) or not 1 <= x <= 7)
    if bad or not out:
        raise ValueError(f"layers must be numbers 1 to 7 (and at least one), got {sorted(out, key=str)!r}")
    return out


@dataclass(frozen=True)
class Profile:
    name: str
    frame_size: int
    use_l2: bool
    use_l1: bool
    try_unsplit: bool
    bytes_chains: tuple[tuple[Stage, ...], ...]
    ints_chains: tuple[tuple[Stage, ...], ...]
    layers: frozenset[int] = ALL_LAYERS

    def restrict(self, layers: frozenset[int]) -> "Profile":
        """This profile with only the stages of `layers` left (Huffman without L6 codes
        plain bytes, not L6 sub-streams)."""
        layers = frozenset(layers) & self.layers
        if layers == self.layers:
            return self

        def keep(chain):
            out = tuple(s for s in chain if s.layer in layers)
            if 6 not in layers:
                out = tuple(HUFF_PLAIN if s is HUFF else s for s in out)
            return out
        return replace(self, use_l2=self.use_l2 and 2 in layers, use_l1=self.use_l1 and 1 in layers,
                       bytes_chains=tuple(dict.fromkeys(keep(c) for c in self.bytes_chains)),
                       ints_chains=tuple(dict.fromkeys(keep(c) for c in self.ints_chains)),
                       layers=layers)


PROFILES = {
    "fast": Profile(
        "fast", 1 * MiB, use_l2=True, use_l1=False, try_unsplit=False,
        bytes_chains=((LZ_FAST, HUFF),),
        ints_chains=((DELTA, BITPACK), (BITPACK,)),
    ),
    "balanced": Profile(
        "balanced", 4 * MiB, use_l2=True, use_l1=True, try_unsplit=False,
        bytes_chains=((RLE, LZ_DEEP, HUFF),),
        ints_chains=((DELTA, BITPACK, HUFF),),
    ),
    "max": Profile(
        "max", 16 * MiB, use_l2=True, use_l1=True, try_unsplit=True,
        bytes_chains=((RLE_LONG, CM2),),
        # context mixing models raw ints better than deltas, except small or smooth series
        ints_chains=((CM2,), (BITPACK, CM2), (DELTA, BITPACK, CM2)),
    ),
}


def frame_size_for(name: str, size: int | None, threads: int) -> int | None:
    """The frame size that lets `threads` threads share an input of `size` bytes: the
    profile's own when it already yields a frame per thread (or the size is unknown),
    else one frame per thread of at least 1 MiB. None means the profile's default."""
    if threads <= 1 or size is None:
        return None
    return min(get(name).frame_size, max(-(-size // threads), 1 * MiB))


def get(name: str, layers: str | Iterable[int] | None = None) -> Profile:
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}") from None
    return profile.restrict(layer_set(layers)) if layers is not None else profile
