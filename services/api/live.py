"""Live updates: Redis pub/sub → WebSocket clients, and the closing of revoked clients' sockets.

One subscriber task per API process listens to two channels:

* the jobs channel (``cobol:jobs``, published by the coordinator): a message names a job; the
  hub reads the job's authoritative state (coalescing bursts per job) and pushes it to every
  socket whose user may see that job;
* the revocations channel (published by any API instance on logout, password change, role
  change, user deletion, API-key deletion): sockets of that user / session / key are closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis
import structlog

from . import metrics

log = structlog.get_logger("cobol.api.live")
COALESCE_SECONDS = 0.02
CLIENT_QUEUE = 256


@dataclass(eq=False)
class Socket:
    principal: Any                       # deps.Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=CLIENT_QUEUE))
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def revoke(self, reason: str) -> None:
        self.reason = reason
        self.closed.set()


class JobHub:
    def __init__(self, redis_url: str, jobs_channel: str, revocations_channel: str,
                 load: Callable[[str], Awaitable[dict | None]]) -> None:
        self.redis_url = redis_url
        self.jobs_channel = jobs_channel
        self.revocations_channel = revocations_channel
        self.load = load                  # job id -> REST job dict with "owner", or None
        self.sockets: set[Socket] = set()
        self.connected = False
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None
        self._bg: set[asyncio.Task] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jobhub")

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._bg] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t

    def subscribe(self, principal) -> Socket:
        s = Socket(principal)
        self.sockets.add(s)
        metrics.WS_CLIENTS.set(len(self.sockets))
        return s

    def unsubscribe(self, s: Socket) -> None:
        self.sockets.discard(s)
        metrics.WS_CLIENTS.set(len(self.sockets))

    def broadcast(self, message: dict, owner: str | None) -> None:
        """Queue the message (encoded once) for every socket whose user may see the job."""
        text = json.dumps(message, separators=(",", ":"))
        for s in list(self.sockets):
            if not s.principal.may_see(owner):
                continue
            if s.queue.full():  # a slow client loses its oldest update, never blocks the others
                with contextlib.suppress(asyncio.QueueEmpty):
                    s.queue.get_nowait()
            s.queue.put_nowait(text)

    def notify(self, job_id: str) -> None:
        """Refresh one job and push it (bursts per job are coalesced)."""
        if not self.sockets or job_id in self._pending:
            return
        self._pending.add(job_id)
        task = asyncio.create_task(self._refresh(job_id))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _refresh(self, job_id: str) -> None:
        try:
            await asyncio.sleep(COALESCE_SECONDS)
        finally:
            self._pending.discard(job_id)
        try:
            job = await self.load(job_id)
        except Exception as exc:  # noqa: BLE001 - a failed refresh loses one update, not the hub
            log.debug("ws.refresh_failed", job_id=job_id, error=str(exc))
            return
        if job is not None:
            self.broadcast({"type": "job", "job": job}, job.get("owner"))

    def revoke(self, payload: dict) -> int:
        """Close the sockets a revocation names; returns how many."""
        n = 0
        for s in list(self.sockets):
            p = s.principal
            if (payload.get("key") and payload["key"] == p.key_id) or (
                    payload.get("user") == p.name and not payload.get("key")
                    and (not payload.get("sid") or payload["sid"] == p.sid)):
                s.revoke("credentials revoked")
                n += 1
        return n

    def _on_message(self, channel: str, data: Any) -> None:
        try:
            payload = json.loads(data)
        except (TypeError, ValueError):
            payload = data.decode() if isinstance(data, bytes) else str(data)
        if channel == self.revocations_channel:
            if isinstance(payload, dict):
                self.revoke(payload)
            return
        metrics.WS_EVENTS.inc()
        if isinstance(payload, str):
            payload = {"job_id": payload}
        if isinstance(payload, dict):
            job_id = payload.get("job_id") or payload.get("id")
            if isinstance(job_id, str) and job_id:
                self.notify(job_id)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=3, health_check_interval=30)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as ps:
                    await ps.subscribe(self.jobs_channel, self.revocations_channel)
                    self.connected = True
                    backoff = 0.5
                    log.info("ws.subscribed", channels=[self.jobs_channel, self.revocations_channel])
                    while True:
                        msg = await ps.get_message(timeout=30.0)
                        if msg is not None and msg.get("type") == "message":
                            ch = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
                            self._on_message(ch, msg["data"])
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
