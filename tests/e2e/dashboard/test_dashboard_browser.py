"""The dashboard in headless Chromium against real Kafka, Redis, PostgreSQL, the mesh services
and the API serving the built bundle: log in, submit a corpus file from the UI, watch it reach
done live, download result and original, a viewer's limits, every page without console errors,
a screenshot of each (in .run/artifacts/dashboard/)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from corpora import CORPORA, ROOT

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import api_harness as h  # noqa: E402
from mesh_analytics import start_mesh_analytics  # noqa: E402

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent
ARTIFACTS = ROOT / ".run" / "artifacts" / "dashboard"
CORPUS = CORPORA / "loghub" / "Apache_2k.log"
# pages whose errors are the point of the step (a refused token, a refused upload)
# the API refuses passwords under 10 characters, common ones and ones containing the user name
VIEWER_PASSWORD = "quartz-Heron-7141"
# (an analytics worker runs on this module's mesh: the analytics page and the cluster page's edge
# rates load without errors; test_analytics_keys_browser.py checks the analytics figures themselves)
EXPECTED_ERRORS = {"login-refused", "expiry", "viewer-api-probe"}


def _port_taken(exc: Exception) -> bool:
    return "Address already in use" in str(exc) or "Failed to bind" in str(exc)


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    if not (ROOT / "dashboard" / "dist" / "index.html").is_file():
        pytest.fail("dashboard/dist is not built: run `make setup` (it runs npm ci and npm run build)")
    tmp = tmp_path_factory.mktemp("dashboard")
    # The harness picks free ports before the services bind them; on a machine shared with other
    # meshes one can be taken in between. Only that is retried, with fresh ports.
    for attempt in range(3):
        mesh = h.MeshProcs(infra, tmp / f"mesh-{attempt}")
        api = analytics = None
        try:
            mesh.start_all()
            # the analytics and cluster pages (edge rates) ask /api/analytics/*: a worker on the mesh's topics
            analytics = start_mesh_analytics(mesh, tmp / f"analytics-{attempt}", port=50175, metrics_port=9675)
            analytics.wait_ready()
            env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
                   "COBOL_ANALYTICS_ADDR": analytics.addr}
            env.update({k: v for k, v in mesh.env.items() if k.endswith("_ADDR") or k == "COBOL_JOBS_CHANNEL"})
            api = h.start_api(tmp, extra_env=env, wait=False)
            h.wait_ready(api)
        except RuntimeError as exc:
            if api is not None:
                h.stop_api(api)
            if analytics is not None:
                analytics.stop()
            mesh.stop_all()
            if attempt == 2 or not _port_taken(exc):
                raise
            continue
        try:
            yield api
        finally:
            h.stop_api(api)
            analytics.stop()
            mesh.stop_all()
        return


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    """Drive the whole scenario once in one browser; the tests below check what it saw."""
    with stack.client() as c:
        r = c.post("/api/users", json={"name": "dash-viewer", "password": VIEWER_PASSWORD, "role": "viewer",
                                        "see_all_jobs": False})
        assert r.status_code == 201, r.text
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    tmp = tmp_path_factory.mktemp("scenario")
    config = {"url": stack.url, "admin": {"user": "admin", "password": stack.admin_password},
              "viewer": {"user": "dash-viewer", "password": VIEWER_PASSWORD},
              "corpus": str(CORPUS), "artifacts": str(ARTIFACTS)}
    (tmp / "config.json").write_text(json.dumps(config))
    results = tmp / "results.json"
    proc = subprocess.run(["node", str(HERE / "scenario.mjs"), str(tmp / "config.json"), str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert results.exists(), f"the browser scenario wrote nothing (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    data = json.loads(results.read_text())
    data["exit"] = proc.returncode
    data["stderr"] = proc.stderr[-5000:]
    return data


def ok(run: dict, name: str) -> dict:
    s = run["steps"].get(name)
    assert s is not None, f"step {name} did not run; browser stderr:\n{run['stderr']}"
    assert s["ok"], f"step {name} failed:\n{s['error']}"
    return s


def test_login_refuses_a_wrong_password_then_lets_admin_in_live(run):
    s = ok(run, "login")
    assert "wrong user name or password" in s["refused"]
    assert s["me"] == "admin" and s["url"].endswith("/jobs")


def test_job_submitted_from_the_ui_reaches_done_live(run):
    s = ok(run, "submit")
    assert s["final"] == "done", s
    assert s["progress"] == "100"


def test_downloads_are_the_result_and_the_original(run):
    from cobol_codec import decompress

    s = ok(run, "detail_and_downloads")
    original = CORPUS.read_bytes()
    result = Path(s["files"]["result"]).read_bytes()
    assert result[:4] != original[:4] and len(result) < len(original)
    assert decompress(result) == original
    assert Path(s["files"]["original"]).read_bytes() == original
    assert s["files"]["result_name"] == "Apache_2k.log.cobol"
    assert s["files"]["original_name"] == "Apache_2k.log"
    assert "chunks archived" in s["chunks"]


@pytest.mark.parametrize("page", ["cluster", "analytics", "dictionaries", "federation", "users", "audit", "not-found"])
def test_every_page_renders(run, page):
    s = ok(run, f"page_{page}")
    expected_missing: dict[str, int] = {}
    assert s["notAvailable"] == expected_missing.get(page, 0), s
    assert s["title"] == "Cobol Protocol"


def test_no_console_errors_on_any_page(run):
    errors = {k: v for k, v in run["consoleErrors"].items() if k not in EXPECTED_ERRORS}
    assert errors == {}


def test_a_screenshot_of_each_page(run):
    names = {Path(p).stem for p in run["screenshots"]}
    assert {"login", "jobs", "job-detail", "cluster", "analytics", "dictionaries", "federation", "users", "audit",
            "phone-jobs", "phone-cluster", "viewer-jobs"} <= names
    for p in run["screenshots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_phone_layout_collapses_the_menu_and_does_not_scroll_sideways(run):
    s = ok(run, "phone")
    assert s["navHidden"] is True
    assert s["overflow"] <= 0


def test_a_viewer_cannot_reach_admin_pages_or_submit(run):
    s = ok(run, "viewer")
    assert s["usersForbidden"] is True
    assert "Users" not in s["navText"] and "Audit" not in s["navText"] and "Jobs" in s["navText"]
    assert s["uploadForms"] == 0 and s["fileInputs"] == 0
    assert s["apiStatus"] == 403
    assert s["viewerRows"] == 0  # the admin's job is not the viewer's (ownership)


def test_an_expired_session_returns_to_the_page_after_login(run):
    s = ok(run, "expiry")
    assert "next=%2Fadmin%2Faudit%3Fjob_id%3Dx" in s["loginUrl"]
    assert s["back"].endswith("/admin/audit?job_id=x")


def test_server_serves_the_app_with_cache_headers(stack):
    index = httpx.get(f"{stack.url}/jobs/anything", headers={"Accept-Encoding": "gzip"})
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert index.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in index.headers["content-security-policy"]
    asset = next((ROOT / "dashboard" / "dist" / "assets").glob("index-*.js")).name
    r = httpx.get(f"{stack.url}/assets/{asset}", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert r.headers.get("content-encoding") == "gzip" and "javascript" in r.headers["content-type"]
    # the API keeps its own answers: JSON 404s, not the app's HTML
    missing = httpx.get(f"{stack.url}/api/no-such-endpoint")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert httpx.get(f"{stack.url}/assets/no-such-file.js").status_code == 404
    assert httpx.get(f"{stack.url}/api/openapi.json").json()["paths"]
