"""Login sessions: rotating refresh tokens (PostgreSQL) and revocation (Redis).

A login opens a session (``sid``) with one refresh token. Refreshing uses the token up and
returns a new one of the same session; presenting a used token again means it was stolen,
and the whole session is revoked. Access tokens (JWTs) carry their ``sid``; a request is
refused when Redis holds ``revoked:sid:<sid>``, or when the token was issued before
``epoch:<user>`` (set on password change, role change, disabling and deletion: every token
of that user dies at once). Changes are also published so open WebSockets close.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

from ..db import Database
from ..security import digest, new_refresh


class SessionStore:
    def __init__(self, db: Database, redis, prefix: str, channel: str, refresh_ttl: int, access_ttl: int) -> None:
        self.db = db
        self.redis = redis
        self.prefix = prefix
        self.channel = channel
        self.refresh_ttl = refresh_ttl
        self.access_ttl = access_ttl

    # ---- refresh tokens ---------------------------------------------------------------------

    async def open(self, user: str, client: str | None) -> tuple[str, str]:
        """(sid, refresh token) of a new session."""
        sid = uuid.uuid4().hex
        return sid, await self._issue(sid, user, client)

    async def _issue(self, sid: str, user: str, client: str | None) -> str:
        token = new_refresh()
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.refresh_ttl)
        await self.db.execute(
            "INSERT INTO api_refresh_tokens (token_hash, sid, user_name, expires_at, client) VALUES (%s, %s, %s, %s, %s)",
            (digest(token), sid, user, expires, client))
        return token

    async def rotate(self, token: str, client: str | None) -> tuple[str, str, str] | str:
        """(user, sid, new refresh token), or the reason it is refused."""
        async with self.db.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT sid, user_name, expires_at, used_at FROM api_refresh_tokens WHERE token_hash = %s FOR UPDATE",
                    (digest(token),))
                row = await cur.fetchone()
                if row is None:
                    return "unknown refresh token"
                if row["used_at"] is not None:
                    reuse = True
                else:
                    reuse = False
                    await conn.execute("UPDATE api_refresh_tokens SET used_at = now() WHERE token_hash = %s",
                                       (digest(token),))
        if reuse:
            await self.revoke_session(row["sid"], row["user_name"])
            return "refresh token already used: the session is revoked"
        if row["expires_at"] < dt.datetime.now(dt.timezone.utc):
            return "refresh token expired"
        if await self.is_revoked(row["sid"], row["user_name"], None):
            return "session revoked"
        return row["user_name"], row["sid"], await self._issue(row["sid"], row["user_name"], client)

    async def sessions(self, user: str) -> list[dict]:
        return await self.db.fetchall(
            "SELECT sid, min(created_at) AS started_at, max(created_at) AS refreshed_at, max(expires_at) AS expires_at, "
            "(array_agg(client ORDER BY created_at DESC))[1] AS client FROM api_refresh_tokens "
            "WHERE user_name = %s AND expires_at > now() GROUP BY sid ORDER BY max(created_at) DESC", (user,))

    # ---- revocation ---------------------------------------------------------------------------

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def revoke_session(self, sid: str, user: str) -> None:
        await self.redis.set(self._k("revoked", "sid", sid), "1", ex=self.refresh_ttl + 60)
        await self.db.execute("DELETE FROM api_refresh_tokens WHERE sid = %s", (sid,))
        await self.redis.publish(self.channel, json.dumps({"sid": sid, "user": user}))

    async def revoke_user(self, user: str) -> None:
        """Every token of this user issued until now stops working."""
        await self.redis.set(self._k("epoch", user), str(time.time_ns() // 1_000_000), ex=self.refresh_ttl + 60)
        await self.db.execute("DELETE FROM api_refresh_tokens WHERE user_name = %s", (user,))
        await self.redis.publish(self.channel, json.dumps({"user": user}))

    def revocation_keys(self, sid: str, user: str) -> tuple[str, str]:
        """The Redis keys that say whether a session, or a user's older tokens, are revoked."""
        return self._k("revoked", "sid", sid), self._k("epoch", user)

    @staticmethod
    def revoked(values: list, issued_ms: int | None) -> bool:
        """From the values of revocation_keys: is a token issued at issued_ms revoked?"""
        revoked, epoch = values
        return revoked is not None or (issued_ms is not None and epoch is not None and issued_ms <= int(epoch))

    async def is_revoked(self, sid: str, user: str, issued_ms: int | None) -> bool:
        """Whether the session is revoked, or (issued_ms given) the user's tokens of before then."""
        return self.revoked(await self.redis.mget(*self.revocation_keys(sid, user)), issued_ms)
