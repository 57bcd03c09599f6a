"""Shapes shared by every resource: the error body and the page of a list."""
from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

UserName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
# Free text a client may send (names, descriptions): printable, no control characters.
Label = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Error(BaseModel):
    detail: str = Field(description="what went wrong (never echoes secrets)")
    errors: list[dict] | None = Field(None, description="per-field problems of a 422: location, message, type")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="how many match the filters (before limit/offset)")
    limit: int
    offset: int


def error_responses(*codes: int) -> dict[int, dict]:
    text = {400: "malformed request (e.g. a NUL byte in a parameter, or conflicting parameters)",
            401: "missing, invalid, expired or revoked credentials", 403: "your role does not allow this",
            404: "not found (or not yours to see)", 409: "conflicts with the current state",
            413: "too large", 416: "range not satisfiable", 422: "invalid parameters or body",
            429: "rate limited (see Retry-After)", 502: "a mesh service failed", 503: "a mesh service is unavailable",
            504: "a mesh service timed out"}
    return {c: {"model": Error, "description": text[c]} for c in codes}


PUBLIC = error_responses(400, 422, 429, 503)
AUTHED = error_responses(400, 401, 403, 422, 429, 503)   # 503: Redis or PostgreSQL unavailable
