"""Pagination and time filters, the same on every list."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]


def utc(t: dt.datetime | None) -> dt.datetime | None:
    """A time filter as an aware datetime (a naive one is taken as UTC)."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=dt.timezone.utc)
