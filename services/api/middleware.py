"""Pure ASGI middlewares (they never buffer streaming bodies):

* RefuseNul: a NUL byte (or other C0 control) in the path or a query parameter is refused
  with 400 before any route, so nothing reaches PostgreSQL with it;
* Audit: after every state-changing call (and every download), one audit row: who (from the
  authenticated principal, or what the route named), what (the route's name), when, from
  where (client address), the status and outcome. Routes add details via request.state.audit.
"""
from __future__ import annotations

import json
import re
import urllib.parse

from .stores.audit import AuditStore

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


async def _json_reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RefuseNul:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            path = scope.get("path", "")
            query = urllib.parse.unquote_plus(scope.get("query_string", b"").decode("latin-1"))
            if CONTROL.search(path) or CONTROL.search(query):
                if scope["type"] == "http":
                    return await _json_reply(send, 400, "control characters (such as NUL) are not allowed "
                                                        "in the path or query")
                return await send({"type": "websocket.close", "code": 4400})
        return await self.app(scope, receive, send)


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "denied", 403: "forbidden", 404: "not_found", 409: "conflict", 429: "rate_limited"}.get(
        status, "rejected" if status < 500 else "error")


class Audit:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            return await self.app(scope, receive, send)
        holder = {"status": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            state = scope.get("state") or {}
            extra = state.get("audit")
            if scope["method"] in STATE_CHANGING or extra is not None:
                await self._record(scope, state, extra or {}, holder["status"])

    @staticmethod
    async def _record(scope, state: dict, extra: dict, status: int) -> None:
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        store: AuditStore | None = getattr(ctx, "audit", None)
        if store is None:
            return
        route = scope.get("route")
        principal = state.get("principal")
        who = extra.get("who") or (principal.name if principal else "anonymous")
        action = extra.get("action") or getattr(route, "name", None) or f"{scope['method']} unmatched"
        job_id = extra.get("job_id") or (scope.get("path_params") or {}).get("job_id")
        outcome = "rate_limited" if status == 429 else extra.get("outcome")
        detail = dict(extra.get("detail") or {})
        if principal is not None and principal.auth == "api_key":
            detail["api_key"] = principal.key_id
        client = scope.get("client")
        await store.record(str(who)[:128], action, outcome=outcome or _outcome(status),
                           job_id=job_id if isinstance(job_id, str) and len(job_id) <= 128 else None,
                           detail=detail, client=client[0] if client else None, method=scope["method"],
                           path=getattr(route, "path", None), status=status)
