"""Running scripts/infra.py from tests (a module of its own: several conftest.py files exist,
so `from conftest import` would pick whichever pytest loaded first)."""
from __future__ import annotations

import json
import subprocess
import sys

from corpora import ROOT

INFRA = ROOT / "scripts" / "infra.py"


def run_infra(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run scripts/infra.py with this interpreter (output goes to pytest's capture unless asked)."""
    return subprocess.run([sys.executable, str(INFRA), *args], cwd=ROOT, text=True,
                          capture_output=capture, stdin=subprocess.DEVNULL)


def infra_status() -> dict:
    r = run_infra("status", "--json", capture=True)
    return json.loads(r.stdout)
