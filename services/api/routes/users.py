"""Users and roles: who may log in, with which role, and the see-all-jobs grant."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from ..deps import Admin, CurrentUser, Ctx
from ..enums import ROLE_RANK, Role
from ..schemas.common import AUTHED, Page, UserName, error_responses
from ..schemas.user import Me, PasswordChange, RoleInfo, User, UserCreate, UserUpdate
from ..security import password_problem
from .common import Limit, Offset

router = APIRouter(prefix="/api", tags=["users"], responses=AUTHED)
NOT_FOUND = error_responses(404)
ROLE_TEXT = {"viewer": "reads its own jobs (status, downloads, statistics)",
             "operator": "a viewer who also submits, cancels and deletes its own jobs",
             "admin": "everything: every job, users, API keys of anyone, the audit log"}


def _policy(password: str, name: str) -> None:
    problem = password_problem(password, name)
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)


@router.get("/me", response_model=Me)
async def me(ctx: Ctx, user: CurrentUser):
    row = await ctx.users.get(user.name)
    if row is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown user", headers={"WWW-Authenticate": "Bearer"})
    return {**row, "role": user.role, "auth": user.auth}


@router.get("/roles", response_model=list[RoleInfo])
async def roles(user: CurrentUser):
    """The roles, weakest first (the role × endpoint table is in docs/API.md)."""
    return [RoleInfo(name=r, rank=ROLE_RANK[r], description=ROLE_TEXT[r]) for r in ROLE_RANK]


@router.get("/users", response_model=Page[User])
async def list_users(ctx: Ctx, user: Admin, limit: Limit = 50, offset: Offset = 0, role: Role | None = None,
                     q: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$",
                                                    description="part of the name")] = None):
    rows, total = await ctx.users.page(role=role, q=q, limit=limit, offset=offset)
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


@router.post("/users", response_model=User, status_code=status.HTTP_201_CREATED, name="user.create",
             responses=error_responses(409))
async def create_user(body: UserCreate, request: Request, ctx: Ctx, user: Admin):
    request.state.audit = {"detail": {"name": body.name, "role": body.role}}
    _policy(body.password, body.name)
    row = await ctx.users.create(body.name, body.password, body.role, body.see_all_jobs)
    if row is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.name} already exists")
    return row


@router.get("/users/{name}", response_model=User, responses=NOT_FOUND)
async def get_user(name: UserName, ctx: Ctx, user: CurrentUser):
    if name != user.name and not user.at_least("admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can read other users")
    row = await ctx.users.get(name)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    return row


@router.patch("/users/{name}", response_model=User, name="user.update", responses=error_responses(404, 409))
async def update_user(name: UserName, body: UserUpdate, request: Request, ctx: Ctx, user: Admin):
    """Change a role, disable, or grant see_all_jobs. The user's tokens are revoked (new ones
    carry the change); you cannot demote or disable yourself."""
    changes = body.model_dump(exclude_none=True)
    request.state.audit = {"detail": {"name": name, **changes}}
    if name == user.name and (changes.get("disabled") or changes.get("role", "admin") != "admin"):
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot demote or disable yourself")
    row = await ctx.users.update(name, changes)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    if changes:
        await ctx.sessions.revoke_user(name)
    return row


@router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT, name="user.delete",
               responses=error_responses(404, 409))
async def delete_user(name: UserName, request: Request, ctx: Ctx, user: Admin):
    """Delete a user: every token and API key of theirs stops working, their WebSockets close.
    Their jobs stay (visible to admins)."""
    request.state.audit = {"detail": {"name": name}}
    if name == user.name:
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot delete yourself")
    if not await ctx.users.delete(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    await ctx.sessions.revoke_user(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT, name="user.password",
            responses=error_responses(404))
async def set_password(name: UserName, body: PasswordChange, request: Request, ctx: Ctx, user: CurrentUser):
    """Change a password: your own needs current_password; an admin may reset anyone's. Every
    token of that user is revoked (log in again) and their WebSockets close."""
    request.state.audit = {"detail": {"name": name}}
    if name != user.name and not user.at_least("admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can change another user's password")
    if user.auth != "token":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "passwords are changed with a login token, not an API key")
    if name == user.name:
        if not body.current_password:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "current_password is required")
        if not await ctx.users.check_password(name, body.current_password):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "current_password is wrong")
    _policy(body.password, name)
    if not await ctx.users.set_password(name, body.password):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    await ctx.sessions.revoke_user(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{name}/unlock", status_code=status.HTTP_204_NO_CONTENT, name="user.unlock",
             responses=NOT_FOUND)
async def unlock_user(name: UserName, request: Request, ctx: Ctx, user: Admin):
    """Lift a login lockout (after repeated failed logins) before it expires."""
    request.state.audit = {"detail": {"name": name}}
    if await ctx.users.get(name) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    await ctx.limiter.unlock(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
