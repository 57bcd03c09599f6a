"""Where the shared corpora and the repo are: the one place every test and tool finds them
(importable by every test: pythonpath = tests).

The corpora live beside the project at ../shared/corpora; COBOL_CORPORA points elsewhere
(the Makefile's CORPORA variable sets it). A missing corpus is an error, never an empty list,
so tests built on it fail loudly instead of vanishing from the run."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("COBOL_CORPORA") or ROOT / ".." / "shared" / "corpora").resolve()


class CorporaMissing(RuntimeError):
    pass


def corpus_files(group: str | None = None) -> list[Path]:
    """Every file of the corpora (or of one group), README.md excepted, sorted."""
    base = CORPORA / group if group else CORPORA
    if not base.is_dir():
        raise CorporaMissing(f"the shared corpora are missing at {base}: clone the project beside "
                             "../shared or set COBOL_CORPORA")
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.name != "README.md")
    if not files:
        raise CorporaMissing(f"no corpus files under {base}")
    return files


def corpus_id(path: Path) -> str:
    """A short test id for a corpus file: its path inside the corpora."""
    return str(Path(path).relative_to(CORPORA))
