"""Login (OAuth2 password flow), refresh-token rotation, logout, sessions, whoami."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response, status

from .. import metrics
from ..deps import CurrentUser, Ctx, client_addr, unauthorized
from ..schemas.common import AUTHED, PUBLIC, error_responses
from ..schemas.token import RefreshIn, Session, Token, Whoami
from ..security import issue_access

router = APIRouter(prefix="/api/auth", tags=["auth"])


async def _tokens(ctx: Ctx, user: dict, sid: str, refresh: str) -> Token:
    access, ttl = issue_access(ctx.settings.jwt_secret, user["name"], user["role"], sid, ctx.settings.access_ttl,
                               user.get("see_all_jobs", False))
    return Token(access_token=access, expires_in=ttl, refresh_token=refresh,
                 refresh_expires_in=ctx.settings.refresh_ttl)


@router.post("/token", response_model=Token, name="auth.login",
             responses={**PUBLIC, **error_responses(401)})
async def login(request: Request, ctx: Ctx,
                username: Annotated[str, Form(min_length=1, max_length=64)],
                password: Annotated[str, Form(min_length=1, max_length=1024)],
                grant_type: Annotated[str | None, Form(pattern="^password$")] = None) -> Token:
    """OAuth2 password login: a short-lived access token and a refresh token. Failed logins are
    rate limited per address and lock the account after repeated failures (429, Retry-After)."""
    if {"username", "password"} & set(request.query_params):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "credentials go in the form body, never in the URL")
    if "\x00" in username or "\x00" in password:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "user name and password must not contain NUL")
    addr = client_addr(request)
    request.state.audit = {"who": username, "outcome": "denied"}
    await ctx.limiter.login_attempt(username, addr)
    user = await ctx.users.authenticate(username, password)
    if user is None:
        metrics.LOGINS.labels(outcome="denied").inc()
        await ctx.limiter.login_failed(username)
        raise unauthorized("wrong user name or password")
    await ctx.limiter.login_ok(username)
    metrics.LOGINS.labels(outcome="ok").inc()
    sid, refresh = await ctx.sessions.open(user["name"], addr)
    request.state.audit = {"who": user["name"], "outcome": "ok", "detail": {"sid": sid}}
    return await _tokens(ctx, user, sid, refresh)


@router.post("/refresh", response_model=Token, name="auth.refresh",
             responses={**PUBLIC, **error_responses(401)})
async def refresh(body: RefreshIn, request: Request, ctx: Ctx) -> Token:
    """Trade a refresh token for new tokens. Each refresh token works once: using one twice
    revokes its whole session (it was copied)."""
    await ctx.limiter.anonymous(client_addr(request))
    got = await ctx.sessions.rotate(body.refresh_token, client_addr(request))
    if isinstance(got, str):
        request.state.audit = {"outcome": "denied", "detail": {"reason": got}}
        raise unauthorized(got)
    name, sid, new = got
    user = await ctx.users.get(name)
    if user is None or user["disabled"]:
        await ctx.sessions.revoke_session(sid, name)
        raise unauthorized("unknown or disabled user")
    request.state.audit = {"who": name, "detail": {"sid": sid}}
    return await _tokens(ctx, user, sid, new)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, name="auth.logout", responses=AUTHED)
async def logout(ctx: Ctx, user: CurrentUser) -> Response:
    """End this session: its access and refresh tokens stop working, its WebSockets close."""
    if user.sid is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "API keys have no session; delete the key instead")
    await ctx.sessions.revoke_session(user.sid, user.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/whoami", response_model=Whoami, responses=AUTHED)
async def whoami(user: CurrentUser) -> Whoami:
    """Who these credentials are (gRPC services ask this to check their callers)."""
    return Whoami(name=user.name, role=user.role, auth=user.auth)


@router.get("/sessions", response_model=list[Session], responses=AUTHED)
async def sessions(ctx: Ctx, user: CurrentUser) -> list[Session]:
    """Your open login sessions (each one a refresh-token family)."""
    return [Session(**r, current=r["sid"] == user.sid) for r in await ctx.sessions.sessions(user.name)]


@router.delete("/sessions/{sid}", status_code=status.HTTP_204_NO_CONTENT, name="session.revoke",
               responses={**AUTHED, **error_responses(404)})
async def revoke_session(sid: str, ctx: Ctx, user: CurrentUser) -> Response:
    if sid not in {r["sid"] for r in await ctx.sessions.sessions(user.name)}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session of yours")
    await ctx.sessions.revoke_session(sid, user.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


