"""The dashboard's component tests (Vitest + jsdom, dashboard/src/**/*.test.tsx), run by
`make test` through pytest so that CI runs them with everything else."""
from __future__ import annotations

import os
import subprocess

from corpora import ROOT

DASH = ROOT / "dashboard"


def test_vitest_component_tests_pass():
    assert (DASH / "node_modules" / ".bin" / "vitest").exists(), "run `make setup` (npm ci in dashboard/)"
    gen = subprocess.run(["node", "scripts/gen-api.mjs"], cwd=DASH, capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert gen.returncode == 0, gen.stderr
    proc = subprocess.run(["npx", "vitest", "run", "--reporter=dot"], cwd=DASH, capture_output=True, text=True,
                          timeout=1200, stdin=subprocess.DEVNULL, env=os.environ | {"CI": "true", "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
