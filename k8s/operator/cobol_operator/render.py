"""Desired Kubernetes objects for one CobolCluster: pure functions, no API server.

Every service of the topology (cobol_mesh.topology) becomes a workload (a Deployment, or a
StatefulSet with volumes for the archive), a Service, a PodDisruptionBudget and a
NetworkPolicy that admits only the services whose `talks_to` names it. New services in
topology.yaml appear here by themselves; the few per-service choices (which service the
`nodeCount` scales, which needs storage, which speaks HTTP) are the tables below.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from dataclasses import dataclass

from cobol_mesh.topology import Service, Topology

GROUP = "cobolprotocol.io"
API_VERSION = f"{GROUP}/v1"
KIND = "CobolCluster"

WORKERS = "compressor"        # spec.nodeCount replicas; drained one by one on scale-down
STATEFUL = {"archive"}        # StatefulSet + one PersistentVolumeClaim per replica
REPLICATED = {"archive": ("archive", "replicas")}   # service -> spec path of its replica count
HTTP_HEALTH = {"api": "/api/health"}                # HTTP readiness; other ports speak gRPC health
PUBLIC = {"api"}              # reachable from outside the mesh (ingress to the API)
HTTP_METRICS = {"api"}        # serves /metrics on its HTTP port (no metrics port)
PROMETHEUS_PEER = {"namespaceSelector": {},    # Prometheus, wherever it runs
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}

ARCHIVE_DIR = "/data/archive"
RUN_DIR = "/tmp/run"
CERT_DIR = "/etc/cobol/certs"  # COBOL_CERT_DIR: grpc_auth reads ca.crt and <identity>.crt/.key here
CERTS_ANNOTATION = f"{GROUP}/certs"   # a digest of the certificates: new ones roll the pods
GRACE_SECONDS = 60            # a worker finishes its transaction and leaves the group in this time
DRAIN_ANNOTATION = f"{GROUP}/drain"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

KAFKA_IMAGE = "apache/kafka:4.1.1"     # only for kafka-topics.sh in the topics Job
SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")

DEFAULT_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
WORKER_RESOURCES = {
    "requests": {"cpu": "1", "memory": "1Gi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
}


@dataclass(frozen=True)
class Cluster:
    """What render needs from a CobolCluster object (metadata + spec, defaults applied)."""
    name: str
    namespace: str
    uid: str
    spec: dict

    @classmethod
    def from_body(cls, body: dict) -> "Cluster":
        meta = body.get("metadata") or {}
        return cls(meta["name"], meta.get("namespace") or "default", meta.get("uid") or "",
                   with_defaults(body.get("spec") or {}))


def with_defaults(spec: dict) -> dict:
    """The CRD's defaults, applied here too (the API server applies them; emulators do not)."""
    s = copy.deepcopy(spec)
    s.setdefault("image", "ghcr.io/cobol-protocol/cobol")
    s.setdefault("imagePullPolicy", "IfNotPresent")
    s.setdefault("archive", {})
    s["archive"].setdefault("replicas", 3)
    s["archive"].setdefault("storageSize", "50Gi")
    s.setdefault("api", {})
    s["api"].setdefault("serviceType", "ClusterIP")
    s["api"].setdefault("ingressCIDRs", [])
    s.setdefault("resources", {})
    s.setdefault("tls", {})
    return s


def image_of(c: Cluster) -> str:
    return f"{c.spec['image']}:{c.spec['version']}"


def object_name(c: Cluster, service: str) -> str:
    return f"{c.name}-{service}"


def labels(c: Cluster, service: str | None = None) -> dict:
    out = {
        "app.kubernetes.io/name": "cobol-protocol",
        "app.kubernetes.io/instance": c.name,
        "app.kubernetes.io/managed-by": "cobol-operator",
        f"{GROUP}/cluster": c.name,
    }
    if service:
        out["app.kubernetes.io/component"] = service
    return out


def selector(c: Cluster, service: str) -> dict:
    return {f"{GROUP}/cluster": c.name, "app.kubernetes.io/component": service}


def selector_string(c: Cluster, service: str) -> str:
    return ",".join(f"{k}={v}" for k, v in selector(c, service).items())


def owner(c: Cluster) -> list[dict]:
    return [{"apiVersion": API_VERSION, "kind": KIND, "name": c.name, "uid": c.uid,
             "controller": True, "blockOwnerDeletion": True}]


def meta(c: Cluster, name: str, service: str | None = None, **extra) -> dict:
    m = {"name": name, "namespace": c.namespace, "labels": labels(c, service),
         "ownerReferences": owner(c)}
    m.update(extra)
    return m


def replicas_of(c: Cluster, svc: Service, workers: int | None = None) -> int:
    if svc.name == WORKERS:
        return c.spec["nodeCount"] if workers is None else workers
    if svc.name in REPLICATED:
        section, key = REPLICATED[svc.name]
        return int(c.spec[section][key])
    return svc.instances


def secret_names(c: Cluster) -> dict:
    return {"redis": {**c.spec["redis"]["secretRef"], "name": valid_name(c.spec["redis"]["secretRef"]["name"])},
            "postgres": {**c.spec["postgres"]["secretRef"], "name": valid_name(c.spec["postgres"]["secretRef"]["name"])},
            "api": {"name": object_name(c, "api-secrets")}, "certs": {"name": certs_secret_name(c)},
            "ca": {"name": object_name(c, "mesh-ca")}}


def valid_name(name) -> str:
    """A Secret name as the CRD's schema allows it (it ends up in API paths: the schema is the
    first guard, this the second, for API servers or emulators that do not validate)."""
    if not isinstance(name, str) or not SECRET_NAME.match(name):
        raise ValueError(f"not a valid Secret name: {str(name)[:80]!r}")
    return name


def certs_secret_name(c: Cluster) -> str:
    """The Secret with the mesh's certificates: the user's (spec.tls.secretName) or the
    operator's own `<cluster>-mesh-certs`."""
    own = c.spec["tls"].get("secretName")
    return valid_name(own) if own is not None else object_name(c, "mesh-certs")


def tls_secret(c: Cluster, name: str, files: dict[str, bytes], service: str | None = None) -> dict:
    """A Secret of certificate files (PEM bytes by file name), as the API server stores it."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta(c, name, service),
            "data": {k: base64.b64encode(v).decode() for k, v in sorted(files.items())}}


# --- shared configuration -------------------------------------------------------------------

def config_map(c: Cluster, topo: Topology) -> dict:
    """Addresses of every service with a port, and the mesh-wide settings (no secrets)."""
    data = {
        "COBOL_KAFKA_BOOTSTRAP": ",".join(c.spec["kafka"]["bootstrapServers"]),
        "COBOL_BIND_PUBLIC": "1",
        "COBOL_RUN_DIR": RUN_DIR,
        "COBOL_ARCHIVE_REPLICAS": str(int(c.spec["archive"]["replicas"])),
        "COBOL_ARCHIVE_DIR": ARCHIVE_DIR,
    }
    for svc in topo.services.values():
        if svc.port is not None:
            data[f"COBOL_{env_name(svc.name)}_ADDR"] = f"{object_name(c, svc.name)}:{svc.port}"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(c, object_name(c, "mesh")),
            "data": data}


def env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def env_for(c: Cluster, svc: Service) -> list[dict]:
    env: list[dict] = []
    if svc.port is not None:            # its own address is where it listens (all interfaces)
        env += [{"name": f"COBOL_{env_name(svc.name)}_ADDR", "value": f"0.0.0.0:{svc.port}"},
                {"name": f"COBOL_{env_name(svc.name)}_HOST", "value": "0.0.0.0"},
                {"name": f"COBOL_{env_name(svc.name)}_PORT", "value": str(svc.port)}]
    if svc.metrics_port is not None:
        env.append({"name": "COBOL_METRICS_PORT", "value": str(svc.metrics_port)})
    refs = secret_names(c)
    if "redis" in svc.uses:
        env.append(_secret_env("COBOL_REDIS_URL", refs["redis"], "url"))
    if "postgres" in svc.uses:
        env.append(_secret_env("COBOL_PG_DSN", refs["postgres"], "dsn"))
    if svc.name in PUBLIC:              # tokens must hold across API replicas
        env.append(_secret_env("COBOL_JWT_SECRET", refs["api"], "jwt-secret"))
        env.append(_secret_env("COBOL_ADMIN_PASSWORD", refs["api"], "admin-password"))
    if svc.name not in STATEFUL:        # StatefulSet pods name themselves <service>-<n> (command)
        env.append({"name": "COBOL_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    # gRPC mTLS: the pod's certificate is its service's (pod names do not say the service)
    env += [{"name": "COBOL_CERT_DIR", "value": CERT_DIR}, {"name": "COBOL_GRPC_IDENTITY", "value": svc.name}]
    return env


def _secret_env(name: str, ref: dict, default_key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref["name"],
                                                         "key": ref.get("key") or default_key}}}


def api_secret(c: Cluster, jwt_secret: str, admin_password: str) -> dict:
    """Created once with fresh random values (the caller's), never overwritten."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": meta(c, secret_names(c)["api"]["name"], "api"),
            "stringData": {"jwt-secret": jwt_secret, "admin-password": admin_password}}


# --- workloads ------------------------------------------------------------------------------

def canonical_quantity(q: str) -> str:
    """A quantity as the API server stores it ("0.5" -> "500m", "1024Mi" -> "1Gi"), so that
    comparing what exists with what is wanted does not see a change where there is none."""
    q = str(q)
    if q.endswith("m") or q[-1:].isdigit():                   # cpu: cores or millicores
        milli = int(q[:-1]) if q.endswith("m") else round(float(q) * 1000)
        return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
    units = ["Ki", "Mi", "Gi", "Ti"]
    n, unit = int(q[:-2]), q[-2:]
    i = units.index(unit)
    while n % 1024 == 0 and i < len(units) - 1:
        n, i = n // 1024, i + 1
    return f"{n}{units[i]}"


def container(c: Cluster, svc: Service) -> dict:
    ports = []
    if svc.port is not None:
        ports.append({"name": "http" if svc.name in HTTP_HEALTH else "grpc", "containerPort": svc.port})
    if svc.metrics_port is not None:
        ports.append({"name": "metrics", "containerPort": svc.metrics_port})
    command = ["python", "-m", svc.module]
    if svc.name in STATEFUL:
        command = ["sh", "-c", stateful_start(c, svc)]
    res = copy.deepcopy(WORKER_RESOURCES if svc.name == WORKERS else DEFAULT_RESOURCES)
    for part, values in (c.spec["resources"].get(svc.name) or {}).items():
        res.setdefault(part, {}).update({k: canonical_quantity(v) for k, v in values.items()})
    out = {
        "name": svc.name,
        "image": image_of(c),
        "imagePullPolicy": c.spec["imagePullPolicy"],
        "command": command,
        "envFrom": [{"configMapRef": {"name": object_name(c, "mesh")}}],
        "env": env_for(c, svc),
        "ports": ports,
        "resources": res,
        "readinessProbe": readiness_probe(svc),
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        # the root filesystem is read-only: /tmp (and the ready files under it) is an emptyDir
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "mesh-certs", "mountPath": CERT_DIR, "readOnly": True}],
    }
    if svc.metrics_port is not None:
        out["livenessProbe"] = {"httpGet": {"path": "/metrics", "port": "metrics"},
                                "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6}
    if svc.port is not None:
        # Leave the Service's endpoints before SIGTERM, so no new call reaches a stopping pod.
        out["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    if svc.name in STATEFUL:
        out["volumeMounts"].append({"name": "data", "mountPath": ARCHIVE_DIR})
    return out


def stateful_start(c: Cluster, svc: Service) -> str:
    """Shell that names a StatefulSet pod as the local mesh does (pod <cluster>-archive-0 is
    instance archive-1: stable across restarts, so each replica keeps its consumer group and
    store) and lists the other replicas' stable DNS names as its peers (repair, read fail-over)."""
    pods = object_name(c, f"{svc.name}-pods")
    n = replicas_of(c, svc)
    peer = f"{object_name(c, svc.name)}-$n.{pods}.{c.namespace}.svc:{svc.port}"
    return (f'i="${{HOSTNAME##*-}}"; export COBOL_INSTANCE="{svc.name}-$((i + 1))"; '
            f'peers=""; n=0; while [ "$n" -lt {n} ]; do '
            f'[ "$n" -ne "$i" ] && peers="${{peers:+$peers,}}{peer}"; n=$((n + 1)); done; '
            f'export COBOL_{env_name(svc.name)}_PEERS="$peers"; exec python -m {svc.module}')


def readiness_probe(svc: Service) -> dict:
    common = {"periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3}
    if svc.name in HTTP_HEALTH:
        return {"httpGet": {"path": HTTP_HEALTH[svc.name], "port": "http"}, **common}
    if svc.port is not None:            # gRPC health over mTLS (a kubelet grpc probe has no certificate)
        return {"exec": {"command": ["python", "-c", "import sys; from cobol_mesh.grpc_server import health_status; "
                                     f"sys.exit(health_status('127.0.0.1:{svc.port}', 3) != 'SERVING')"]},
                **common}
    # Pure consumers: ready once the service wrote its ready file (cobol_mesh.lifecycle).
    return {"exec": {"command": ["sh", "-c", 'test -s "$COBOL_RUN_DIR/$COBOL_INSTANCE.ready"']}, **common}


def affinity(c: Cluster, svc: Service) -> dict:
    """Spread a service's replicas over hosts; place it near the services it calls (locality)."""
    anti = [{"weight": 100, "podAffinityTerm": {
        "labelSelector": {"matchLabels": selector(c, svc.name)},
        "topologyKey": "kubernetes.io/hostname"}}]
    near = [{"weight": 20, "podAffinityTerm": {
        "labelSelector": {"matchLabels": selector(c, peer)},
        "topologyKey": "kubernetes.io/hostname"}} for peer in svc.talks_to]
    out: dict = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": anti}}
    if near:
        out["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": near}
    return out


def certs_volume(c: Cluster, svc: Service) -> dict:
    """The certificates Secret, projected to the CA certificate and this service's own pair
    (a pod never sees another identity's key, nor the CA's key)."""
    files = ["ca.crt", f"{svc.name}.crt", f"{svc.name}.key"]
    return {"name": "mesh-certs", "secret": {"secretName": certs_secret_name(c), "defaultMode": 0o440,
                                             "items": [{"key": f, "path": f} for f in files]}}


def pod_template(c: Cluster, svc: Service, certs_digest: str | None = None) -> dict:
    spec = {
        "containers": [container(c, svc)],
        "affinity": affinity(c, svc),
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}, certs_volume(c, svc)],
        "enableServiceLinks": False,
    }
    if c.spec["nodeClass"] != "any":
        spec["nodeSelector"] = {f"{GROUP}/node-class": c.spec["nodeClass"]}
    if svc.name in STATEFUL:
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector(c, svc.name)}}]
    tmeta: dict = {"labels": labels(c, svc.name)}
    if certs_digest:
        tmeta["annotations"] = {CERTS_ANNOTATION: certs_digest}
    return {"metadata": tmeta, "spec": spec}


def workload(c: Cluster, svc: Service, workers: int | None = None, certs_digest: str | None = None) -> dict:
    name = object_name(c, svc.name)
    spec = {"replicas": replicas_of(c, svc, workers),
            "selector": {"matchLabels": selector(c, svc.name)},
            "template": pod_template(c, svc, certs_digest),
            "revisionHistoryLimit": 5}
    if svc.name in STATEFUL:
        spec.update({
            "serviceName": object_name(c, f"{svc.name}-pods"),
            "podManagementPolicy": "OrderedReady",
            # one pod at a time, the next only once the previous is Ready again
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "minReadySeconds": 5,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": labels(c, svc.name)},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": c.spec["storageClass"],
                         "resources": {"requests": {"storage": c.spec["archive"]["storageSize"]}}}}],
        })
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(c, name, svc.name), "spec": spec}
    spec.update({
        # a new pod must be Ready before an old one goes: no capacity lost during a roll
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "minReadySeconds": 5,
        "progressDeadlineSeconds": 600,
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(c, name, svc.name), "spec": spec}


# --- networking and disruption --------------------------------------------------------------

def service(c: Cluster, svc: Service) -> dict:
    ports = []
    if svc.port is not None:
        pname = "http" if svc.name in HTTP_HEALTH else "grpc"
        ports.append({"name": pname, "port": svc.port, "targetPort": pname, "protocol": "TCP"})
    if svc.metrics_port is not None:
        ports.append({"name": "metrics", "port": svc.metrics_port, "targetPort": "metrics", "protocol": "TCP"})
    spec = {"selector": selector(c, svc.name), "ports": ports, "type": "ClusterIP"}
    if svc.name in PUBLIC:
        spec["type"] = c.spec["api"]["serviceType"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(c, object_name(c, svc.name), svc.name),
            "spec": spec}


def headless_service(c: Cluster, svc: Service) -> dict:
    """The StatefulSet's governing Service (stable pod DNS names)."""
    ports = [{"name": "grpc", "port": svc.port, "targetPort": "grpc"}] if svc.port is not None else \
            [{"name": "metrics", "port": svc.metrics_port, "targetPort": "metrics"}]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": meta(c, object_name(c, f"{svc.name}-pods"), svc.name),
            "spec": {"clusterIP": "None", "selector": selector(c, svc.name), "ports": ports,
                     "publishNotReadyAddresses": True}}


def pdb(c: Cluster, svc: Service) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": meta(c, object_name(c, svc.name), svc.name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(c, svc.name)}}}


def callers(topo: Topology, name: str) -> list[str]:
    """The services whose `talks_to` names this one."""
    return sorted(s.name for s in topo.services.values() if name in s.talks_to)


def network_policy(c: Cluster, topo: Topology, svc: Service) -> dict:
    rules = []
    if svc.port is not None:
        if svc.name in PUBLIC:
            cidrs = c.spec["api"]["ingressCIDRs"]
            peers = [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]
            rule = {"ports": [{"protocol": "TCP", "port": svc.port}]}
            if peers:                   # none listed: anyone may reach the API
                rule["from"] = peers + [{"podSelector": {"matchLabels": selector(c, s)}}
                                        for s in callers(topo, svc.name)]
                if svc.name in HTTP_METRICS:    # its /metrics is on this port
                    rule["from"].append(PROMETHEUS_PEER)
            rules.append(rule)
        else:
            peers = [{"podSelector": {"matchLabels": selector(c, s)}} for s in callers(topo, svc.name)]
            if peers:
                rules.append({"from": peers, "ports": [{"protocol": "TCP", "port": svc.port}]})
    if svc.metrics_port is not None:    # Prometheus, wherever it runs
        rules.append({"from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": svc.metrics_port}]})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(c, object_name(c, svc.name), svc.name),
            "spec": {"podSelector": {"matchLabels": selector(c, svc.name)},
                     "policyTypes": ["Ingress"], "ingress": rules}}


def topics_job(c: Cluster, topics: dict) -> dict:
    """A Job that creates the mesh's Kafka topics (scripts/infra/topics.json), idempotently.
    Its name carries a hash of the topic list: a changed list is a new Job (a Job's pod
    template cannot change), an unchanged one is left alone."""
    brokers = c.spec["kafka"]["bootstrapServers"]
    rf = min(3, len(brokers))
    lines = ["set -e"]
    for t in topics["topics"]:
        config = {**topics.get("defaults", {}), **t.get("config", {})}
        cfg = "".join(f" --config {k}={v}" for k, v in sorted(config.items()))
        lines.append(f"/opt/kafka/bin/kafka-topics.sh --bootstrap-server {','.join(brokers)} --create "
                     f"--if-not-exists --topic {t['name']} --partitions {int(t['partitions'])} "
                     f"--replication-factor {rf}{cfg}")
    digest = hashlib.sha256(json.dumps([brokers, topics], sort_keys=True).encode()).hexdigest()[:10]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": meta(c, object_name(c, f"topics-{digest}"), "kafka-topics"),
            "spec": {"backoffLimit": 10, "ttlSecondsAfterFinished": 86400, "template": {
                "metadata": {"labels": labels(c, "kafka-topics")},
                "spec": {"restartPolicy": "OnFailure",
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [{
                             "name": "topics", "image": KAFKA_IMAGE, "command": ["sh", "-c", "\n".join(lines)],
                             "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                           "limits": {"cpu": "1", "memory": "512Mi"}},
                             "securityContext": {"allowPrivilegeEscalation": False,
                                                 "capabilities": {"drop": ["ALL"]}}}]}}}}


def render(c: Cluster, topo: Topology, workers: int | None = None, topics: dict | None = None,
           certs_digest: str | None = None) -> list[dict]:
    """Every object the cluster needs, in apply order. `workers` overrides nodeCount (drain
    steps); `topics` (topics.json) adds the Job that creates the Kafka topics; `certs_digest`
    (of the certificates Secret) goes into each pod template, so new certificates roll the pods."""
    objs = [config_map(c, topo)]
    if topics:
        objs.append(topics_job(c, topics))
    for svc in topo.services.values():
        if svc.name in STATEFUL:
            objs.append(headless_service(c, svc))
        if svc.port is not None or svc.metrics_port is not None:
            objs.append(service(c, svc))
        objs += [network_policy(c, topo, svc), pdb(c, svc), workload(c, svc, workers, certs_digest)]
    return objs


def key(obj: dict) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]
