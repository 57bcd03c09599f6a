from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token lives")
    refresh_token: str = Field(description="use once at /api/auth/refresh; each use returns a new one")
    refresh_expires_in: int


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class Session(BaseModel):
    sid: str
    started_at: dt.datetime
    refreshed_at: dt.datetime
    expires_at: dt.datetime
    client: str | None = None
    current: bool = False


class Whoami(BaseModel):
    name: str
    role: str
    auth: str
