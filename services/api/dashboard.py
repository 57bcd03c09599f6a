"""Serving the web dashboard (the React app built into dashboard/dist) at ``/``.

``mount(app)`` hooks into the app's 404 handling instead of adding a catch-all route, so no
API route, method check (405) or API 404 changes: only a GET or HEAD outside ``/api/`` that
no route answered is served from the bundle. Hashed files under ``/assets/`` are cached for
a year (their names change with their content); ``index.html`` is revalidated every time.
Any other path that is not a file is a page of the app, so it gets ``index.html`` (the app's
router draws it). If the bundle was not built, the page says how to build it (503).
"""
from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

ROOT = Path(__file__).resolve().parents[2]
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The app talks only to its own origin (REST and the WebSocket); Recharts and React set
# inline style attributes, hence 'unsafe-inline' for styles only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
GZIP_TYPES = {".js", ".css", ".html", ".svg", ".json"}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cobol Protocol: dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#0f172a}
code{background:#f1f5f9;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body><h1>The dashboard has not been built</h1>
<p>This API serves the web dashboard from <code>{dist}</code>, which has no <code>index.html</code>.</p>
<p>Build it with <code>make setup</code>, or <code>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build</code>,
then reload this page. The REST API works without it: see <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


def dist_dir() -> Path:
    """Where the built bundle lives: COBOL_DASHBOARD_DIR, else dashboard/dist of the checkout."""
    return Path(os.environ.get("COBOL_DASHBOARD_DIR") or ROOT / "dashboard" / "dist").resolve()


def _file_in(dist: Path, rel: str) -> Path | None:
    """The file `rel` under `dist`, or None if it is missing or escapes the folder."""
    if not rel or "\x00" in rel or "\\" in rel:
        return None
    try:
        target = (dist / rel).resolve()
        if dist not in target.parents or not target.is_file():
            return None
    except (OSError, ValueError, RuntimeError):  # a name too long, a loop of links
        return None
    return target


def _send(request: Request, path: Path, cache: str, extra: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **(extra or {})}
    if path.suffix in GZIP_TYPES:
        headers["Vary"] = "Accept-Encoding"
        gz = path.with_name(path.name + ".gz")
        if "gzip" in request.headers.get("accept-encoding", "") and gz.is_file():
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            headers["Content-Encoding"] = "gzip"
            return FileResponse(gz, media_type=media, headers=headers)
    return FileResponse(path, headers=headers)


def serve(request: Request, dist: Path | None = None) -> Response:
    """The dashboard's answer to a GET of a path no API route took."""
    dist = dist or dist_dir()
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT.replace("{dist}", str(dist)), status_code=503,
                            headers={"Cache-Control": "no-store"})
    rel = request.url.path.lstrip("/")
    found = _file_in(dist, rel) if rel else None
    if found is not None and found.name != "index.html":
        return _send(request, found, IMMUTABLE if rel.startswith("assets/") else REVALIDATE)
    if rel.startswith("assets/"):
        # a missing script or stylesheet must not come back as HTML (the browser would choke on it)
        return Response("not found", status_code=404, media_type="text/plain",
                        headers={"Cache-Control": "no-store"})
    return _send(request, index, REVALIDATE, {"Content-Security-Policy": CSP, "Referrer-Policy": "same-origin"})


def mount(app: FastAPI) -> None:
    """Serve the dashboard at /."""

    async def not_found(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if (request.method in ("GET", "HEAD") and exc.status_code == 404 and not path.startswith("/api/")
                and path != "/api" and path != "/metrics"):
            # only a path no route matched: an API route's own 404 (an unknown job) keeps its JSON
            if not any(r.matches(request.scope)[0] == Match.FULL for r in app.router.routes):
                return serve(request)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(404, not_found)
