"""The Dictionary and Federation pages in headless Chromium, with data: the real mesh and API
(api_harness.MeshProcs, which runs a federator) and the federator's store seeded with two
trained versions, their patterns and rounds (tests/integration/federation_seed.py). An admin
sees versions, lineage, the A/B status, searches and sorts patterns, promotes the candidate;
the Federation page shows the budget, convergence and the chart; a viewer gets no controls.
No console errors; a screenshot of each state in .run/artifacts/dashboard-dictionaries/."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpora import ROOT

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from federation_seed import seeded_stack  # noqa: E402

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent
ARTIFACTS = ROOT / ".run" / "artifacts" / "dashboard-dictionaries"
VIEWER_PASSWORD = "quartz-Heron-7141"


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    if not (ROOT / "dashboard" / "dist" / "index.html").is_file():
        pytest.fail("dashboard/dist is not built: run `make setup` (it runs npm ci and npm run build)")
    with seeded_stack(infra, tmp_path_factory.mktemp("dictpages")) as (_mesh, api, seeded):
        yield api, seeded


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    api, seeded = stack
    with api.client() as c:
        r = c.post("/api/users", json={"name": "dict-viewer", "password": VIEWER_PASSWORD, "role": "viewer"})
        assert r.status_code == 201, r.text
        # the first version is current, the second is the A/B candidate the admin will promote
        assert c.post(f"/api/dictionaries/{seeded['first']}/promote").status_code == 200
    tmp = tmp_path_factory.mktemp("dictscenario")
    config = {"url": api.url, "admin": {"user": "admin", "password": api.admin_password},
              "viewer": {"user": "dict-viewer", "password": VIEWER_PASSWORD},
              "artifacts": str(ARTIFACTS), "candidate": seeded["second"]}
    (tmp / "config.json").write_text(json.dumps(config))
    results = tmp / "results.json"
    proc = subprocess.run(["node", str(HERE / "dictionary_scenario.mjs"), str(tmp / "config.json"), str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert results.exists(), f"the browser scenario wrote nothing (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    data = json.loads(results.read_text())
    data["stderr"] = proc.stderr[-5000:]
    return data | {"seeded": seeded, "api": api}


def ok(run: dict, name: str) -> dict:
    s = run["steps"].get(name)
    assert s is not None, f"step {name} did not run; browser stderr:\n{run['stderr']}"
    assert s["ok"], f"step {name} failed:\n{s['error']}"
    return s


def test_dictionary_page_shows_versions_lineage_and_patterns(run):
    s, seeded = ok(run, "dictionaries"), run["seeded"]
    assert s["versions"] == 2
    assert s["lineage"] == seeded["first"]           # the current version, the root of the lineage
    assert s["patterns"] == 25                        # the first page of 41
    assert s["found"] == "\\xff\\xfeERROR café"
    assert s["freqs"] == sorted(s["freqs"]) and len(s["freqs"]) == 25


def test_an_admin_promotes_from_the_page_and_the_server_agrees(run):
    s, seeded = ok(run, "dictionaries"), run["seeded"]
    assert seeded["second"] in s["promoted"]
    with run["api"].client() as c:
        page = c.get("/api/dictionaries").json()
        assert page["state"]["current_id"] == seeded["second"]
        entries = c.get("/api/audit", params={"action": "dictionary.promote", "limit": 10}).json()["items"]
        assert any(e["detail"].get("dictionary_id") == seeded["second"] and e["outcome"] == "ok" for e in entries)


def test_federation_page_shows_budget_convergence_and_chart(run):
    s = ok(run, "federation")
    assert "Privacy budget: ε" in s["budget"] and "of 1.00" in s["budget"]
    assert s["rounds"] >= 3 and s["bars"] >= 2
    assert "Converged at round" in s["convergence"]


def test_a_viewer_has_no_promote_or_roll_back(run):
    s = ok(run, "viewer")
    assert s["promote"] == 0 and s["rollback"] == 0


def test_no_console_errors_and_a_screenshot_of_each_state(run):
    assert run["consoleErrors"] == {}
    names = {Path(p).stem for p in run["screenshots"]}
    assert {"dictionaries-data", "dictionaries-promoted", "federation-data", "dictionaries-viewer"} <= names
    for p in run["screenshots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
