"""Live updates: the coordinator's Watch stream -> WebSocket clients; alerts; and the closing of
revoked clients' sockets (Redis pub/sub).

* Job status changes and node events come from the coordinator's `Cluster.Watch` stream (one
  per API process, in a thread: ClusterClient is blocking). A job event names a job; the hub
  reads the job's authoritative state with its owner (coalescing bursts per job) and pushes it
  to every socket whose user may see it. Node events go to every socket (every role may read
  the cluster). A lost stream is reopened with backoff, on whichever coordinator replica answers.
* A monitor task (only while sockets are open) pushes the node list every MONITOR_SECONDS and
  Kafka's replica state every KAFKA_EVERY ticks, and turns what changed into alerts
  (`alerts.AlertState`): node suspect/down, job failed, under-replicated partition, lag growing.
* The revocations channel (published by any API instance on logout, password change, role
  change, user deletion, API-key deletion): sockets of that user / session / key are closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import grpc
import redis.asyncio as aioredis
import structlog
from fastapi import HTTPException

from . import metrics
from .alerts import AlertState
from .clustersvc import event_to_dict

log = structlog.get_logger("cobol.api.live")
COALESCE_SECONDS = 0.02
CLIENT_QUEUE = 256
MONITOR_SECONDS = 2.0
KAFKA_EVERY = 5            # monitor ticks between two Kafka replica reports
RECENT_ALERTS = 50         # kept for the snapshot of a socket that opens later


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
    def __init__(self, redis_url: str, revocations_channel: str,
                 load: Callable[[str], Awaitable[dict | None]], cluster) -> None:
        self.redis_url = redis_url
        self.revocations_channel = revocations_channel
        self.load = load                  # job id -> REST job dict with "owner", or None
        self.cluster = cluster            # clustersvc.ClusterView
        self.sockets: set[Socket] = set()
        self.connected = False            # subscribed to the revocations channel
        self.watching = False             # the coordinator's Watch stream is open
        self.alerts = AlertState()
        self.recent: deque = deque(maxlen=RECENT_ALERTS)   # (owner or None, alert message)
        self._pending: set[str] = set()
        self._tasks: list[asyncio.Task] = []
        self._bg: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._stopping = threading.Event()
        self._call = None                 # the open Watch call (cancelled on stop)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._run(), name="revocations"),
                       asyncio.create_task(self._monitor(), name="cluster-monitor")]
        self._thread = threading.Thread(target=self._watch, args=(loop,), name="cluster-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._call is not None:
            self._call.cancel()
        tasks = [*self._tasks, *self._bg]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    # -- the coordinator's Watch stream (a thread) ----------------------------------------------
    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        backoff = 0.5

        def post(fn, *args) -> bool:
            try:
                loop.call_soon_threadsafe(fn, *args)
                return True
            except RuntimeError:      # the loop is closed: the API is stopping
                return False

        while not self._stopping.is_set():
            try:
                self._call = self.cluster.client.watch(jobs=True, nodes=True)
                if self._stopping.is_set():
                    self._call.cancel()
                    break
                post(self._set_watching, True)
                backoff = 0.5
                for ev in self._call:
                    if not post(self._on_watch, ev):
                        return
            except grpc.RpcError as exc:
                if not self._stopping.is_set():
                    log.warning("ws.watch_lost", code=exc.code().name if exc.code() else "?", detail=exc.details())
            except Exception as exc:  # noqa: BLE001 - the stream is reopened, never given up
                log.warning("ws.watch_failed", error=str(exc))
            finally:
                post(self._set_watching, False)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _set_watching(self, on: bool) -> None:
        if on and not self.watching:
            log.info("ws.watching")
            self._wake.set()          # what we missed while not watching: a fresh node list
        self.watching = on

    def _on_watch(self, ev) -> None:
        metrics.WS_EVENTS.inc()
        if ev.HasField("job"):
            self.notify(ev.job.job_id)
            return
        event = event_to_dict(ev.node)
        self.broadcast({"type": "node", "event": event}, None, everyone=True)
        self._alert(self.alerts.node_event(event))
        self._wake.set()              # the node list changed: push it now, not at the next tick

    def _alert(self, message: dict | None, owner: str | None = None, everyone: bool = True) -> None:
        if message is None:
            return
        self.recent.append((owner, everyone, message))
        self.broadcast(message, owner, everyone=everyone)

    def wake(self) -> None:
        self._wake.set()

    def recent_alerts(self, principal) -> list[dict]:
        return [m["alert"] for owner, everyone, m in self.recent if everyone or principal.may_see(owner)]

    # -- the monitor: node list, Kafka replicas, alerts -----------------------------------------
    async def _monitor(self) -> None:
        tick = 0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), MONITOR_SECONDS)
            self._wake.clear()
            if not self.sockets:
                continue
            try:
                nodes = await self.cluster.nodes()
            except HTTPException:     # the coordinator is down: the sockets keep what they have
                nodes = None
            if nodes is not None:
                self.broadcast({"type": "nodes", "nodes": nodes}, None, everyone=True)
                for a in self.alerts.lag(nodes):
                    self._alert(a)
            if tick % KAFKA_EVERY == 0:
                report = await self.cluster.kafka_replicas()
                self.broadcast({"type": "kafka", "kafka": report}, None, everyone=True)
                for a in self.alerts.kafka(report):
                    self._alert(a)
            tick += 1

    def subscribe(self, principal) -> Socket:
        s = Socket(principal)
        self.sockets.add(s)
        metrics.WS_CLIENTS.set(len(self.sockets))
        return s

    def unsubscribe(self, s: Socket) -> None:
        self.sockets.discard(s)
        metrics.WS_CLIENTS.set(len(self.sockets))

    def broadcast(self, message: dict, owner: str | None, everyone: bool = False) -> None:
        """Queue the message (encoded once) for every socket whose user may see the job
        (`everyone`: every socket, for what every role may read)."""
        text = json.dumps(message, separators=(",", ":"))
        for s in list(self.sockets):
            if not everyone and not s.principal.may_see(owner):
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
            self._alert(self.alerts.job(job), job.get("owner"), everyone=False)

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
        if channel != self.revocations_channel:
            return
        try:
            payload = json.loads(data)
        except (TypeError, ValueError):
            return
        if isinstance(payload, dict):
            self.revoke(payload)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=3, health_check_interval=30)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as ps:
                    await ps.subscribe(self.revocations_channel)
                    self.connected = True
                    backoff = 0.5
                    log.info("ws.subscribed", channels=[self.revocations_channel])
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
