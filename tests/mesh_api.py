"""The REST API of a mesh that `scripts/mesh.py up` started, signed in as its admin (the
password `make setup` wrote to .data/admin-password)."""
from __future__ import annotations

import contextlib

import httpx

from corpora import ROOT


@contextlib.contextmanager
def admin_client(api_url: str):
    password = (ROOT / ".data" / "admin-password").read_text().strip()
    with httpx.Client(base_url=api_url, timeout=60) as c:
        r = c.post("/api/auth/token", data={"username": "admin", "password": password})
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c
