"""API keys for machines: created by a logged-in user, shown once, stored hashed, with a role."""
from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from ..deps import CurrentUser, Ctx
from ..enums import ROLE_RANK
from ..schemas.apikey import ApiKey, ApiKeyCreate, ApiKeyCreated
from ..schemas.common import AUTHED, Page, error_responses
from .common import Limit, Offset

router = APIRouter(prefix="/api/api-keys", tags=["api-keys"], responses=AUTHED)


@router.get("", response_model=Page[ApiKey])
async def list_keys(ctx: Ctx, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                    owner: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$",
                                                       description="admins: whose keys (default: all)")] = None):
    """Your keys; an admin sees everyone's (or one owner's)."""
    if not user.at_least("admin"):
        if owner not in (None, user.name):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can list other users' keys")
        owner = user.name
    rows, total = await ctx.keys.page(owner=owner, limit=limit, offset=offset)
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED, name="apikey.create")
async def create_key(body: ApiKeyCreate, request: Request, ctx: Ctx, user: CurrentUser):
    """A new key with at most your role. The key is in this response only: store it now."""
    if user.auth != "token":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an API key cannot create API keys: log in")
    if ROLE_RANK[body.role] > ROLE_RANK[user.role]:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a key cannot have more than your role ({user.role})")
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=body.expires_in_days)
               if body.expires_in_days else None)
    row, key = await ctx.keys.create(user.name, body.name, body.role, expires)
    request.state.audit = {"detail": {"key_id": row["id"], "role": body.role}}
    return {**row, "key": key}


async def _own_key(ctx: Ctx, user, kid: str) -> dict:
    row = await ctx.keys.get(kid)
    if row is None or (row["owner"] != user.name and not user.at_least("admin")):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such API key")
    return row


@router.get("/{key_id}", response_model=ApiKey, responses=error_responses(404))
async def get_key(key_id: str, ctx: Ctx, user: CurrentUser):
    return await _own_key(ctx, user, key_id)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, name="apikey.delete",
               responses=error_responses(404))
async def delete_key(key_id: str, request: Request, ctx: Ctx, user: CurrentUser):
    """Revoke a key at once (its WebSockets close too)."""
    row = await _own_key(ctx, user, key_id)
    request.state.audit = {"detail": {"key_id": key_id, "owner": row["owner"]}}
    await ctx.keys.delete(key_id)
    await ctx.redis.publish(ctx.settings.revocations_channel, json.dumps({"key": key_id, "user": row["owner"]}))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
