"""Users (``api_users``): argon2id hashes, roles, the "see every job" grant."""
from __future__ import annotations

import asyncio

from ..db import Database
from ..security import PasswordHasherBox

COLUMNS = "name, role, disabled, see_all_jobs, created_at, updated_at"


class BootstrapError(RuntimeError):
    pass


class UserStore:
    def __init__(self, db: Database, hasher: PasswordHasherBox) -> None:
        self.db = db
        self.hasher = hasher

    async def get(self, name: str) -> dict | None:
        return await self.db.fetchone(f"SELECT {COLUMNS} FROM api_users WHERE name = %s", (name,))  # nosec B608 # table and column names are module constants; every value is a bound parameter

    async def authenticate(self, name: str, password: str) -> dict | None:
        """The user if the password matches (a legacy PBKDF2 hash is replaced by argon2id)."""
        row = await self.db.fetchone(f"SELECT {COLUMNS}, pw_hash FROM api_users WHERE name = %s", (name,))  # nosec B608 # table and column names are module constants; every value is a bound parameter
        encoded = row["pw_hash"] if row and not row["disabled"] else None
        ok, rehash = await asyncio.to_thread(self.hasher.verify, password, encoded)
        if not ok:
            return None
        if rehash:
            new = await asyncio.to_thread(self.hasher.hash, password)
            await self.db.execute("UPDATE api_users SET pw_hash = %s WHERE name = %s AND pw_hash = %s",
                                  (new, name, encoded))
        row.pop("pw_hash", None)
        return row

    async def check_password(self, name: str, password: str) -> bool:
        return await self.authenticate(name, password) is not None

    async def create(self, name: str, password: str, role: str, see_all_jobs: bool = False) -> dict | None:
        encoded = await asyncio.to_thread(self.hasher.hash, password)
        return await self.db.fetchone(
            f"INSERT INTO api_users (name, pw_hash, role, see_all_jobs) VALUES (%s, %s, %s, %s) "  # nosec B608 # table and column names are module constants; every value is a bound parameter
            f"ON CONFLICT (name) DO NOTHING RETURNING {COLUMNS}", (name, encoded, role, see_all_jobs))

    async def set_password(self, name: str, password: str) -> bool:
        encoded = await asyncio.to_thread(self.hasher.hash, password)
        return await self.db.execute("UPDATE api_users SET pw_hash = %s, updated_at = now() WHERE name = %s",
                                     (encoded, name)) == 1

    async def update(self, name: str, changes: dict) -> dict | None:
        allowed = {k: v for k, v in changes.items() if k in ("role", "disabled", "see_all_jobs")}
        if not allowed:
            return await self.get(name)
        sets = ", ".join(f"{k} = %({k})s" for k in allowed)
        return await self.db.fetchone(
            f"UPDATE api_users SET {sets}, updated_at = now() WHERE name = %(name)s RETURNING {COLUMNS}",  # nosec B608 # SET names are filtered to three fixed columns; values are bound
            {**allowed, "name": name})

    async def delete(self, name: str) -> bool:
        return await self.db.execute("DELETE FROM api_users WHERE name = %s", (name,)) == 1

    async def page(self, *, role: str | None, q: str | None, limit: int, offset: int) -> tuple[list[dict], int]:
        where, args = ["true"], []
        if role:
            where.append("role = %s")
            args.append(role)
        if q:
            where.append("strpos(lower(name), lower(%s)) > 0")
            args.append(q)
        w = " AND ".join(where)
        total = (await self.db.fetchone(f"SELECT count(*) AS n FROM api_users WHERE {w}", tuple(args)))["n"]  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
        rows = await self.db.fetchall(f"SELECT {COLUMNS} FROM api_users WHERE {w} ORDER BY name LIMIT %s OFFSET %s",  # nosec B608 # WHERE built from fixed fragments; every value is a bound parameter
                                      (*args, limit, offset))
        return rows, total

    async def admins(self) -> int:
        return (await self.db.fetchone(
            "SELECT count(*) AS n FROM api_users WHERE role = 'admin' AND NOT disabled"))["n"]

    async def bootstrap_admin(self, password: str | None) -> str:
        """Make sure the ``admin`` user exists. Returns what happened, for the log."""
        if await self.get("admin") is not None:
            return "exists"
        if not password:
            raise BootstrapError(
                "no 'admin' user exists in api_users and COBOL_ADMIN_PASSWORD is not set: "
                "set COBOL_ADMIN_PASSWORD to create the bootstrap admin")
        return "created" if await self.create("admin", password, "admin") else "exists"
