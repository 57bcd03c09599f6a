"""The Analytics and API-keys pages in headless Chromium, with data: a real analytics worker
on the real Kafka fed real frames and job events, the API in front of it serving the built
bundle. Figures on screen match the feed; a key made in the UI works once and stops working
when revoked from the UI; no console errors; screenshots in .run/artifacts/dashboard-analytics/."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from corpora import ROOT

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import api_harness as h  # noqa: E402
from analytics_harness import AnalyticsProc, make_feed, produce, producer, wait_counted  # noqa: E402

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent
ARTIFACTS = ROOT / ".run" / "artifacts" / "dashboard-analytics"


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    if not (ROOT / "dashboard" / "dist" / "index.html").is_file():
        pytest.fail("dashboard/dist is not built: run `make setup` (it runs npm ci and npm run build)")
    tmp = tmp_path_factory.mktemp("dash-analytics")
    kafka = infra["kafka"]["bootstrap_servers"]
    worker = AnalyticsProc(kafka, tmp, port=50171, metrics_port=9671)
    now = int(time.time())
    recs, exp = make_feed(n_jobs=9, frames_per_job=10, t0_ms=(now - 1200) * 1000, span_ms=600_000, seed=21)
    api = None
    try:
        worker.start()
        worker.wait_ready()
        produce(producer(kafka), worker, recs)
        with worker.client() as c:
            wait_counted(c, exp, 180)
        env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
               "COBOL_ANALYTICS_ADDR": worker.addr,
               **{k: f"127.0.0.1:{h.free_port()}" for k in ("COBOL_INGEST_ADDR", "COBOL_COORDINATOR_ADDR",
                                                          "COBOL_ARCHIVE_ADDR")}}
        api = h.start_api(tmp, extra_env=env)
        yield api, exp
    finally:
        if api is not None:
            h.stop_api(api)
        worker.stop()


@pytest.fixture(scope="module")
def run(stack, tmp_path_factory):
    api, exp = stack
    tmp = tmp_path_factory.mktemp("scenario")
    (tmp / "config.json").write_text(json.dumps({"url": api.url, "artifacts": str(ARTIFACTS),
                                                  "admin": {"user": "admin", "password": api.admin_password}}))
    results = tmp / "results.json"
    proc = subprocess.run(["node", str(HERE / "analytics_keys_scenario.mjs"), str(tmp / "config.json"), str(results)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert results.exists(), f"the browser scenario wrote nothing (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    data = json.loads(results.read_text())
    data["stderr"] = proc.stderr[-5000:]
    return data


def ok(run: dict, name: str) -> dict:
    s = run["steps"].get(name)
    assert s is not None, f"step {name} did not run; browser stderr:\n{run['stderr']}"
    assert s["ok"], f"step {name} failed:\n{s['error']}"
    return s


def test_analytics_page_shows_the_fed_figures(run, stack):
    _api, exp = stack
    s = ok(run, "analytics")
    assert s["notAvailable"] == 0
    assert s["frames"] == f"{exp.frames:,}" and s["frames24h"] == s["frames"]
    n, b_in, b_out, _us = exp.by["all"]["all"]
    assert s["ratio"] == f"{b_in / b_out:.2f}×"
    assert s["nodes"] == sorted(exp.by["node"]) and s["profiles"] == sorted(exp.by["profile"])
    assert set(s["layers"]) == set(exp.by["layer"])
    assert s["lines"] == 2                          # ratio and MB/s, one series each
    assert s["splitLabel"] == f"Ratio over time, {len(exp.by['node'])} series"


def test_api_key_made_in_the_ui_works_until_revoked_in_the_ui(run, stack):
    api, _exp = stack
    made = ok(run, "api_keys")
    assert "e2e-machine" in made["rows"] and made["stillShown"] == 0 and made["meStatus"] == 200
    revoked = ok(run, "revoke")
    assert "e2e-machine" not in revoked["rows"]
    # the key the page showed once: a real key, revoked now
    r = httpx.get(f"{api.url}/api/me", headers={"X-API-Key": made["key"]}, timeout=30)
    assert r.status_code == 401, r.text
    with api.client() as admin:
        audit = admin.get("/api/audit", params={"action": "apikey.delete", "limit": 5}).json()["items"]
    assert audit and audit[0]["outcome"] == "ok"


def test_no_console_errors_and_a_screenshot_of_each(run):
    ok(run, "login")
    assert run["consoleErrors"] == {}
    names = {Path(p).stem for p in run["screenshots"]}
    assert {"analytics-data", "analytics-by-node", "api-keys-created", "api-keys-revoked"} <= names
    for p in run["screenshots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
