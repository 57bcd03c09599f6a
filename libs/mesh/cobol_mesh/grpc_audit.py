"""The audit of gRPC calls that change state, in the API's audit log (PostgreSQL `api_audit`).

REST calls are audited by the API (services/api/middleware.py); a gRPC call that changes
state (an upload, a dictionary promotion, ...) reaches a mesh service without passing the
API, so the service's AuthInterceptor records it here: who (the user of the token or API
key, or `service:<name>` for a mesh certificate), what (`grpc:<Service>/<Method>`), when,
from where (the peer address), the outcome and the HTTP status of the same meaning.

Rows go to the table the API's migrations own, in $COBOL_AUDIT_DB_SCHEMA (default: the
API's $COBOL_API_DB_SCHEMA, else `public`). They are written by one background thread, so a
call never waits for PostgreSQL; a row that cannot be written goes to the structured log
with `audit_lost=True` rather than vanishing.
"""
from __future__ import annotations

import json
import os
import queue
import re
import threading

import grpc

from . import logging as mlog
from .settings import settings

# Methods that change state: audited for every caller.
MUTATING = frozenset({
    "/cobol.v1.Ingest/Upload",
    "/cobol.v1.Federator/Promote",
    "/cobol.v1.Federator/Rollback",
    "/cobol.v1.Federator/Submit",
    "/cobol.v1.Federator/ReportUsage",
})
# Reads of a job's bytes: audited when a person (not a mesh service) makes them, as REST downloads are.
DOWNLOADS = frozenset({"/cobol.v1.Archive/ReadResult", "/cobol.v1.Archive/ReadOriginal"})

HTTP_STATUS = {  # the HTTP status of the same meaning (google.rpc code mapping)
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}
OUTCOME = {200: "ok", 401: "denied", 403: "forbidden", 404: "not_found", 409: "conflict", 429: "rate_limited"}
SCHEMA_RE = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")
MAX_QUEUE = 10_000
log = mlog.get("cobol.grpc.audit")


def audited(method: str, principal: str | None) -> bool:
    if method in MUTATING:
        return True
    return method in DOWNLOADS and not (principal or "").startswith("service:")


def outcome(status: int) -> str:
    return OUTCOME.get(status, "rejected" if status < 500 else "error")


def schema() -> str:
    name = os.environ.get("COBOL_AUDIT_DB_SCHEMA") or os.environ.get("COBOL_API_DB_SCHEMA") or "public"
    if not SCHEMA_RE.match(name):
        raise SystemExit(f"COBOL_AUDIT_DB_SCHEMA={name!r} is not a plain lower-case SQL name")
    return name


class AuditLog:
    """Queues rows and writes them from one thread (started at the first row)."""

    def __init__(self, dsn: str | None = None, schema_name: str | None = None, instance: str | None = None) -> None:
        self.dsn = dsn or settings.pg_dsn
        self.table = f'"{schema_name or schema()}".api_audit'
        self.instance = instance or settings.instance
        self._queue: queue.Queue = queue.Queue(MAX_QUEUE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, *, who: str, method: str, status: int, client: str | None,
               job_id: str | None = None, detail: dict | None = None) -> None:
        row = {"who": who[:128], "action": "grpc:" + method.lstrip("/").removeprefix("cobol.v1."),
               "job_id": job_id if job_id and len(job_id) <= 128 else None, "outcome": outcome(status),
               "detail": {"via": "grpc", **(detail or {})}, "client": client, "path": method, "status": status}
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            log.error("audit", audit_lost=True, reason="queue full", **{k: row[k] for k in ("who", "action", "status")})
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="grpc-audit", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """True once every queued row was written (or given up on); for tests and shutdown."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        with self._lock:
            if self._thread is None:
                return True
        return done.wait(timeout)

    def _write_loop(self) -> None:
        import psycopg

        conn = None
        while True:
            row = self._queue.get()
            if isinstance(row, threading.Event):
                row.set()
                continue
            for attempt in (1, 2):          # one reconnect: PostgreSQL may have restarted
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                    conn.execute(
                        f"INSERT INTO {self.table} (who, action, job_id, outcome, detail, instance, client, "  # nosec B608 # the schema name is checked against SCHEMA_RE; values are bound
                        "method, path, status) VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, 'GRPC', %s, %s)",
                        (row["who"], row["action"], row["job_id"], row["outcome"], json.dumps(row["detail"]),
                         self.instance, row["client"], row["path"], row["status"]))
                    log.info("audit", who=row["who"], action=row["action"], outcome=row["outcome"])
                    break
                except Exception as exc:  # noqa: BLE001 - the audit must never break a call
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:  # noqa: BLE001
                            pass
                    conn = None
                    if attempt == 2:
                        log.error("audit", audit_lost=True, who=row["who"], action=row["action"],
                                  outcome=row["outcome"], status=row["status"], error=str(exc)[:300])


def peer_address(context) -> str | None:
    """The caller's IP address from grpc's peer string (ipv4:1.2.3.4:5678, ipv6:[::1]:5678)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer[:64] or None


def status_of(context, exc: BaseException | None) -> int:
    """The HTTP status of the call's final gRPC code (UNKNOWN for an unexpected exception)."""
    code = context.code() if hasattr(context, "code") else None
    if isinstance(code, int) and not isinstance(code, grpc.StatusCode):   # grpc may keep the raw int
        code = next((c for c in grpc.StatusCode if c.value[0] == code), None)
    if code is None:
        code = grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN
    return HTTP_STATUS.get(code, 500)
