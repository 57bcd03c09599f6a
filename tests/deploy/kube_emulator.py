"""kopf's Kubernetes API emulator (kmock) served on 127.0.0.1 from a background thread.

The test talks to it over HTTP as kubectl would (httpx); the operator runs as a real process
against its URL. kmock serves discovery, list, watch, create, patch and delete; it does no
schema validation, no defaulting, no garbage collection and runs no controllers: the tests
play the ReplicaSet controller's part (creating and deleting pods) where one is needed.
"""
from __future__ import annotations

import asyncio
import threading

import attrs
import jsonpatch
import kmock
from kmock import ResourceInfo

# Every resource the operator and kopf touch. kopf needs the CRD, namespaces and events
# declared, or it silently never starts watching.
RESOURCES = {
    "apiextensions.k8s.io/v1/customresourcedefinitions": ResourceInfo(kind="CustomResourceDefinition", namespaced=False),
    "v1/namespaces": ResourceInfo(kind="Namespace", namespaced=False),
    "v1/events": ResourceInfo(kind="Event", namespaced=True),
    "v1/pods": ResourceInfo(kind="Pod", namespaced=True),
    "v1/configmaps": ResourceInfo(kind="ConfigMap", namespaced=True),
    "v1/secrets": ResourceInfo(kind="Secret", namespaced=True),
    "v1/services": ResourceInfo(kind="Service", namespaced=True),
    "apps/v1/deployments": ResourceInfo(kind="Deployment", namespaced=True),
    "apps/v1/statefulsets": ResourceInfo(kind="StatefulSet", namespaced=True),
    "batch/v1/jobs": ResourceInfo(kind="Job", namespaced=True),
    "policy/v1/poddisruptionbudgets": ResourceInfo(kind="PodDisruptionBudget", namespaced=True),
    "networking.k8s.io/v1/networkpolicies": ResourceInfo(kind="NetworkPolicy", namespaced=True),
    "cobolprotocol.io/v1/cobolclusters": ResourceInfo(
        kind="CobolCluster", singular="cobolcluster", namespaced=True,
        verbs={"get", "list", "watch", "create", "patch", "update", "delete"},
        subresources={"status", "scale"}),
}


@attrs.define(kw_only=True)
class VersionedEmulator(kmock.KubernetesEmulator):
    """kmock, plus what a real API server does on every write: a new metadata.resourceVersion,
    and 422 (not 500) for a JSON patch whose resourceVersion test fails (optimistic concurrency).

    kopf waits until its own patch comes back through the watch stream with the version the
    patch answered; without new versions it would wait out its consistency timeout each time.
    """
    _version: int = attrs.field(default=0, init=False)

    async def _handle(self, request):
        if request.resource is not None and request.action in (kmock.action.CREATE, kmock.action.UPDATE):
            self._version += 1
            rv = str(self._version)
            if isinstance(request.data, dict):          # create, or a merge patch
                request.data.setdefault("metadata", {})["resourceVersion"] = rv
            elif isinstance(request.data, list):        # a JSON patch
                request.data.append({"op": "add", "path": "/metadata/resourceVersion", "value": rv})
        try:
            return await super()._handle(request)
        except jsonpatch.JsonPatchTestFailed as exc:   # a stale resourceVersion: 422, as the API server says
            raise kmock.KubernetesError(status=422, reason="Invalid", message=f"the object has changed: {exc}")


class Emulator:
    def __init__(self) -> None:
        self.url: str | None = None
        self.handler: kmock.KubernetesEmulator | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)
        self._error: BaseException | None = None

    def start(self, timeout: float = 30) -> "Emulator":
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise RuntimeError(f"kmock did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:       # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with VersionedEmulator() as k8s, kmock.Server(k8s, host="127.0.0.1") as srv:
            for name, info in RESOURCES.items():
                k8s.resources[name] = info
            self.handler = k8s
            self.url = str(srv.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def writes(self) -> int:
        """How many create/patch/delete requests the emulator has served so far."""
        return sum(1 for r in list(self.handler.requests) if r.method in ("POST", "PATCH", "PUT", "DELETE"))

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
