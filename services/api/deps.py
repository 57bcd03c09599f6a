"""FastAPI dependencies: the app's context (stores, Redis, mesh clients), the caller, roles.

Everything a route needs comes through here, from ``app.state.ctx`` (filled by the
lifespan), so routes hold no global state and import nothing at call time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from cobol_mesh.analytics_client import AnalyticsClient

from .config import Settings
from .db import Database
from .enums import ROLE_RANK
from .grpc_clients import MeshClients
from .ratelimit import Limiter
from .security import API_KEY_PREFIX, decode_access
from .stores.apikeys import ApiKeyStore
from .stores.audit import AuditStore
from .stores.jobs import JobStore
from .stores.sessions import SessionStore
from .stores.users import UserStore


@dataclass
class AppContext:
    settings: Settings
    db: Database
    redis: Any
    users: UserStore
    sessions: SessionStore
    keys: ApiKeyStore
    jobs: JobStore
    audit: AuditStore
    limiter: Limiter
    mesh: MeshClients
    hub: Any            # live.JobHub
    events: Any         # events.EventPublisher
    running: dict       # job id -> StreamingUpload still streaming through this instance
    cluster: Any = None  # clustersvc.ClusterView: the coordinator's Cluster service and Kafka's replicas


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    auth: str                  # token | api_key
    sid: str | None = None     # the login session of a token
    see_all_jobs: bool = False
    key_id: str | None = None

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    def may_see(self, owner: str | None) -> bool:
        """Admins and users granted see_all_jobs see every job; others their own."""
        return self.role == "admin" or self.see_all_jobs or (owner is not None and owner == self.name)


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def get_cluster(request: Request):
    return request.app.state.ctx.cluster


ClusterDep = Annotated[Any, Depends(get_cluster)]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False,
                              description="a JWT from /api/auth/token, or an API key")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from /api/api-keys")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def client_addr(request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(ctx: AppContext, bearer: str | None, api_key: str | None,
                       addr: str | None = None) -> Principal:
    """Who the credentials belong to (a JWT access token or an API key); 401 otherwise.
    With `addr`, the request is also counted against the rate limits (429), in the same
    Redis round trip as the revocation check."""
    if api_key or (bearer and bearer.startswith(API_KEY_PREFIX)):
        row = await ctx.keys.resolve(api_key or bearer or "")
        if row is None:
            raise unauthorized("invalid, expired or revoked API key")
        # a key never has more than its owner has now
        role = row["role"] if ROLE_RANK[row["role"]] <= ROLE_RANK[row["owner_role"]] else row["owner_role"]
        if addr is not None:
            await ctx.limiter.request(f"api_key:{row['id']}", addr)
        return Principal(row["owner"], role, "api_key", see_all_jobs=row["see_all_jobs"], key_id=row["id"])
    if not bearer:
        raise unauthorized("not authenticated: send a bearer token or an X-API-Key")
    try:
        c = decode_access(ctx.settings.jwt_secret, bearer)
    except jwt.ExpiredSignatureError:
        raise unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise unauthorized("invalid token") from None
    keys = ctx.sessions.revocation_keys(c.sid, c.sub)
    if addr is not None:
        values = await ctx.limiter.request(f"token:{c.sub}", addr, get=keys)
    else:
        values = await ctx.redis.mget(*keys)
    if ctx.sessions.revoked(values, c.ims):
        raise unauthorized("token revoked")
    return Principal(c.sub, c.role, "token", sid=c.sid, see_all_jobs=c.all_jobs)


async def current_principal(request: Request, ctx: Ctx, bearer: str | None = Depends(oauth2),
                            api_key: str | None = Depends(api_key_header)) -> Principal:
    principal = await authenticate(ctx, bearer, api_key, client_addr(request))
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(role: str) -> Callable:
    async def dep(principal: CurrentUser) -> Principal:
        if not principal.at_least(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role (you are {principal.role})")
        return principal
    return dep


Viewer = CurrentUser
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]


async def anonymous_limit(request: Request, ctx: Ctx) -> None:
    await ctx.limiter.anonymous(client_addr(request))


def get_federator(ctx: Ctx):
    """The federator's gRPC stub (cobol.v1.Federator); 503 when the API has none configured."""
    if ctx.mesh.federator is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the federator is not configured "
                                                                 "(COBOL_FEDERATOR_ADDR)")
    return ctx.mesh.federator


FederatorStub = Annotated[Any, Depends(get_federator)]
def get_analytics(request: Request) -> AnalyticsClient:
    """The client of the analytics service (COBOL_ANALYTICS_ADDR), made at first use and closed
    with the app; it presents the API's mesh certificate."""
    client = getattr(request.app.state, "analytics", None)
    if client is None:
        client = request.app.state.analytics = AnalyticsClient(timeout=5.0, ident="api")
    return client


Analytics = Annotated[AnalyticsClient, Depends(get_analytics)]
