"""kopf entry points: thin, each one a call into `reconcile`.

Reconciles on create, on spec changes (including `kubectl scale`, through the scale
subresource), on operator start (resume) and on a timer (COBOL_OPERATOR_INTERVAL seconds,
default 15), which also keeps the status current as pods come and go.
"""
from __future__ import annotations

import asyncio
import os

import kopf

from cobol_mesh import topology

from .kube import Kube
from .reconcile import reconcile

GROUP, VERSION, PLURAL = "cobolprotocol.io", "v1", "cobolclusters"
INTERVAL = float(os.environ.get("COBOL_OPERATOR_INTERVAL", "15"))

_kube: Kube | None = None
_locks: dict[str, asyncio.Lock] = {}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_) -> None:
    global _kube
    _kube = Kube.from_env()
    topology.load()                              # a broken topology stops the operator at once
    settings.persistence.finalizer = "cobolprotocol.io/operator"
    # The CRD's status schema is structural: fields it does not declare are pruned by the API
    # server, so kopf keeps its own progress in annotations, not in status.kopf.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cobolprotocol.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="cobolprotocol.io")
    settings.posting.level = 30                  # Kubernetes events for warnings and errors only


@kopf.on.cleanup()
async def cleanup(**_) -> None:
    if _kube is not None:
        await _kube.close()


@kopf.on.login()
def login(**kwargs):
    url = os.environ.get("COBOL_KUBE_API")
    if url:
        return kopf.ConnectionInfo(server=url, insecure=True)
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


async def _run(body, patch, logger) -> None:
    uid = body["metadata"].get("uid") or body["metadata"]["name"]
    async with _locks.setdefault(uid, asyncio.Lock()):   # handlers and the timer, one at a time
        new = await reconcile(_kube, dict(body), topology.load(), logger)
    patch.status.update(new)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def apply_spec(body, patch, logger, **_) -> None:
    await _run(body, patch, logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=INTERVAL, initial_delay=INTERVAL)
async def refresh(body, patch, logger, **_) -> None:
    await _run(body, patch, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
async def forget(body, logger, **_) -> None:
    # The owned objects carry ownerReferences: Kubernetes' garbage collector removes them.
    _locks.pop(body["metadata"].get("uid") or body["metadata"]["name"], None)
    logger.info("cluster deleted; its objects go with it (ownerReferences); archive volumes are kept")
