from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    instance: str


class Readiness(BaseModel):
    status: str
    instance: str
    checks: dict[str, str]
