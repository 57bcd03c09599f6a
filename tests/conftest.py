"""Shared test helpers: where the corpora are, and the repo root."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPORA = (ROOT / ".." / "shared" / "corpora").resolve()


def corpus_files(group: str | None = None) -> list[Path]:
    base = CORPORA / group if group else CORPORA
    return sorted(p for p in base.rglob("*") if p.is_file() and p.name != "README.md")


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the shared corpora are missing at {CORPORA}: clone the project beside ../shared")
    return CORPORA
