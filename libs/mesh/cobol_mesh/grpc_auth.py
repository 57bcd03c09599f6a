"""gRPC authentication for the mesh: mTLS between services, bearer tokens for everyone else.

Every gRPC server requires a client certificate signed by the mesh CA (`scripts/certs.py`,
run by `make setup`; on Kubernetes a Secret mounted at $COBOL_CERT_DIR). The certificate's
common name is the caller's identity:

* a mesh service (`api`, `ingest`, ...): allowed to call the services it `talks_to` in
  topology.yaml, and nothing else;
* anything else (the `client` certificate of tools and people): must also send
  `authorization: Bearer <JWT>` or `x-api-key: <key>` metadata. The API (the owner of users,
  tokens and keys) says who that is (`GET /api/auth/whoami`, answers cached for a few seconds),
  and the caller's role must be at least the role the REST call of the same effect needs
  (METHOD_ROLES; a method not listed needs admin).

Health checks and reflection only need the mesh certificate. Calls that change state are
written to the API's audit log (grpc_audit.py), refused attempts included.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import grpc
import httpx

from . import grpc_audit, topology
from .settings import ROOT, local_port

TARGET_NAME = "cobol.mesh"            # every certificate names it; clients verify against it
ROLE_RANK = {"viewer": 1, "operator": 2, "admin": 3}
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/")
# The REST call of the same effect: upload = POST /api/jobs (operator); reading any job's
# state or bytes, or listing every job, is what only an admin may do over REST (others see
# their own jobs, and the ledger does not know owners).
METHOD_ROLES = {
    "/cobol.v1.Ingest/Upload": "operator",
    "/cobol.v1.Coordinator/GetJob": "admin",
    "/cobol.v1.Coordinator/ListJobs": "admin",
    "/cobol.v1.Archive/ReadResult": "admin",
    "/cobol.v1.Archive/ReadOriginal": "admin",
    "/cobol.v1.Archive/DeleteJob": "admin",      # REST delete checks ownership; gRPC cannot
    # the federator: reading versions, patterns, rounds and the budget is GET /api/dictionaries*
    # and /api/federation/* (viewer); the bytes of a version are a DP release like its patterns;
    # promote and roll back are admin. The round protocol (GetRound, Submit, ReportUsage) is
    # for compressors (mTLS), so other callers need admin.
    "/cobol.v1.Federator/ListDictionaries": "viewer",
    "/cobol.v1.Federator/GetDictionary": "viewer",
    "/cobol.v1.Federator/GetPatterns": "viewer",
    "/cobol.v1.Federator/ListRounds": "viewer",
    "/cobol.v1.Federator/GetBudget": "viewer",
    "/cobol.v1.Federator/GetState": "viewer",
    "/cobol.v1.Federator/FetchDictionary": "viewer",
    "/cobol.v1.Federator/Promote": "admin",
    "/cobol.v1.Federator/Rollback": "admin",
    # GET /api/analytics/* (viewer): aggregates only, no job's bytes or names
    "/cobol.v1.Analytics/Totals": "viewer",
    "/cobol.v1.Analytics/Series": "viewer",
}
CACHE_SECONDS = 5.0


class CertError(RuntimeError):
    pass


def cert_dir() -> Path:
    return Path(os.environ.get("COBOL_CERT_DIR") or ROOT / ".data" / "certs")


def _read(name: str) -> bytes:
    path = cert_dir() / name
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertError(f"cannot read {path} ({exc.strerror}): run `make setup` "
                        "(scripts/certs.py) or set COBOL_CERT_DIR") from None


def identity(default: str = "client") -> str:
    """This process's mesh identity: $COBOL_GRPC_IDENTITY, else the kind of $COBOL_INSTANCE
    when a certificate exists for it (coordinator-2 -> coordinator), else `default`."""
    explicit = os.environ.get("COBOL_GRPC_IDENTITY")
    if explicit:
        return explicit
    kind = os.environ.get("COBOL_INSTANCE", "").rpartition("-")[0]
    if kind and (cert_dir() / f"{kind}.crt").exists():
        return kind
    return default


def server_credentials(ident: str) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(_read(f"{ident}.key"), _read(f"{ident}.crt"))],
                                       root_certificates=_read("ca.crt"), require_client_auth=True)


def channel_credentials(ident: str | None = None) -> grpc.ChannelCredentials:
    ident = ident or identity()
    return grpc.ssl_channel_credentials(root_certificates=_read("ca.crt"), private_key=_read(f"{ident}.key"),
                                        certificate_chain=_read(f"{ident}.crt"))


def _options(options) -> list:
    return [*(options or ()), ("grpc.ssl_target_name_override", TARGET_NAME)]


def channel(addr: str, ident: str | None = None, options=None) -> grpc.Channel:
    """A blocking channel to a mesh service, presenting this process's certificate (and
    sending the caller's trace context)."""
    from . import telemetry
    return grpc.intercept_channel(grpc.secure_channel(addr, channel_credentials(ident), options=_options(options)),
                                  *telemetry.client_interceptors())


def aio_channel(addr: str, ident: str | None = None, options=None) -> grpc.aio.Channel:
    from . import telemetry
    return grpc.aio.secure_channel(addr, channel_credentials(ident), options=_options(options),
                                   interceptors=telemetry.aio_client_interceptors())


def bearer(token: str) -> list[tuple[str, str]]:
    """Call metadata for a JWT or an API key."""
    return [("authorization", f"Bearer {token}")]


# ---- the server side ---------------------------------------------------------------------------

class _Whoami:
    """Asks the API who a credential belongs to; positive and negative answers cached briefly."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._cache: dict[str, tuple[float, int, dict | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, header: str, value: str) -> tuple[int, dict | None]:
        key = hashlib.sha256(f"{header}\0{value}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1], hit[2]
        try:
            r = httpx.get(f"{self.api_url}/api/auth/whoami", headers={header: value}, timeout=5)
        except httpx.HTTPError:
            return 503, None
        answer = (r.status_code, r.json() if r.status_code == 200 else None)
        if r.status_code in (200, 401, 403):
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now + CACHE_SECONDS, *answer)
        return answer


def _peer_name(context) -> str | None:
    names = (context.auth_context() or {}).get("x509_common_name") or []
    return names[0].decode() if names else None


class AuthInterceptor(grpc.ServerInterceptor):
    """Checks every call's caller (see the module docstring) before the handler runs."""

    def __init__(self, service: str, api_url: str | None = None) -> None:
        self.service = service
        topo = topology.load()
        self.trusted = {s.name for s in topo.services.values() if service in s.talks_to}
        self.known = set(topo.services)
        self.whoami = _Whoami(api_url or os.environ.get("COBOL_API_URL")
                              or f"http://127.0.0.1:{local_port(8000)}")
        self.audit_log: grpc_audit.AuditLog | None = None     # made at the first audited call

    def check(self, method: str, context, seen: dict | None = None) -> str:
        """The caller's principal, or aborts the call. `seen["principal"]`: who the caller
        turned out to be even when the call is refused (for the audit)."""
        seen = {} if seen is None else seen
        peer = _peer_name(context)
        if peer is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a mesh client certificate is required")
        if method.startswith(OPEN_PREFIXES):
            return f"cert:{peer}"
        if peer in self.trusted:
            return f"service:{peer}"
        seen["principal"] = f"service:{peer}" if peer in self.known else None
        md = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        if peer in self.known:   # a mesh service that has no business here
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"service {peer} may not call {self.service} (topology.yaml talks_to)")
        if "x-api-key" in md:
            status, who = self.whoami("x-api-key", md["x-api-key"])
        elif md.get("authorization", "").lower().startswith("bearer "):
            status, who = self.whoami("authorization", md["authorization"])
        else:
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "send `authorization: Bearer <token>` or `x-api-key: <key>` metadata")
        if status == 503 or who is None and status not in (401, 403):
            context.abort(grpc.StatusCode.UNAVAILABLE, "cannot check the credentials: the API is unreachable")
        if who is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "the token or API key is invalid, expired or revoked")
        seen["principal"] = f"user:{who.get('name')}"
        need = METHOD_ROLES.get(method, "admin")
        if ROLE_RANK.get(who.get("role"), 0) < ROLE_RANK[need]:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method} needs the {need} role "
                                                             f"(you are {who.get('role')})")
        return f"user:{who.get('name')}"

    def audit(self, method: str, principal: str | None, context, exc: BaseException | None,
              request=None, reply=None) -> None:
        """One audit row for a call that changes state (or reads a job's bytes): grpc_audit.py.
        Refused attempts are recorded too (principal None: the check itself refused)."""
        if principal is None and method not in grpc_audit.MUTATING | grpc_audit.DOWNLOADS:
            return
        if principal is not None and not grpc_audit.audited(method, principal):
            return
        peer = _peer_name(context)
        if principal is None:
            who = f"cert:{peer}" if peer else "anonymous"
        else:
            who = principal.removeprefix("user:")
        job_id = getattr(reply, "job_id", None) or getattr(request, "job_id", None)
        if self.audit_log is None:
            self.audit_log = grpc_audit.AuditLog()
        self.audit_log.record(who=who, method=method, status=grpc_audit.status_of(context, exc),
                              client=grpc_audit.peer_address(context),
                              job_id=job_id if isinstance(job_id, str) else None,
                              detail={"principal": principal, "cert": peer, "service": self.service})

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        check, audit = self.check, self.audit

        def guard(fn, streaming_request: bool, streaming_response: bool):
            if fn is None:
                return None
            if streaming_response:
                def gen(request, context):
                    principal, seen = None, {}
                    try:
                        principal = check(method, context, seen)
                        yield from fn(request, context)
                    except BaseException as exc:
                        audit(method, principal or seen.get("principal"), context, exc,
                              None if streaming_request else request)
                        raise
                    audit(method, principal, context, None, None if streaming_request else request)
                return gen

            def call(request, context):
                principal, seen = None, {}
                try:
                    principal = check(method, context, seen)
                    reply = fn(request, context)
                except BaseException as exc:
                    audit(method, principal or seen.get("principal"), context, exc,
                          None if streaming_request else request)
                    raise
                audit(method, principal, context, None, None if streaming_request else request, reply)
                return reply
            return call

        return handler._replace(
            unary_unary=guard(handler.unary_unary, False, False),
            unary_stream=guard(handler.unary_stream, False, True),
            stream_unary=guard(handler.stream_unary, True, False),
            stream_stream=guard(handler.stream_stream, True, True),
        )
