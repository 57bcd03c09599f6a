"""Prometheus metrics of the API (served at /metrics)."""
from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("cobol_api_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cobol_api_request_seconds", "HTTP request latency (to the response start)",
                    ["method", "route"])
LOGINS = Counter("cobol_api_logins_total", "Login attempts", ["outcome"])
UPLOADS = Counter("cobol_api_uploads_total", "Job submissions by outcome", ["outcome"])
UPLOAD_BYTES = Counter("cobol_api_upload_bytes_total", "File bytes forwarded to ingest")
UPLOADS_ACTIVE = Gauge("cobol_api_uploads_active", "Upload requests being read now")
UPLOADS_STREAMING = Gauge("cobol_api_uploads_streaming", "Uploads with an open Ingest.Upload stream")
DOWNLOAD_BYTES = Counter("cobol_api_download_bytes_total", "Bytes streamed out of the archive", ["kind"])
WS_CLIENTS = Gauge("cobol_api_ws_clients", "Connected WebSocket clients")
WS_EVENTS = Counter("cobol_api_ws_events_total", "Job updates received from Redis pub/sub")


class MetricsMiddleware:
    """Pure ASGI middleware (does not buffer streaming bodies, unlike BaseHTTPMiddleware)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status_holder = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["code"] = message["status"]
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], path, str(status_holder["code"])).inc()
