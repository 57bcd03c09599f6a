"""The operator's pure layers: render, drain and status, without any API server."""
from __future__ import annotations

import pytest

from cobol_mesh import topology
from cobol_operator import drain, kube, render, status

TOPO = topology.load()
SPEC = {"nodeCount": 3, "nodeClass": "any", "storageClass": "ssd", "version": "2.0.0",
        "kafka": {"bootstrapServers": ["k1:9092", "k2:9092"]},
        "redis": {"secretRef": {"name": "r"}}, "postgres": {"secretRef": {"name": "p"}}}


def cluster(**spec) -> render.Cluster:
    return render.Cluster.from_body({"metadata": {"name": "c", "namespace": "ns", "uid": "u"},
                                     "spec": {**SPEC, **spec}})


def pod(name, service="compressor", ready=True, image="ghcr.io/cobol-protocol/cobol:2.0.0", ts="2026-01-01T00:00:00Z",
        annotations=None, waiting=None, deleting=False):
    meta = {"name": name, "labels": {"cobolprotocol.io/cluster": "c", "app.kubernetes.io/component": service},
            "creationTimestamp": ts, "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    st = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        st["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    return {"metadata": meta, "spec": {"containers": [{"image": image}]}, "status": st}


def by_key(objs):
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def test_render_is_deterministic_and_covers_the_topology():
    a, b = render.render(cluster(), TOPO), render.render(cluster(), TOPO)
    assert a == b
    objs = by_key(a)
    for svc in TOPO.services.values():
        kind = "StatefulSet" if svc.name in render.STATEFUL else "Deployment"
        assert (kind, f"c-{svc.name}") in objs
        assert ("NetworkPolicy", f"c-{svc.name}") in objs and ("PodDisruptionBudget", f"c-{svc.name}") in objs


def test_replicas_come_from_the_spec():
    objs = by_key(render.render(cluster(nodeCount=7, archive={"replicas": 5}), TOPO))
    assert objs[("Deployment", "c-compressor")]["spec"]["replicas"] == 7
    assert objs[("StatefulSet", "c-archive")]["spec"]["replicas"] == 5
    assert objs[("Deployment", "c-ingest")]["spec"]["replicas"] == TOPO.service("ingest").instances
    assert by_key(render.render(cluster(), TOPO, workers=2))[("Deployment", "c-compressor")]["spec"]["replicas"] == 2


def test_no_node_selector_for_any_and_one_for_a_class():
    objs = by_key(render.render(cluster(), TOPO))
    assert "nodeSelector" not in objs[("Deployment", "c-api")]["spec"]["template"]["spec"]
    objs = by_key(render.render(cluster(nodeClass="gpu"), TOPO))
    assert objs[("Deployment", "c-api")]["spec"]["template"]["spec"]["nodeSelector"] == {"cobolprotocol.io/node-class": "gpu"}


def test_api_ingress_limited_to_cidrs_when_given():
    open_ = by_key(render.render(cluster(), TOPO))[("NetworkPolicy", "c-api")]["spec"]["ingress"][0]
    assert "from" not in open_                           # anyone may reach the API
    shut = by_key(render.render(cluster(api={"ingressCIDRs": ["10.0.0.0/8"]}), TOPO))[("NetworkPolicy", "c-api")]
    assert shut["spec"]["ingress"][0]["from"][0] == {"ipBlock": {"cidr": "10.0.0.0/8"}}
    assert render.PROMETHEUS_PEER in shut["spec"]["ingress"][0]["from"]   # still scraped (/metrics on 8000)


def test_affinity_spreads_replicas_and_seeks_peers():
    spec = by_key(render.render(cluster(), TOPO))[("Deployment", "c-compressor")]["spec"]["template"]["spec"]
    anti = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "compressor"
    near = spec["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert {t["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] for t in near} == \
        set(TOPO.service("compressor").talks_to)


def test_drain_scales_up_at_once_and_down_one_by_one():
    assert drain.plan(5, 2, []) == drain.Step(5, None, False)
    assert drain.plan(3, None, []) == drain.Step(3, None, False)
    pods = [pod("a", ts="2026-01-01T00:00:01Z"), pod("b", ts="2026-01-01T00:00:03Z"), pod("c", ts="2026-01-01T00:00:02Z")]
    assert drain.plan(1, 3, pods) == drain.Step(2, "b", True)          # the newest goes first
    pods[0] = pod("a", ready=False)
    assert drain.plan(1, 3, pods).victim == "a"                          # a pod that is not ready before any
    pods[2] = pod("c", annotations={render.DRAIN_ANNOTATION: "requested"})
    assert drain.plan(1, 3, pods).victim == "c"                          # an already-marked pod first
    # the previous victim is still there: wait for it
    four = pods + [pod("d")]
    assert drain.plan(1, 3, four) == drain.Step(3, None, True)
    # a terminating pod no longer counts
    assert drain.plan(1, 3, pods[:2] + [pod("c", deleting=True)]).replicas == 2


def test_status_ready_progressing_degraded():
    c = cluster(nodeCount=2, archive={"replicas": 1})
    everyone = []
    for svc in TOPO.services.values():
        for i in range(render.replicas_of(c, svc)):
            everyone.append(pod(f"{svc.name}-{i}", service=svc.name))
    st = status.compute(c, TOPO, everyone, 4)
    conds = {t: (ok, reason) for t, ok, reason, _ in st["_conditions"]}
    assert conds == {"Ready": (True, "AllServicesReady"), "Progressing": (False, "Reconciled"),
                     "Degraded": (False, "AsExpected")}
    assert st["readyNodes"] == 2 and st["nodes"] == 2 and st["observedGeneration"] == 4

    broken = [p for p in everyone if p["metadata"]["name"] != "api-0"] + [
        pod("api-0", service="api", ready=False, waiting="ImagePullBackOff")]
    conds = {t: (ok, reason, m) for t, ok, reason, m in status.compute(c, TOPO, broken, 4)["_conditions"]}
    assert conds["Degraded"][:2] == (True, "PodsFailing") and "api-0 ImagePullBackOff" in conds["Degraded"][2]
    assert conds["Ready"][0] is False and "api 0/1" in conds["Ready"][2]

    rolling = everyone + [pod("api-new", service="api", image="ghcr.io/cobol-protocol/cobol:1.0.0")]
    conds = {t: (ok, reason) for t, ok, reason, _ in status.compute(c, TOPO, rolling, 4)["_conditions"]}
    assert conds["Progressing"] == (True, "Scaling")


def test_status_from_the_coordinators_view():
    c = cluster(nodeCount=0, archive={"replicas": 1})
    page = {"items": [
        {"instance": "compressor-1", "role": "compressor", "status": "alive"},
        {"instance": "compressor-2", "role": "compressor", "status": "down"},
        {"instance": "archive-1", "role": "archive", "status": "suspect"},
        {"instance": "compressor-3", "role": "compressor", "status": "left"}],   # left on purpose
        "total": 4, "limit": 50, "offset": 0}
    st = status.compute(c, TOPO, [], 1, coordinator={"reachable": True, "message": "ok", "view": page})
    assert st["coordinator"] == {"reachable": True, "nodes": 3, "up": 1, "message": "ok"}
    deg = next(x for x in st["_conditions"] if x[0] == "Degraded")
    assert deg[1] is True and deg[2] == "NodesDown" and "compressor-2" in deg[3] and "compressor-3" not in deg[3]
    # every node alive: not degraded by the coordinator
    calm = {"items": [{"instance": "compressor-1", "role": "compressor", "status": "alive"}], "total": 1}
    st = status.compute(c, TOPO, [], 1, coordinator={"reachable": True, "message": "ok", "view": calm})
    assert next(x for x in st["_conditions"] if x[0] == "Degraded")[1] is False


@pytest.mark.parametrize("junk", [None, {}, [], "x", {"nodes": [{"instance": "a", "status": "down"}]},
                                  {"items": "x"}, {"items": ["not", "dicts", 3]},
                                  {"items": [{"status": 3}, {"instance": None, "status": None}]}])
def test_odd_coordinator_answers_never_fail_the_status(junk):
    n, up, down = status.coordinator_nodes(junk)
    assert up == 0 and down == [] and n <= 2           # the old `nodes` shape is not read any more


def test_every_pod_mounts_the_certificates_of_its_own_service():
    c = cluster()
    for obj in render.render(c, TOPO, certs_digest="abc"):
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        svc = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        tpl = obj["spec"]["template"]
        vol = next(v for v in tpl["spec"]["volumes"] if v["name"] == "mesh-certs")
        assert vol["secret"]["secretName"] == "c-mesh-certs"
        assert [i["key"] for i in vol["secret"]["items"]] == ["ca.crt", f"{svc}.crt", f"{svc}.key"]
        ctr = tpl["spec"]["containers"][0]
        assert {"name": "mesh-certs", "mountPath": render.CERT_DIR, "readOnly": True} in ctr["volumeMounts"]
        env = {e["name"]: e.get("value") for e in ctr["env"]}
        assert env["COBOL_CERT_DIR"] == render.CERT_DIR and env["COBOL_GRPC_IDENTITY"] == svc
        assert tpl["metadata"]["annotations"][render.CERTS_ANNOTATION] == "abc"
        if "grpc" in ctr["readinessProbe"]:                # a kubelet gRPC probe cannot do mTLS
            raise AssertionError(f"{svc}: plain gRPC probe against an mTLS server")
    mine = cluster(tls={"secretName": "my-certs"})
    wl = next(o for o in render.render(mine, TOPO) if o["kind"] == "Deployment")
    assert next(v for v in wl["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "mesh-certs")["secret"]["secretName"] == "my-certs"


def test_conditions_keep_their_transition_time():
    first = status.conditions(None, [("Ready", True, "A", "m")], "t1", 1)
    again = status.conditions(first, [("Ready", True, "B", "m2")], "t2", 2)
    flipped = status.conditions(again, [("Ready", False, "C", "m3")], "t3", 3)
    assert again[0]["lastTransitionTime"] == "t1" and again[0]["reason"] == "B"
    assert flipped[0]["lastTransitionTime"] == "t3" and flipped[0]["observedGeneration"] == 3


@pytest.mark.parametrize("want,have,same", [
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1, "y": 2}]}, True),
    ({"a": [{"x": 1}]}, {"a": [{"x": 1}, {"x": 2}]}, False),
    ({"a": {"b": "1"}}, {"a": {"b": "2"}}, False),
    ({"port": 80}, {"port": "80"}, True),
    ({"flag": True}, {"flag": "True"}, False),
])
def test_subset_comparison(want, have, same):
    assert kube.subset(want, have) is same


def test_immutable_statefulset_fields_are_never_patched():
    sts = by_key(render.render(cluster(), TOPO))[("StatefulSet", "c-archive")]
    part = kube.mutable_part(sts)
    assert "volumeClaimTemplates" not in part["spec"] and "selector" not in part["spec"]
    assert part["spec"]["template"] == sts["spec"]["template"]


def test_kube_paths():
    assert kube.path("v1", "Pod", "ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert kube.path("apps/v1", "StatefulSet", "ns") == "/apis/apps/v1/namespaces/ns/statefulsets"


def test_topics_job_creates_every_topic_idempotently():
    from cobol_operator import reconcile
    topics = reconcile.load_topics()
    job = render.topics_job(cluster(), topics)
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    for t in topics["topics"]:
        assert f"--topic {t['name']} --partitions {t['partitions']}" in script
    assert script.count("--if-not-exists") == len(topics["topics"])
    assert "--replication-factor 2" in script                # two brokers in SPEC: RF cannot exceed them
    same = render.topics_job(cluster(), topics)["metadata"]["name"]
    grown = {**topics, "topics": topics["topics"] + [{"name": "cobol.new", "partitions": 1}]}
    assert same == job["metadata"]["name"] != render.topics_job(cluster(), grown)["metadata"]["name"]


@pytest.mark.parametrize("given,stored", [("0.5", "500m"), ("1", "1"), ("1.0", "1"), ("2.25", "2250m"),
                                          ("1500m", "1500m"), ("2000m", "2"), ("1024Mi", "1Gi"),
                                          ("1536Mi", "1536Mi"), ("512Ki", "512Ki"), ("2048Gi", "2Ti")])
def test_quantities_are_written_as_the_api_server_stores_them(given, stored):
    assert render.canonical_quantity(given) == stored
    c = cluster(resources={"compressor": {"limits": {"cpu": given}}}) if given[-1:].isdigit() or given.endswith("m") \
        else cluster(resources={"compressor": {"limits": {"memory": given}}})
    res = by_key(render.render(c, TOPO))[("Deployment", "c-compressor")]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert stored in res["limits"].values()


@pytest.mark.parametrize("spec", [
    {"tls": {"secretName": "../../api/v1/namespaces/kube-system/secrets/x"}},
    {"tls": {"secretName": "certs\n"}}, {"tls": {"secretName": ""}}, {"tls": {"secretName": "a" * 254}},
    {"tls": {"secretName": 7}}, {"redis": {"secretRef": {"name": "r/../../x"}}},
    {"postgres": {"secretRef": {"name": "P\u00e9"}}}])
def test_hostile_secret_names_are_refused_before_any_write(spec):
    """They become API paths: the CRD's schema refuses them, and so does render (InvalidSpec)."""
    with pytest.raises(ValueError, match="not a valid Secret name"):
        render.render(cluster(**spec), TOPO)
