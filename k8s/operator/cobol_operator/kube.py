"""A small apply layer over the Kubernetes REST API (aiohttp, which kopf already uses).

`apply` is idempotent: it creates what is missing, patches (JSON merge patch) only what
differs from the desired object, and leaves alone what already matches, so a reconcile of an
unchanged cluster sends no write at all. Fields the API server defaults (or, for a
StatefulSet, forbids changing) are never compared or sent back.
"""
from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path

import aiohttp

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
PLURALS = {"ConfigMap": "configmaps", "Secret": "secrets", "Service": "services", "Pod": "pods",
           "Deployment": "deployments", "StatefulSet": "statefulsets",
           "PodDisruptionBudget": "poddisruptionbudgets", "NetworkPolicy": "networkpolicies",
           "CobolCluster": "cobolclusters", "Event": "events", "Job": "jobs"}
# Set at creation and immutable after (sending them again could only fail).
IMMUTABLE = {"StatefulSet": ("volumeClaimTemplates", "selector", "serviceName", "podManagementPolicy"),
             "Deployment": ("selector",)}
MERGE = "application/merge-patch+json"


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API {status}: {message}")
        self.status = status


def path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    p = f"{base}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{p}/{name}" if name else p


def subset(want, have) -> bool:
    """Whether `have` already holds everything `want` says (extra server-side fields are fine)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(subset, want, have))
    return want == have or (isinstance(want, (int, float)) and str(want) == str(have) and not isinstance(want, bool))


def mutable_part(obj: dict) -> dict:
    """The object without the fields that cannot change after creation."""
    out = {k: v for k, v in obj.items() if k != "spec"}
    drop = IMMUTABLE.get(obj.get("kind", ""), ())
    if "spec" in obj:
        out["spec"] = {k: v for k, v in obj["spec"].items() if k not in drop}
    return out


class Kube:
    def __init__(self, server: str, token: str | None = None, ca_file: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> "Kube":
        """COBOL_KUBE_API (a URL, no auth: tests against an emulator) or the pod's service account."""
        url = os.environ.get("COBOL_KUBE_API")
        if url:
            return cls(url)
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise SystemExit("cobol-operator: set COBOL_KUBE_API, or run in a pod with a service account")
        return cls(f"https://{host}:{port}", (SA_DIR / "token").read_text().strip(), str(SA_DIR / "ca.crt"))

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self.headers,
                                                  timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url_path: str, body: dict | None = None,
                      content_type: str = "application/json", params: dict | None = None):
        s = await self.session()
        kwargs = {"params": params or {}, "ssl": self.ssl}
        if body is not None:
            kwargs["json"] = body
            kwargs["headers"] = {"Content-Type": content_type}
        async with s.request(method, self.server + url_path, **kwargs) as r:
            if r.status == 404 and method == "GET":
                return None
            data = await r.json(content_type=None) if r.content_length != 0 else None
            if r.status >= 400:
                msg = data.get("message") if isinstance(data, dict) else await r.text()
                raise KubeError(r.status, f"{method} {url_path}: {msg}")
            return data

    async def get(self, obj_path: str) -> dict | None:
        return await self.request("GET", obj_path)

    async def list(self, api_version: str, kind: str, namespace: str, match: dict) -> list[dict]:
        """Objects whose labels include `match` (also filtered here: not every server filters)."""
        sel = ",".join(f"{k}={v}" for k, v in match.items())
        data = await self.request("GET", path(api_version, kind, namespace), params={"labelSelector": sel})
        items = (data or {}).get("items") or []
        return [o for o in items if all(((o.get("metadata") or {}).get("labels") or {}).get(k) == v
                                        for k, v in match.items())]

    async def patch(self, obj_path: str, body: dict) -> dict:
        return await self.request("PATCH", obj_path, body, MERGE)

    async def existing(self, objs: list[dict], match: dict) -> dict:
        """The objects that exist now of the kinds in `objs`, one list call per kind."""
        have: dict = {}
        ns = objs[0]["metadata"]["namespace"] if objs else "default"
        for api_version, kind in dict.fromkeys((o["apiVersion"], o["kind"]) for o in objs):
            for o in await self.list(api_version, kind, ns, match):
                have[(api_version, kind, o["metadata"]["name"])] = o
        return have

    async def apply(self, obj: dict, have: dict | None = ...) -> str:
        """Create, patch or leave alone; returns which ("created", "patched", "unchanged").
        `have`: the object as it exists (None: missing), when the caller listed it already."""
        m = obj["metadata"]
        where = path(obj["apiVersion"], obj["kind"], m["namespace"], m["name"])
        if have is ...:
            have = await self.get(where)
        if have is None:
            await self.request("POST", path(obj["apiVersion"], obj["kind"], m["namespace"]), obj)
            return "created"
        want = mutable_part(obj)
        if subset(want, have):
            return "unchanged"
        await self.patch(where, want)
        return "patched"

    async def create_once(self, obj: dict) -> str:
        """Create if missing, never overwrite (generated secrets)."""
        m = obj["metadata"]
        if await self.get(path(obj["apiVersion"], obj["kind"], m["namespace"], m["name"])) is not None:
            return "unchanged"
        await self.request("POST", path(obj["apiVersion"], obj["kind"], m["namespace"]), obj)
        return "created"

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        sec = await self.get(path("v1", "Secret", namespace, name))
        if not sec:
            return None
        if key in (sec.get("data") or {}):
            return base64.b64decode(sec["data"][key]).decode()
        return (sec.get("stringData") or {}).get(key)     # emulators keep stringData as sent
