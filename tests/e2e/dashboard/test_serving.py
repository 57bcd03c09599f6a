"""services/api/dashboard.py on its own (no services): the SPA fallback, cache headers, gzip,
hostile paths, the page shown when the bundle was not built, and that API answers are untouched."""
from __future__ import annotations

import gzip
import sys

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from corpora import ROOT

for p in (ROOT, ROOT / "libs" / "mesh"):
    sys.path.insert(0, str(p))
from services.api import dashboard  # noqa: E402


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/jobs/{job_id}")
    async def job(job_id: str):
        raise HTTPException(404, f"job {job_id!r}: not found")

    @app.post("/api/jobs")
    async def submit():
        return {"ok": True}

    dashboard.mount(app)
    return app


@pytest.fixture()
def dist(tmp_path, monkeypatch):
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>app</title>")
    (d / "assets" / "index-abc123.js").write_text("console.log('x');" * 100)
    (d / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(b"console.log('x');" * 100))
    (d / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside")
    monkeypatch.setenv("COBOL_DASHBOARD_DIR", str(d))
    return d


def test_app_pages_get_index_without_caching(dist):
    c = TestClient(make_app())
    for path in ("/", "/jobs", "/jobs/some-id", "/admin/users?x=1"):
        r = c.get(path)
        assert r.status_code == 200 and r.text.startswith("<!doctype html>"), path
        assert r.headers["cache-control"] == "no-cache"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_hashed_assets_are_immutable_and_gzipped_when_accepted(dist):
    c = TestClient(make_app())
    r = c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.text == "console.log('x');" * 100  # the client decodes it
    plain = c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == "console.log('x');" * 100
    assert c.get("/favicon.svg").headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/missing.js", "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/x%00.js",
                                  "/assets/" + "a" * 5000 + ".js", "/assets/..%2f..%2fsecret.txt"])
def test_missing_or_hostile_assets_are_404_not_html(dist, path):
    r = TestClient(make_app()).get(path)
    assert r.status_code == 404 and "outside" not in r.text and "<!doctype" not in r.text


@pytest.mark.parametrize("path", ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/x%00y", "/%0a", "/" + "é" * 300])
def test_hostile_page_paths_never_escape_the_bundle(dist, path):
    r = TestClient(make_app()).get(path)
    assert "outside" not in r.text
    assert r.status_code in (200, 404)


def test_api_answers_are_untouched(dist):
    c = TestClient(make_app())
    r = c.get("/api/jobs/nope")
    assert r.status_code == 404 and r.json() == {"detail": "job 'nope': not found"}
    r = c.get("/api/unknown")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert c.get("/api/jobs").status_code == 405  # a real route with the wrong method stays 405
    assert c.post("/jobs").status_code in (404, 405)  # only GET and HEAD reach the app
    assert c.post("/api/jobs").json() == {"ok": True}


def test_the_dashboard_answers_at_root(dist):
    r = TestClient(make_app()).get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")


def test_a_clear_page_when_the_bundle_was_not_built(tmp_path, monkeypatch):
    monkeypatch.setenv("COBOL_DASHBOARD_DIR", str(tmp_path / "nothing"))
    r = TestClient(make_app()).get("/jobs")
    assert r.status_code == 503
    assert "has not been built" in r.text and "npm run build" in r.text
    assert r.headers["cache-control"] == "no-store"
