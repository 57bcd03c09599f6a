"""Bearer tokens: OAuth2 password flow issuing HS256 JWTs, and the dependencies that check them."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

import jwt
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel

from . import audit, metrics
from .state import state

ISSUER = "cobol-api"
ALGORITHM = "HS256"
ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=True)


@dataclass(frozen=True)
class CurrentUser:
    name: str
    role: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


def issue_token(name: str, role: str) -> tuple[str, int]:
    now = int(time.time())
    ttl = state.settings.jwt_ttl_seconds
    claims = {"sub": name, "role": role, "iat": now, "nbf": now, "exp": now + ttl, "iss": ISSUER,
              "jti": uuid.uuid4().hex}
    return jwt.encode(claims, state.settings.jwt_secret, algorithm=ALGORITHM), ttl


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def user_from_token(token: str) -> CurrentUser:
    """Decode and check a token, then check the user still exists and is enabled."""
    try:
        claims = jwt.decode(token, state.settings.jwt_secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            leeway=10, options={"require": ["exp", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("invalid token") from None
    user = await state.users.get(claims["sub"])
    if user is None or user["disabled"]:
        raise _unauthorized("unknown or disabled user")
    return CurrentUser(name=user["name"], role=user["role"])


async def current_user(token: str = Depends(oauth2_scheme)) -> CurrentUser:
    return await user_from_token(token)


def require_role(minimum: str) -> Callable:
    async def dep(user: CurrentUser = Depends(current_user)) -> CurrentUser:
        if ROLE_RANK.get(user.role, -1) < ROLE_RANK[minimum]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {minimum} role (you are {user.role})")
        return user

    return dep


router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
async def login(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> Token:
    user = await state.users.authenticate(form.username, form.password)
    client = request.client.host if request.client else None
    if user is None:
        metrics.LOGINS.labels(outcome="denied").inc()
        await audit.record(form.username[:128], "auth.login", outcome="denied", client=client)
        raise _unauthorized("wrong user name or password")
    metrics.LOGINS.labels(outcome="ok").inc()
    await audit.record(user["name"], "auth.login", outcome="ok", client=client)
    token, ttl = issue_token(user["name"], user["role"])
    return Token(access_token=token, expires_in=ttl)
