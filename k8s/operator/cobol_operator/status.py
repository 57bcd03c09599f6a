"""The CobolCluster's status from what exists: pure functions over pods and the coordinator's view.

Conditions follow the Kubernetes conventions (type, status, reason, message,
lastTransitionTime, observedGeneration):
  Ready        every service has at least as many ready pods as it should
  Progressing  pods are being added, drained or replaced by a new version
  Degraded     a pod is failing (crash loop, image pull, failed), a service has no ready pod,
               a referenced Secret is missing, the mesh certificates are missing or incomplete,
               or the coordinator reports nodes down
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cobol_mesh.topology import Topology

from . import drain, render

FAILING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
           "CreateContainerError", "InvalidImageName", "RunContainerError", "OOMKilled", "Error"}


@dataclass
class ServiceState:
    name: str
    want: int
    pods: int = 0
    ready: int = 0
    updated: int = 0
    failing: list[str] = field(default_factory=list)


def failure(pod: dict) -> str | None:
    """Why a pod is failing, or None."""
    st = pod.get("status") or {}
    if st.get("phase") == "Failed":
        return st.get("reason") or "Failed"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason in FAILING:
            return reason
    return None


def image(pod: dict) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return containers[0].get("image", "")


def services(c: render.Cluster, topo: Topology, pods: list[dict]) -> list[ServiceState]:
    want_image = render.image_of(c)
    out = []
    for svc in topo.services.values():
        st = ServiceState(svc.name, render.replicas_of(c, svc))
        sel = render.selector(c, svc.name)
        for p in pods:
            lab = (p.get("metadata") or {}).get("labels") or {}
            if any(lab.get(k) != v for k, v in sel.items()) or drain.terminating(p):
                continue
            st.pods += 1
            st.ready += drain.is_ready(p)
            st.updated += image(p) == want_image
            why = failure(p)
            if why:
                st.failing.append(f"{p['metadata']['name']} {why}")
        out.append(st)
    return out


def coordinator_nodes(view) -> tuple[int, int, list[str]]:
    """(nodes, alive, instances down) from the API's `GET /api/cluster/nodes` page:
    {"items": [{"instance", "role", "status": alive|suspect|down|left, ...}], "total", ...}.
    Nodes that left on purpose are not counted; an answer without `items` (an older API, an
    odd proxy) counts as no nodes rather than failing the reconcile."""
    items = view.get("items") if isinstance(view, dict) else None
    if not isinstance(items, list):
        return 0, 0, []
    nodes = [n for n in items if isinstance(n, dict) and str(n.get("status", "")).lower() != "left"]
    down = [str(n.get("instance") or "?")[:253] for n in nodes if str(n.get("status", "")).lower() == "down"]
    alive = sum(1 for n in nodes if str(n.get("status", "")).lower() == "alive")
    return len(nodes), alive, down


def compute(c: render.Cluster, topo: Topology, pods: list[dict], generation: int | None,
            step: drain.Step | None = None, missing_secrets: list[str] = (),
            coordinator: dict | None = None, tls_problems: list[str] = ()) -> dict:
    """The status (conditions without timestamps; `conditions()` adds them)."""
    states = services(c, topo, pods)
    workers = next((s for s in states if s.name == render.WORKERS), ServiceState(render.WORKERS, 0))

    failing = [f for s in states for f in s.failing]
    dark = [s.name for s in states if s.want > 0 and s.pods > 0 and s.ready == 0]
    reach = coordinator or {"reachable": False, "message": "not asked"}
    n_nodes, n_up, down = coordinator_nodes(reach.get("view")) if reach.get("reachable") else (0, 0, [])
    degraded = []
    if missing_secrets:
        degraded.append(("SecretMissing", "missing Secret(s): " + ", ".join(missing_secrets)))
    if tls_problems:
        degraded.append(("CertificatesMissing", "; ".join(tls_problems)))
    if failing:
        degraded.append(("PodsFailing", "; ".join(sorted(failing))))
    if dark:
        degraded.append(("NoReadyPods", "no ready pod: " + ", ".join(dark)))
    if down:
        degraded.append(("NodesDown", "the coordinator reports down: " + ", ".join(sorted(down))))

    progressing = []
    if step is not None and step.draining:
        progressing.append(("Draining", f"scaling workers down to {c.spec['nodeCount']}, one drained pod at a time"
                            + (f" (draining {step.victim})" if step.victim else "")))
    for s in states:
        if s.pods != s.want and not (s.name == render.WORKERS and step is not None and step.draining):
            progressing.append(("Scaling", f"{s.name}: {s.pods} pods, want {s.want}"))
        elif s.updated < s.pods:
            progressing.append(("RollingUpdate", f"{s.name}: {s.updated}/{s.pods} pods on {render.image_of(c)}"))

    short = [f"{s.name} {s.ready}/{s.want}" for s in states if s.ready < s.want]
    conds = [
        ("Ready", not short, "AllServicesReady" if not short else "ServicesNotReady",
         "every service has its ready pods" if not short else "ready/wanted: " + ", ".join(short)),
        ("Progressing", bool(progressing), progressing[0][0] if progressing else "Reconciled",
         "; ".join(m for _, m in progressing) or "every service matches the spec"),
        ("Degraded", bool(degraded), degraded[0][0] if degraded else "AsExpected",
         "; ".join(m for _, m in degraded) or "no failing pods"),
    ]
    out = {
        "nodes": workers.pods,
        "readyNodes": workers.ready,
        "selector": render.selector_string(c, render.WORKERS),
        "version": c.spec["version"],
        "coordinator": {"reachable": bool(reach.get("reachable")), "nodes": n_nodes, "up": n_up,
                        "message": str(reach.get("message", ""))[:1000]},
        "_conditions": conds,
    }
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def conditions(old: list[dict] | None, new: list[tuple], now: str, generation: int | None) -> list[dict]:
    """Kubernetes conditions; lastTransitionTime moves only when a condition's status changes."""
    before = {c.get("type"): c for c in old or []}
    out = []
    for ctype, ok, reason, message in new:
        status = "True" if ok else "False"
        prev = before.get(ctype)
        since = prev["lastTransitionTime"] if prev and prev.get("status") == status and \
            prev.get("lastTransitionTime") else now
        cond = {"type": ctype, "status": status, "reason": reason, "message": message[:32000],
                "lastTransitionTime": since}
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out
