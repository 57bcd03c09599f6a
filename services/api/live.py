"""Live job updates: Redis pub/sub channel ``cobol:jobs`` → WebSocket clients.

One subscriber task per API process. A message on the channel is expected to be JSON with
at least ``job_id`` (or ``id``); the hub then reads the job's authoritative status from the
coordinator (coalescing bursts per job) and pushes the REST shape of the job to every
connected client. If the coordinator cannot be asked, the message's own fields are pushed.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import grpc
import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect

from . import metrics
from .state import state

log = structlog.get_logger("cobol.api.live")
COALESCE_SECONDS = 0.2
CLIENT_QUEUE = 256

REST_KEYS = ("status", "progress", "bytes_in", "bytes_out", "ratio", "name", "source", "profile",
             "created_at", "finished_at", "reason", "chunk_count", "chunks_archived", "sha256")


class JobHub:
    def __init__(self, redis_url: str, channel: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.clients: set[asyncio.Queue] = set()
        self.connected = False
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None
        self._bg: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jobhub")

    async def stop(self) -> None:
        for t in [self._task, *self._bg]:
            if t is not None:
                t.cancel()
        for t in [self._task, *self._bg]:
            if t is not None:
                with contextlib.suppress(BaseException):
                    await t

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self.clients.add(q)
        metrics.WS_CLIENTS.set(len(self.clients))
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.clients.discard(q)
        metrics.WS_CLIENTS.set(len(self.clients))

    def broadcast(self, message: dict) -> None:
        for q in list(self.clients):
            if q.full():  # a slow client loses its oldest update, never blocks the others
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(message)

    def notify(self, job_id: str, raw: dict | None = None) -> None:
        """Refresh one job from the coordinator and push it (bursts per job are coalesced)."""
        if not self.clients or job_id in self._pending:
            return
        self._pending.add(job_id)
        task = asyncio.create_task(self._refresh(job_id, raw or {}))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _refresh(self, job_id: str, raw: dict) -> None:
        try:
            await asyncio.sleep(COALESCE_SECONDS)
        finally:
            self._pending.discard(job_id)
        from .jobs import load_job

        try:
            job = await load_job(job_id)
        except (HTTPException, grpc.RpcError, Exception) as exc:  # noqa: BLE001
            if not raw:
                log.debug("ws.refresh_failed", job_id=job_id, error=str(exc))
                return
            job = {"id": job_id, **{k: raw[k] for k in REST_KEYS if k in raw}}
        self.broadcast({"type": "job", "job": job})

    def _on_message(self, data: Any) -> None:
        metrics.WS_EVENTS.inc()
        try:
            payload = json.loads(data)
        except (TypeError, ValueError):
            payload = {"job_id": data.decode() if isinstance(data, bytes) else str(data)}
        if isinstance(payload, str):
            payload = {"job_id": payload}
        if not isinstance(payload, dict):
            return
        job_id = payload.get("job_id") or payload.get("id")
        if isinstance(job_id, str) and job_id:
            self.notify(job_id, payload)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=3, health_check_interval=30)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as ps:
                    await ps.subscribe(self.channel)
                    self.connected = True
                    backoff = 0.5
                    log.info("ws.subscribed", channel=self.channel)
                    while True:
                        msg = await ps.get_message(timeout=30.0)
                        if msg is not None and msg.get("type") == "message":
                            self._on_message(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep retrying, Redis may come later
                if self.connected:
                    log.warning("ws.redis_lost", error=str(exc))
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await client.aclose()


router = APIRouter()


@router.websocket("/api/ws/jobs")
async def ws_jobs(ws: WebSocket, token: str | None = Query(None), limit: int = Query(50, ge=1, le=500)):
    from .auth import user_from_token
    from .jobs import list_jobs

    auth = ws.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    await ws.accept()
    try:
        if not token:
            raise HTTPException(401, "missing token")
        user = await user_from_token(token)
    except HTTPException as exc:
        await ws.send_json({"type": "error", "status": 401, "detail": exc.detail})
        await ws.close(code=4401, reason="unauthorized")
        return

    q = state.hub.subscribe()
    try:
        try:
            jobs = await list_jobs(limit=limit, user=user)
        except HTTPException as exc:
            jobs = []
            await ws.send_json({"type": "error", "status": exc.status_code, "detail": exc.detail})
        await ws.send_json({"type": "snapshot", "jobs": [j if isinstance(j, dict) else j.model_dump() for j in jobs],
                            "live": state.hub.connected})

        async def pump() -> None:
            while True:
                await ws.send_json(await q.get())

        async def listen() -> None:
            while True:
                msg = await ws.receive_text()
                if msg == "ping":
                    await ws.send_json({"type": "pong"})

        tasks = [asyncio.create_task(pump()), asyncio.create_task(listen())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(BaseException):
                await t
        for t in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                t.result()
    except WebSocketDisconnect:
        pass
    finally:
        state.hub.unsubscribe(q)
