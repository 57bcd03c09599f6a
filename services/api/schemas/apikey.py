from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from ..enums import Role
from .common import Label


class ApiKeyCreate(BaseModel):
    name: Label
    role: Role = Field("viewer", description="at most the owner's own role")
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiKey(BaseModel):
    id: str
    name: str
    owner: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the secret, shown this once: send it as `X-API-Key` or `Authorization: Bearer`")
