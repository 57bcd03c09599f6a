"""API keys for machines (``api_keys``): stored as SHA-256 of the secret, shown once."""
from __future__ import annotations

import hmac

from ..db import Database
from ..security import api_key_id, digest, new_api_key

COLUMNS = "id, name, owner, role, created_at, expires_at, last_used_at"


class ApiKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, owner: str, name: str, role: str, expires_at) -> tuple[dict, str]:
        kid, key = new_api_key()
        row = await self.db.fetchone(
            f"INSERT INTO api_keys (id, name, owner, role, key_hash, expires_at) VALUES (%s, %s, %s, %s, %s, %s) "  # nosec B608 # table and column names are module constants; every value is a bound parameter
            f"RETURNING {COLUMNS}", (kid, name, owner, role, digest(key), expires_at))
        return row, key

    async def resolve(self, key: str) -> dict | None:
        """The key's row joined with its owner (role, disabled), if the key is valid now."""
        kid = api_key_id(key)
        if kid is None:
            return None
        row = await self.db.fetchone(
            "SELECT k.id, k.name, k.owner, k.role, k.key_hash, u.role AS owner_role, u.disabled, u.see_all_jobs "
            "FROM api_keys k JOIN api_users u ON u.name = k.owner "
            "WHERE k.id = %s AND (k.expires_at IS NULL OR k.expires_at > now())", (kid,))
        if row is None or row["disabled"] or not hmac.compare_digest(row["key_hash"], digest(key)):
            return None
        await self.db.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s "
                              "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", (kid,))
        return row

    async def get(self, kid: str) -> dict | None:
        return await self.db.fetchone(f"SELECT {COLUMNS} FROM api_keys WHERE id = %s", (kid,))  # nosec B608 # table and column names are module constants; every value is a bound parameter

    async def delete(self, kid: str) -> bool:
        return await self.db.execute("DELETE FROM api_keys WHERE id = %s", (kid,)) == 1

    async def page(self, *, owner: str | None, limit: int, offset: int) -> tuple[list[dict], int]:
        where, args = ("owner = %s", (owner,)) if owner else ("true", ())
        total = (await self.db.fetchone(f"SELECT count(*) AS n FROM api_keys WHERE {where}", args))["n"]  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
        rows = await self.db.fetchall(
            f"SELECT {COLUMNS} FROM api_keys WHERE {where} ORDER BY created_at DESC, id LIMIT %s OFFSET %s",  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
            (*args, limit, offset))
        return rows, total
