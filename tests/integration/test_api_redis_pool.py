"""The API's Redis client under more concurrent calls than it has connections (real Redis)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from services.api.app import connect_redis

pytestmark = pytest.mark.integration


def test_calls_beyond_the_pool_wait_for_a_connection_instead_of_failing(infra):
    key = f"cobol:test:pool:{uuid.uuid4().hex}"

    async def burst(client: aioredis.Redis) -> list:
        try:
            return await asyncio.gather(*(client.incr(key) for _ in range(50)), return_exceptions=True)
        finally:
            await client.aclose()

    got = asyncio.run(burst(connect_redis(infra["redis"]["url"], max_connections=3)))
    assert sorted(got) == list(range(1, 51))
    # what the default pool does with the same burst: the reason for the blocking pool
    default = aioredis.from_url(infra["redis"]["url"], max_connections=3)
    refused = asyncio.run(burst(default))
    assert any(isinstance(r, redis.exceptions.MaxConnectionsError) for r in refused)

    async def delete() -> None:
        client = aioredis.from_url(infra["redis"]["url"])
        await client.delete(key)
        await client.aclose()
    asyncio.run(delete())
