"""Fixtures of the deployment tests (the helpers are in deploy_support.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_support import HELM, ROOT  # noqa: E402


@pytest.fixture(scope="session")
def helm() -> Path:
    """The real helm binary (`make setup` installs it; installing again is a no-op)."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "install_helm.py")], capture_output=True, text=True)
    assert r.returncode == 0, f"scripts/install_helm.py failed:\n{r.stdout}{r.stderr}"
    return HELM


