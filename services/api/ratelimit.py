"""Rate limits and login lockout on Redis (shared by every API instance).

Fixed one-minute windows: ``INCR`` a counter named after the window and ``EXPIRE`` it, in one
pipeline. A request over a limit gets 429 with ``Retry-After`` = seconds to the next window.
Failed logins of one user name are counted apart; after ``lockout_failures`` in a row the
account refuses logins for ``lockout_seconds`` (429 too, so the lock says nothing about
whether the password was right).
"""
from __future__ import annotations

import time

from fastapi import HTTPException, status

WINDOW = 60


class RateLimited(HTTPException):
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(status.HTTP_429_TOO_MANY_REQUESTS, f"too many requests ({what}); retry in {retry_after}s",
                         headers={"Retry-After": str(max(1, retry_after))})


class Limiter:
    def __init__(self, redis, prefix: str, *, per_user: int, per_addr: int, login_per_addr: int,
                 lockout_failures: int, lockout_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix + "rl:"
        self.per_user = per_user
        self.per_addr = per_addr
        self.login_per_addr = login_per_addr
        self.lockout_failures = lockout_failures
        self.lockout_seconds = lockout_seconds

    async def _hit(self, pairs: list[tuple[str, int, str]], get: tuple[str, ...] = ()) -> list:
        """Count the request in each window (and read the `get` keys in the same round trip)."""
        window = int(time.time()) // WINDOW
        pipe = self.redis.pipeline(transaction=False)
        for key, _limit, _what in pairs:
            k = f"{self.prefix}{key}:{window}"
            pipe.incr(k)
            pipe.expire(k, WINDOW + 5)
        if get:
            pipe.mget(*get)
        replies = await pipe.execute()
        retry = WINDOW - int(time.time()) % WINDOW
        for (_key, limit, what), n in zip(pairs, replies[:2 * len(pairs):2]):
            if n > limit:
                raise RateLimited(what, retry)
        return replies[-1] if get else []

    async def request(self, principal: str, addr: str, get: tuple[str, ...] = ()) -> list:
        """Count one request of this principal and address; returns the values of `get`."""
        return await self._hit([(f"u:{principal}", self.per_user, "per user"),
                                (f"a:{addr}", self.per_addr, "per address")], get)

    async def anonymous(self, addr: str) -> None:
        await self._hit([(f"a:{addr}", self.per_addr, "per address")])

    async def login_attempt(self, user: str, addr: str) -> None:
        """Before checking a password: the address's login budget, and the account's lock."""
        await self._hit([(f"login:{addr}", self.login_per_addr, "logins per address")])
        ttl = await self.redis.ttl(f"{self.prefix}lock:{user}")
        if ttl and ttl > 0:
            raise RateLimited("account locked after repeated failed logins", ttl)

    async def login_failed(self, user: str) -> None:
        key = f"{self.prefix}fail:{user}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.lockout_seconds)
        n = (await pipe.execute())[0]
        if n >= self.lockout_failures:
            await self.redis.set(f"{self.prefix}lock:{user}", "1", ex=self.lockout_seconds)
            await self.redis.delete(key)

    async def login_ok(self, user: str) -> None:
        await self.redis.delete(f"{self.prefix}fail:{user}")

    async def unlock(self, user: str) -> None:
        await self.redis.delete(f"{self.prefix}lock:{user}", f"{self.prefix}fail:{user}")
