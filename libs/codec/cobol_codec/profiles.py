"""Profiles: which layers a frame may use, in what order, and how large frames are.

A stream is coded by every chain its profile lists for its kind and the smallest result is
kept; within a chain each stage may decline. `max` also codes the frame unsplit and keeps
whichever body is smaller, because context mixing on the raw bytes can beat a split.
"""
from __future__ import annotations

from dataclasses import dataclass

from .stages import BITPACK, CM2, DELTA, HUFF, LZ_DEEP, LZ_FAST, RLE, RLE_LONG, Stage

MiB = 1 << 20


@dataclass(frozen=True)
class Profile:
    name: str
    frame_size: int
    use_l2: bool
    use_l1: bool
    try_unsplit: bool
    bytes_chains: tuple[tuple[Stage, ...], ...]
    ints_chains: tuple[tuple[Stage, ...], ...]


PROFILES = {
    "fast": Profile(
        "fast", 1 * MiB, use_l2=True, use_l1=False, try_unsplit=False,
        bytes_chains=((LZ_FAST, HUFF),),
        ints_chains=((DELTA, BITPACK),),
    ),
    "balanced": Profile(
        "balanced", 4 * MiB, use_l2=True, use_l1=True, try_unsplit=False,
        bytes_chains=((RLE, LZ_DEEP, HUFF),),
        ints_chains=((DELTA, BITPACK, HUFF),),
    ),
    "max": Profile(
        "max", 16 * MiB, use_l2=True, use_l1=True, try_unsplit=True,
        bytes_chains=((RLE_LONG, CM2),),
        ints_chains=((DELTA, CM2), (DELTA, BITPACK, CM2)),
    ),
}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}") from None
