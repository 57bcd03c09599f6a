"""Where the shared corpora and the repo are (importable by every test: pythonpath = tests)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = (ROOT / ".." / "shared" / "corpora").resolve()


def corpus_files(group: str | None = None) -> list[Path]:
    base = CORPORA / group if group else CORPORA
    return sorted(p for p in base.rglob("*") if p.is_file() and p.name != "README.md")
