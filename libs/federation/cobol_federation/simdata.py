"""A simulated node's data: the files under its directory, split into the records it trains
on and held-out bytes it never shows to anyone (used only to measure ratios)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import patterns

MAX_NODE_BYTES = 256 << 20


@dataclass
class NodeData:
    train: list[bytes]              # records
    heldout: list[bytes]            # one blob per file: the held-out tail of its lines


def files_of(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))


def load(directory: Path, holdout: float) -> NodeData:
    """Each file's lines: the first (1 - holdout) train, the rest are held out."""
    train, held, total = [], [], 0
    for f in files_of(directory):
        raw = f.read_bytes()[:MAX_NODE_BYTES - total]
        total += len(raw)
        lines = raw.split(b"\n")
        cut = int(len(lines) * (1 - holdout))
        train.extend(patterns.split_records(b"\n".join(lines[:cut])))
        if cut < len(lines):
            held.append(b"\n".join(lines[cut:]))
        if total >= MAX_NODE_BYTES:
            break
    return NodeData(train, held)
