from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from ..enums import Role
from .common import UserName


class UserCreate(BaseModel):
    name: UserName
    password: str = Field(min_length=1, max_length=1024, description="see the password policy in docs/API.md")
    role: Role = "viewer"
    see_all_jobs: bool = False


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None
    see_all_jobs: bool | None = Field(None, description="grant: see and download every user's jobs")


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=1024)
    current_password: str | None = Field(None, max_length=1024,
                                         description="required when changing your own password")


class User(BaseModel):
    name: str
    role: Role
    disabled: bool = False
    see_all_jobs: bool = False
    created_at: dt.datetime | None = None


class Me(User):
    auth: str = Field(description="how this request authenticated: token or api_key")


class RoleInfo(BaseModel):
    name: Role
    rank: int
    description: str
