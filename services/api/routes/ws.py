"""WebSocket /api/ws: job updates for the jobs you may see, node health and alerts.

Credentials never travel in the URL. After the socket opens, the first message must be
``{"type": "auth", "token": "<JWT or API key>"}`` within AUTH_SECONDS; the server answers with
a snapshot (your newest jobs, the recent alerts) and then pushes, from the coordinator's Watch
stream (services/api/live.py):

- ``{"type": "job", "job": {...}}``: a job you may see changed;
- ``{"type": "node", "event": {...}}``: a node event (joined, suspect, down, alive, left, ...);
- ``{"type": "nodes", "nodes": [...]}``: the node list (as GET /api/cluster/nodes items), every
  few seconds and at once after a node event;
- ``{"type": "kafka", "kafka": {...}}``: Kafka's replica state (as GET /api/cluster/replicas);
- ``{"type": "alert", "alert": {kind, severity, message, at, ...}}``: node_suspect, node_down,
  node_alive, job_failed, under_replicated, partition_offline, lag_growing (``resolved`` when
  the condition ended).
Revoked credentials (logout, password change, deletion, key deletion) close the socket with
code 4401; so does a token's expiry.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from ..deps import authenticate
from ..jobsvc import list_jobs

router = APIRouter()
AUTH_SECONDS = 10
SNAPSHOT = 50
RECHECK_SECONDS = 30
SNAPSHOT_TTL = 0.5


async def _first_message(ws: WebSocket) -> tuple[str | None, str | None]:
    raw = await asyncio.wait_for(ws.receive_text(), AUTH_SECONDS)
    msg = json.loads(raw)
    if not isinstance(msg, dict) or msg.get("type") != "auth":
        raise ValueError("the first message must be {\"type\": \"auth\", \"token\": ...}")
    token = msg.get("token")
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise ValueError("auth needs a token")
    return token, None


_snapshots: dict[tuple, tuple[float, list]] = {}
_snapshot_lock = asyncio.Lock()


async def _snapshot(ctx, principal) -> list[dict]:
    """The newest jobs this caller may see. Sockets that open together (a dashboard reload, a
    reconnect storm) share one computation per view for SNAPSHOT_TTL seconds."""
    key = (principal.name, principal.role, principal.see_all_jobs)
    async with _snapshot_lock:
        hit = _snapshots.get(key)
        if hit and time.monotonic() - hit[0] < SNAPSHOT_TTL:
            return hit[1]
        jobs = (await list_jobs(ctx, principal, {}))[:SNAPSHOT]
        if len(_snapshots) > 10_000:
            _snapshots.clear()
        _snapshots[key] = (time.monotonic(), jobs)
        return jobs


@router.websocket("/api/ws")
async def ws_jobs(ws: WebSocket):
    ctx = ws.app.state.ctx
    await ws.accept()
    try:
        token, key = await _first_message(ws)
        principal = await authenticate(ctx, token, key)
    except HTTPException as exc:
        await ws.send_json({"type": "error", "status": exc.status_code, "detail": exc.detail})
        await ws.close(code=4401, reason="unauthorized")
        return
    except (asyncio.TimeoutError, ValueError, WebSocketDisconnect) as exc:
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", "status": 401, "detail": str(exc) or "authenticate first"})
            await ws.close(code=4401, reason="unauthorized")
        return

    sock = ctx.hub.subscribe(principal)
    ctx.hub.wake()                       # the new socket gets the node list at once
    try:
        snapshot = {"type": "snapshot", "user": principal.name, "jobs": [], "live": ctx.hub.watching,
                    "alerts": ctx.hub.recent_alerts(principal)}
        try:
            snapshot["jobs"] = await _snapshot(ctx, principal)
        except HTTPException as exc:      # the ledger is unreachable: updates still flow later
            snapshot["error"] = exc.detail
        await ws.send_json(snapshot)

        async def pump() -> None:
            while True:
                await ws.send_text(await sock.queue.get())

        async def listen() -> None:
            while True:
                if await ws.receive_text() == "ping":
                    await ws.send_json({"type": "pong", "at": time.time()})

        async def revoked() -> None:
            # revocations arrive over pub/sub at once; the re-check catches expiry and any missed one
            while not sock.closed.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(sock.closed.wait(), RECHECK_SECONDS)
                if not sock.closed.is_set():
                    try:
                        await authenticate(ctx, token, key)
                    except HTTPException as exc:
                        sock.revoke(str(exc.detail))

        tasks = [asyncio.create_task(pump()), asyncio.create_task(listen()), asyncio.create_task(revoked())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(BaseException):
                await t
        if sock.closed.is_set():
            with contextlib.suppress(Exception):
                await ws.send_json({"type": "error", "status": 401, "detail": sock.reason})
                await ws.close(code=4401, reason="revoked")
        for t in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
                t.result()
    except WebSocketDisconnect:
        pass
    finally:
        ctx.hub.unsubscribe(sock)
