"""The coordinator's view of the nodes, read through the API (`GET /api/cluster/nodes`, a page:
{"items": [{"instance", "role", "status", ...}], "total", "limit", "offset"}; every page is read).

The API answers from the coordinator's membership (heartbeats, suspect/down). The operator
logs in as the bootstrap admin whose password it generated into `<cluster>-api-secrets`.
Unreachable (not deployed yet, not ready, or an older API without the route) is a normal
state: the status then says so and the conditions come from the pods alone.
"""
from __future__ import annotations

import os

import aiohttp

TIMEOUT = float(os.environ.get("COBOL_OPERATOR_API_TIMEOUT", "3"))
MAX_PAGES = 100                  # bounds one status pass, whatever `total` says


def api_url(cluster: str, namespace: str, port: int) -> str:
    """COBOL_OPERATOR_API_URL overrides (a template with {name}, {namespace}, {port})."""
    tpl = os.environ.get("COBOL_OPERATOR_API_URL") or "http://{name}-api.{namespace}.svc:{port}"
    return tpl.format(name=cluster, namespace=namespace, port=port)


async def nodes_view(url: str, password: str | None) -> dict:
    if not password:
        return {"reachable": False, "message": "no admin password in the API secret yet"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as s:
            async with s.post(f"{url}/api/auth/token",
                              data={"username": "admin", "password": password}) as r:
                if r.status != 200:
                    return {"reachable": False, "message": f"login answered HTTP {r.status}"}
                token = (await r.json()).get("access_token")
            items, total = [], None
            for _ in range(MAX_PAGES):       # a page at a time, at the API's own page size
                async with s.get(f"{url}/api/cluster/nodes", params={"offset": str(len(items))},
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status != 200:
                        return {"reachable": False, "message": f"/api/cluster/nodes answered HTTP {r.status}"}
                    page = await r.json()
                if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                    return {"reachable": False, "message": "/api/cluster/nodes answered without an `items` list"}
                items += page["items"]
                total = page.get("total") if isinstance(page.get("total"), int) else len(items)
                if not page["items"] or len(items) >= total:
                    break
            return {"reachable": True, "message": "ok", "view": {"items": items, "total": total}}
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        return {"reachable": False, "message": f"{type(exc).__name__}: {exc}"[:500]}
