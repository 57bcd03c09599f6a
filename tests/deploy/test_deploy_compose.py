"""Docker Compose: generated from the topology, valid for Debian's docker-compose, and naming the
same services as the chart (through the operator) and scripts/mesh.py."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest
import yaml

from deploy_support import ROOT, helm_template, run

COMPOSE = ROOT / "compose" / "docker-compose.yml"
INFRA = {"kafka-1", "kafka-2", "kafka-3", "kafka-init", "redis", "postgres", "prometheus", "grafana", "filebeat"}
SECRETS = {"COBOL_JWT_SECRET": "a-long-random-secret", "COBOL_ADMIN_PASSWORD": "an-admin-password",
           "GRAFANA_ADMIN_PASSWORD": "a-grafana-password"}

sys.path.insert(0, str(ROOT / "compose"))
import generate  # noqa: E402  (compose/generate.py)


def docker_compose() -> str:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing: `make setup` installs Debian's package"
    return exe


def compose_doc() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_up_to_date():
    r = run([sys.executable, ROOT / "compose" / "generate.py", "--check"])
    assert r.returncode == 0, r.stderr


def test_docker_compose_config_accepts_it():
    env = dict(os.environ, **SECRETS)
    r = run([docker_compose(), "-f", COMPOSE, "config", "-q"], env=env)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_docker_compose_refuses_to_run_without_the_secrets(missing):
    env = {k: v for k, v in {**os.environ, **SECRETS}.items() if k != missing}
    r = run([docker_compose(), "-f", COMPOSE, "config", "-q"], env=env)
    assert r.returncode != 0 and missing in r.stderr


def test_compose_shape():
    doc = compose_doc()
    svcs = doc["services"]
    brokers = [n for n in svcs if n.startswith("kafka-") and n != "kafka-init"]
    assert len(brokers) == 3 and all(svcs[b]["image"].startswith("apache/kafka:") for b in brokers)
    assert all(svcs[b]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller" for b in brokers)
    for name, svc in svcs.items():
        if name != "kafka-init":
            assert "healthcheck" in svc, name
    api = svcs["api-1"]
    assert set(api["ports"]) == {"127.0.0.1:3000:8000", "127.0.0.1:8000:8000"}   # dashboard on 3000, as the brief
    assert all(p.startswith("127.0.0.1:") for s in svcs.values() for p in s.get("ports", []))
    assert {"postgres-data", "redis-data", "kafka-1-data", "archive-1-data"} <= set(doc["volumes"])
    assert svcs["archive-1"]["volumes"] == ["./certs:/certs:ro", "archive-1-data:/data/archive"]
    # every mesh service presents its certificate for gRPC mTLS (scripts/certs.py --dir compose/certs)
    assert all(s["environment"]["COBOL_CERT_DIR"] == "/certs" and "./certs:/certs:ro" in s["volumes"]
               for n, s in svcs.items() if n.rsplit("-", 1)[0] in {"coordinator", "archive", "compressor", "ingest", "api"})
    assert svcs["archive-1"]["environment"]["COBOL_ARCHIVE_PEERS"] == "archive-2:50053"
    comp = svcs["compressor-1"]
    assert comp["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}
    assert comp["command"] == ["python", "-m", "services.compressor"]
    assert comp["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def mesh_py_services() -> set[str]:
    """The services scripts/mesh.py starts (its plan from the topology)."""
    from cobol_mesh import topology
    spec = importlib.util.spec_from_file_location("mesh_script", ROOT / "scripts" / "mesh.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod                 # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        topo = topology.load()
        return {p.service for p in mod.plan(topo, mod.default_counts(topo))}
    finally:
        sys.modules.pop(spec.name, None)


def test_compose_chart_and_mesh_name_the_same_services(helm):
    from cobol_mesh import topology
    from cobol_operator import render
    topo = topology.load()
    in_topology = set(topo.services)

    compose_instances = set(compose_doc()["services"]) - INFRA
    assert compose_instances == {i.name for i in topo.instances()}
    in_compose = {n.rsplit("-", 1)[0] for n in compose_instances}

    cluster = next(d for d in helm_template(helm, "--set", "clusters[0].name=prod") if d["kind"] == "CobolCluster")
    cluster["metadata"]["uid"] = "u"
    objs = render.render(render.Cluster.from_body(cluster), topo)
    in_chart = {o["metadata"]["labels"]["app.kubernetes.io/component"]
                for o in objs if o["kind"] in ("Deployment", "StatefulSet")}

    assert in_compose == in_topology
    assert in_chart == in_topology
    assert mesh_py_services() == in_topology


def test_a_new_service_in_the_topology_appears_everywhere():
    """Grow the topology by a service no code knows: compose and the operator follow, untouched."""
    from cobol_mesh import topology
    from cobol_operator import render
    doc = yaml.safe_load((ROOT / "topology.yaml").read_text())
    doc["services"]["indexer"] = {"module": "services.indexer", "instances": 1, "port": 50099,
                                    "metrics_port": 9600, "uses": ["kafka", "postgres"], "talks_to": ["coordinator"]}
    doc["services"]["api"]["talks_to"] = [*doc["services"]["api"]["talks_to"], "indexer"]
    topo = topology.parse(doc)

    svcs = generate.render(topo)["services"]
    fed = svcs["indexer-1"]
    assert fed["command"] == ["python", "-m", "services.indexer"]
    assert fed["environment"]["COBOL_INDEXER_ADDR"] == "0.0.0.0:50099"
    assert svcs["api-1"]["environment"]["COBOL_INDEXER_ADDR"] == "indexer:50099"
    assert "COBOL_PG_DSN" in fed["environment"] and "postgres" in fed["depends_on"]

    c = render.Cluster.from_body({"metadata": {"name": "p", "namespace": "n", "uid": "u"}, "spec": {
        "nodeCount": 1, "nodeClass": "any", "storageClass": "s", "version": "1",
        "kafka": {"bootstrapServers": ["k:9092"]}, "redis": {"secretRef": {"name": "r"}},
        "postgres": {"secretRef": {"name": "p"}}}})
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render.render(c, topo)}
    assert ("Deployment", "p-indexer") in objs and ("Service", "p-indexer") in objs
    pol = objs[("NetworkPolicy", "p-indexer")]["spec"]["ingress"][0]
    assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in pol["from"]] == ["api"]
    assert pol["ports"] == [{"protocol": "TCP", "port": 50099}]


@pytest.mark.parametrize("bad", ["instances: -1", "instances: many"])
def test_generator_refuses_a_broken_topology(tmp_path, bad):
    text = (ROOT / "topology.yaml").read_text().replace("instances: 1", bad, 1)
    (tmp_path / "t.yaml").write_text(text)
    r = run([sys.executable, ROOT / "compose" / "generate.py", "--check"],
            env=dict(os.environ, COBOL_TOPOLOGY=str(tmp_path / "t.yaml")))
    assert r.returncode != 0 and "instances must be an integer" in r.stderr
