"""The Helm chart with a real helm binary; every rendered manifest through kubernetes-validate --strict."""
from __future__ import annotations

import pytest
import yaml

from deploy_support import CHART, helm_template, kubernetes_validate, run
from test_deploy_crd import errors as crd_errors

MULTI = CHART / "examples" / "values-multi-region.yaml"
ONE_CLUSTER = ["--set", "clusters[0].name=production", "--set", "clusters[0].spec.nodeCount=5"]
VARIANTS = {
    "defaults": [],
    "one-cluster": ONE_CLUSTER,
    "multi-region+restore+prometheus-operator": [
        "-f", str(MULTI), "--set", "backup.restoreFrom=cobol-20261130T031700Z.dump",
        "--api-versions", "monitoring.coreos.com/v1"],
    "quick-start-secrets": ONE_CLUSTER + [
        "--set", "connections.create=true", "--set", "connections.redis.url=redis://redis:6379/0",
        "--set", "connections.postgres.dsn=postgresql://cobol:pw@pg:5432/cobol"],
    "logs+alert-rules": ONE_CLUSTER + ["--set", "logging.filebeat.enabled=true",
                                       "--set", "logging.filebeat.elasticsearch.secretName=es-creds",
                                       "--api-versions", "monitoring.coreos.com/v1"],
    "operator-only": ["--set", "backup.enabled=false", "--set", "monitoring.scrapeConfig.enabled=false",
                      "--set", "monitoring.grafanaDashboard.enabled=false",
                      "--set", "monitoring.alertRules.enabled=false"],
}


def kinds(docs: list[dict]) -> list[str]:
    return sorted(d["kind"] for d in docs)


@pytest.mark.parametrize("values", [[], ["-f", str(MULTI)]], ids=["defaults", "multi-region"])
def test_helm_lint(helm, values):
    r = run([helm, "lint", "--strict", CHART, *values])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 chart(s) failed" in r.stdout


@pytest.mark.parametrize("name", list(VARIANTS))
def test_rendered_manifests_validate_strictly(helm, tmp_path, name):
    docs = helm_template(helm, "--include-crds", *VARIANTS[name])
    r = kubernetes_validate(docs, tmp_path, name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ERROR" not in r.stdout + r.stderr
    # every built-in kind passed; only custom resources may be unknown to the schemas
    passed = r.stdout.count("passed for resource")
    custom = sum(1 for d in docs if d["apiVersion"].split("/")[0] in ("cobolprotocol.io", "monitoring.coreos.com"))
    assert passed == len(docs) - custom, r.stdout
    for d in docs:
        if d["kind"] == "CobolCluster":
            assert crd_errors(d) == [], d["metadata"]["name"]


def test_what_the_chart_installs(helm):
    base = kinds(helm_template(helm, "--include-crds"))
    assert "CustomResourceDefinition" in base and "Deployment" in base and "CronJob" in base
    assert "CobolCluster" not in base                      # optional: none unless asked
    assert "ServiceMonitor" not in base                    # the Prometheus Operator's CRD is absent
    multi = helm_template(helm, "-f", str(MULTI), "--api-versions", "monitoring.coreos.com/v1")
    clusters = {d["metadata"]["name"]: d for d in multi if d["kind"] == "CobolCluster"}
    assert set(clusters) == {"eu-west", "us-east", "ap-south"}
    assert clusters["ap-south"]["spec"]["archive"] == {"replicas": 2, "storageSize": "100Gi"}
    assert clusters["eu-west"]["metadata"]["namespace"] == "cobol-eu-west"
    assert clusters["eu-west"]["spec"]["resources"]["compressor"]["limits"]["cpu"] == "4"   # from clusterDefaults
    assert "ServiceMonitor" in kinds(multi)
    # the alert rules: a PrometheusRule only with the operator's CRD, the rules file always
    assert "PrometheusRule" in kinds(multi) and "PrometheusRule" not in base
    rules_cm = next(d for d in helm_template(helm) if d["metadata"]["name"].endswith("-prometheus-alerts"))
    assert rules_cm["data"]["cobol-protocol-alerts.yaml"].strip() == \
        (CHART / "files" / "prometheus-alerts.yaml").read_text().strip()
    rule = next(d for d in multi if d["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "prometheus-alerts.yaml").read_text())
    # the API's /metrics is on its HTTP port: scraped too
    monitor = next(d for d in multi if d["kind"] == "ServiceMonitor")
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"metrics", "http"}
    op = next(d for d in multi if d["kind"] == "Deployment")
    assert op["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--namespace=cobol-eu-west", "--namespace=cobol-us-east", "--namespace=cobol-ap-south"]


def test_backup_cronjob_dumps_to_a_pvc(helm):
    docs = helm_template(helm)
    cron = next(d for d in docs if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    script = pod["containers"][0]["args"][0]
    assert "pg_dump --format=custom" in script and ".partial" in script and "mv " in script
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "cobol-cobol-protocol-pg-backup"
    pvc = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("bad", ["../etc/passwd", "cobol-x.dump; rm -rf /", "latest", "cobol-20261130T031700Z.dump\n"])
def test_restore_refuses_anything_but_a_dump_name(helm, bad):
    r = run([helm, "template", "cobol", CHART, "--set-string", f"backup.restoreFrom={bad}"])
    assert r.returncode != 0
    assert "backup.restoreFrom must be a dump's file name" in r.stderr


def test_quick_start_secrets_need_their_values(helm):
    r = run([helm, "template", "cobol", CHART, "--set", "connections.create=true"])
    assert r.returncode != 0 and "connections.redis.url is required" in r.stderr


def test_operator_output_for_the_charts_clusters_validates(helm, tmp_path):
    """What the operator would create for each CobolCluster the chart installs: valid too."""
    from cobol_mesh import topology
    from cobol_operator import reconcile, render
    topo = topology.load()
    topics = reconcile.load_topics()
    assert topics and topics["topics"]
    out = []
    for d in helm_template(helm, "-f", str(MULTI)):
        if d["kind"] == "CobolCluster":
            d["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
            c = render.Cluster.from_body(d)
            out += render.render(c, topo, topics=topics) + [render.api_secret(c, "jwt", "pw")]
    assert any(o["kind"] == "Job" for o in out)
    r = kubernetes_validate(out, tmp_path, "operator")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed for resource") == len(out)


def test_install_dry_run_prints_the_notes(helm):
    r = run([helm, "install", "cobol", CHART, "-n", "cobol", "--dry-run=client", "-f", str(MULTI)])
    assert r.returncode == 0, r.stderr
    notes = r.stdout.split("NOTES:", 1)[1]
    assert "watches cobol-eu-west, cobol-us-east, cobol-ap-south" in notes
    assert "kubectl scale cobolcluster/<name>" in notes
