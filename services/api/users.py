"""Users and roles, stored in the API's own ``api_users`` table.

Passwords are hashed with PBKDF2-HMAC-SHA256 (random 16-byte salt, 600k iterations by
default) in the format ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``; hashing runs in
a worker thread so the event loop keeps serving uploads.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from .db import Database

ROLES = ("admin", "operator", "viewer")
Role = Literal["admin", "operator", "viewer"]
SCHEME = "pbkdf2_sha256"
# A hash to compare against when the user does not exist, so that unknown users and wrong
# passwords take the same time.
_DUMMY_SALT = b"cobol-dummy-salt"


def hash_password(password: str, iterations: int = 600_000) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode("ascii").rstrip("=")  # noqa: E731
    return f"{SCHEME}${iterations}${b64(salt)}${b64(digest)}"


def _unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4))


def verify_password(password: str, encoded: str | None, iterations_hint: int = 600_000) -> bool:
    if not encoded:
        hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _DUMMY_SALT, iterations_hint)
        return False
    try:
        scheme, iters, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        calc = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iters))
        return hmac.compare_digest(calc, _unb64(digest))
    except (ValueError, TypeError):
        return False


class UserStore:
    def __init__(self, db: Database, iterations: int = 600_000) -> None:
        self.db = db
        self.iterations = iterations

    async def get(self, name: str) -> dict | None:
        return await self.db.fetchone(
            "SELECT name, pw_hash, role, disabled, created_at FROM api_users WHERE name = %s", (name,)
        )

    async def authenticate(self, name: str, password: str) -> dict | None:
        user = await self.get(name)
        encoded = user["pw_hash"] if user and not user["disabled"] else None
        ok = await asyncio.to_thread(verify_password, password, encoded, self.iterations)
        return user if ok else None

    async def create(self, name: str, password: str, role: str) -> bool:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        encoded = await asyncio.to_thread(hash_password, password, self.iterations)
        n = await self.db.execute(
            "INSERT INTO api_users (name, pw_hash, role) VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
            (name, encoded, role),
        )
        return n == 1

    async def set_password(self, name: str, password: str) -> bool:
        encoded = await asyncio.to_thread(hash_password, password, self.iterations)
        return await self.db.execute("UPDATE api_users SET pw_hash = %s WHERE name = %s", (encoded, name)) == 1

    async def delete(self, name: str) -> bool:
        return await self.db.execute("DELETE FROM api_users WHERE name = %s", (name,)) == 1

    async def list(self) -> list[dict]:
        return await self.db.fetchall("SELECT name, role, disabled, created_at FROM api_users ORDER BY name")

    async def bootstrap_admin(self, password: str | None) -> str:
        """Make sure the ``admin`` user exists. Returns what happened, for the log."""
        if await self.get("admin") is not None:
            return "exists"
        if not password:
            raise BootstrapError(
                "no 'admin' user exists in api_users and COBOL_ADMIN_PASSWORD is not set: "
                "set COBOL_ADMIN_PASSWORD to create the bootstrap admin"
            )
        created = await self.create("admin", password, "admin")
        return "created" if created else "exists"


class BootstrapError(RuntimeError):
    pass


# ---- HTTP ------------------------------------------------------------------------------


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1024)
    role: Role = "viewer"


class UserOut(BaseModel):
    name: str
    role: Role
    disabled: bool = False


class PasswordIn(BaseModel):
    password: str = Field(min_length=8, max_length=1024)


def build_router() -> APIRouter:
    from . import audit
    from .auth import CurrentUser, current_user, require_role

    router = APIRouter(prefix="/api", tags=["users"])

    @router.get("/me", response_model=UserOut)
    async def me(user: CurrentUser = Depends(current_user)) -> UserOut:
        return UserOut(name=user.name, role=user.role)

    @router.get("/users", response_model=list[UserOut])
    async def list_users(user: CurrentUser = Depends(require_role("admin"))) -> list[UserOut]:
        from .state import state

        return [UserOut(name=u["name"], role=u["role"], disabled=u["disabled"]) for u in await state.users.list()]

    @router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
    async def create_user(body: UserIn, user: CurrentUser = Depends(require_role("admin"))) -> UserOut:
        from .state import state

        created = await state.users.create(body.name, body.password, body.role)
        await audit.record(user.name, "user.create", outcome="ok" if created else "conflict",
                           detail={"name": body.name, "role": body.role})
        if not created:
            raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.name!r} already exists")
        return UserOut(name=body.name, role=body.role)

    @router.put("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT)
    async def set_password(name: str, body: PasswordIn, user: CurrentUser = Depends(current_user)) -> None:
        from .state import state

        if user.name != name and user.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can change another user's password")
        ok = await state.users.set_password(name, body.password)
        await audit.record(user.name, "user.password", outcome="ok" if ok else "not_found", detail={"name": name})
        if not ok:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {name!r}")

    @router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_user(name: str, user: CurrentUser = Depends(require_role("admin"))) -> None:
        from .state import state

        if name == user.name:
            raise HTTPException(status.HTTP_409_CONFLICT, "you cannot delete yourself")
        ok = await state.users.delete(name)
        await audit.record(user.name, "user.delete", outcome="ok" if ok else "not_found", detail={"name": name})
        if not ok:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {name!r}")

    return router
