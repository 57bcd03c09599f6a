"""One reconcile pass: read what exists, apply what the spec and topology want, report status."""
from __future__ import annotations

import datetime
import json
import secrets

from cobol_mesh import topology as topology_mod
from cobol_mesh.topology import Topology

from . import coordinator, drain, mesh_tls, render, status
from .kube import Kube, path


TOPICS = topology_mod.ROOT / "scripts" / "infra" / "topics.json"   # the one list of the mesh's topics


def load_topics() -> dict | None:
    try:
        return json.loads(TOPICS.read_text())
    except (OSError, ValueError):
        return None


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid_status(body: dict, exc: Exception) -> dict:
    """A spec the operator cannot use (the API server's schema normally stops it first):
    nothing is applied, and the status says why."""
    gen = (body.get("metadata") or {}).get("generation")
    why = f"the spec cannot be used: {type(exc).__name__}: {exc}"[:1000]
    conds = [("Ready", False, "InvalidSpec", why), ("Progressing", False, "InvalidSpec", why),
             ("Degraded", True, "InvalidSpec", why)]
    out = {"conditions": status.conditions((body.get("status") or {}).get("conditions"), conds, now(), gen)}
    if gen is not None:
        out["observedGeneration"] = gen
    return out


async def reconcile(kube: Kube, body: dict, topo: Topology, logger=None) -> dict:
    """Bring the cluster's objects in line; return the new status (for the status subresource)."""
    try:
        c = render.Cluster.from_body(body)
        render.render(c, topo)                      # a spec render cannot use fails here, before any write
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if logger:
            logger.error(f"invalid spec, nothing applied: {exc!r}")
        return invalid_status(body, exc)
    ns = c.namespace
    pods = await kube.list("v1", "Pod", ns, {f"{render.GROUP}/cluster": c.name})
    workers = [p for p in pods
               if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == render.WORKERS]
    dep = await kube.get(path("apps/v1", "Deployment", ns, render.object_name(c, render.WORKERS)))
    current = (dep or {}).get("spec", {}).get("replicas")     # None: not created yet
    step = drain.plan(c.spec["nodeCount"], current, workers)

    if step.victim:
        await kube.patch(path("v1", "Pod", ns, step.victim), {"metadata": {"annotations": {
            render.DRAIN_ANNOTATION: "requested", render.DELETION_COST: "-1000"}}})
        if logger:
            logger.info(f"draining worker {step.victim} before scaling to {step.replicas}")

    await kube.create_once(render.api_secret(c, secrets.token_urlsafe(48), secrets.token_urlsafe(18)))
    certs_digest, tls_problems = await mesh_tls.ensure(kube, c, topo, logger)
    changed = []
    desired = render.render(c, topo, workers=step.replicas, topics=load_topics(), certs_digest=certs_digest)
    have = await kube.existing(desired, {f"{render.GROUP}/cluster": c.name})
    for obj in desired:
        if await kube.apply(obj, have.get(render.key(obj))) != "unchanged":
            changed.append(f"{obj['kind']}/{obj['metadata']['name']}")
    if changed and logger:
        logger.info("applied " + ", ".join(changed))

    missing = []
    for ref in (c.spec["redis"]["secretRef"], c.spec["postgres"]["secretRef"]):
        if await kube.get(path("v1", "Secret", ns, ref["name"])) is None:
            missing.append(ref["name"])

    api = topo.services.get("api")
    view = None
    if api is not None and api.port is not None:
        password = await kube.secret_value(ns, render.secret_names(c)["api"]["name"], "admin-password")
        view = await coordinator.nodes_view(coordinator.api_url(c.name, ns, api.port), password)

    new = status.compute(c, topo, pods, (body.get("metadata") or {}).get("generation"), step, missing, view,
                         tls_problems)
    old = (body.get("status") or {}).get("conditions")
    new["conditions"] = status.conditions(old, new.pop("_conditions"), now(), new.get("observedGeneration"))
    return new
