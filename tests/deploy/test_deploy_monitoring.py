"""The Grafana dashboard and the Prometheus alert rules use only metrics the services export.

The exported names come from the services' own `prometheus_client` objects: a fresh Python
imports every module of cobol_mesh and services/ and reads the default registry (what
`/metrics` serves), so a metric renamed in code and not in a query fails here. The rules are
also checked and unit-tested with promtool (Debian's prometheus package, `make deploy-tools`).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from deploy_support import CHART, ROOT, run

DASHBOARD = CHART / "files" / "grafana-dashboard.json"
ALERTS = CHART / "files" / "prometheus-alerts.yaml"
ALERT_TESTS = ROOT / "tests" / "deploy" / "alerts_test.yaml"
PROMTOOL = ROOT / ".cache" / "bin" / "promtool"
# Prometheus' own series about a scrape (not exported by a service)
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

REGISTRY_DUMP = r"""
import importlib, json, os, pkgutil, sys
sys.path[:0] = [sys.argv[1] + "/libs/mesh", sys.argv[1]]
failed = {}
for pkg in ("cobol_mesh", "services"):
    for m in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
        if not m.name.endswith("__main__"):          # importing a __main__ would run a service
            try:
                importlib.import_module(m.name)
            except Exception as exc:
                failed[m.name] = repr(exc)[:300]
from prometheus_client import REGISTRY
fams = [(f.name, f.type) for f in REGISTRY.collect()]
print(json.dumps({"failed": failed, "families": fams}), flush=True)
os._exit(0)                                          # some modules leave threads behind
"""
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",),
            "stateset": ("",), "enum": ("",), "unknown": ("",), "gaugehistogram": ("_bucket", "_gsum", "_gcount")}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name the services' registry can serve."""
    r = subprocess.run([sys.executable, "-c", REGISTRY_DUMP, str(ROOT)], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    dump = json.loads(r.stdout.strip().splitlines()[-1])
    assert not dump["failed"], f"modules that do not import (their metrics would be missed): {dump['failed']}"
    return {name + suffix for name, kind in dump["families"] for suffix in SUFFIXES[kind]}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names (inside {...}, by/without (...)) or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                      # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                                 # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)                                # ranges
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    keywords = {"and", "or", "unless", "bool", "offset", "inf", "nan", "le"}
    return {w for w in words if w.lower() not in keywords and not re.fullmatch(r"\d.*", w)}


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    return exprs + [v["query"] for v in dash["templating"]["list"] if v.get("type") == "query"]


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def test_the_registry_holds_the_mesh_metrics(exported):
    # guards the collection: the shared module's and the API's metrics must be there
    assert {"cobol_bytes_in_total", "cobol_codec_seconds_bucket", "cobol_up", "cobol_api_requests_total",
            "cobol_api_request_seconds_bucket"} <= exported


def test_metric_names_are_read_from_promql():
    assert metric_names('sum by (le, service) (rate(cobol_x_bucket{status=~"5..", a="b(c)"}[5m])) > 0.5') \
        == {"cobol_x_bucket"}
    assert metric_names("histogram_quantile(0.99, sum(rate(a_total[1m])) / sum(b)) or absent(c{d='e'})") \
        == {"a_total", "b", "c"}


def test_dashboard_metrics_exist(exported):
    want = {m for e in dashboard_exprs() for m in metric_names(e)} - {"namespace"}
    assert len(want) >= 10
    assert want <= exported, f"charted but never exported: {sorted(want - exported)}"


def test_alert_rules_metrics_exist(exported):
    rules = alert_rules()
    assert len(rules) >= 8 and len({r["alert"] for r in rules}) == len(rules)
    want = {m for r in rules for m in metric_names(r["expr"])}
    assert want - PROMETHEUS_OWN <= exported, f"alerting on never-exported: {sorted(want - PROMETHEUS_OWN - exported)}"
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning") and r["annotations"]["summary"], r["alert"]


def test_dashboard_is_valid_grafana_json():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "cobol-protocol"
    for p in dash["panels"]:
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]


def test_promtool_checks_the_rules():
    r = run([PROMTOOL, "check", "rules", ALERTS])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in r.stdout


def test_promtool_rule_unit_tests(tmp_path):
    cases = tmp_path / "alerts_test.yaml"
    cases.write_text(ALERT_TESTS.read_text().replace("[RULES]", json.dumps([str(ALERTS)])))
    r = run([PROMTOOL, "test", "rules", cases])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_refuses_a_broken_rule(tmp_path):
    """The check above can fail: a rule with a PromQL syntax error is refused."""
    bad = yaml.safe_load(ALERTS.read_text())
    bad["groups"][0]["rules"][0]["expr"] = "sum(rate(cobol_up[5m])"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = run([PROMTOOL, "check", "rules", tmp_path / "bad.yaml"])
    assert r.returncode != 0 and "parse error" in (r.stdout + r.stderr)


def test_compose_prometheus_scrapes_every_instance_and_loads_the_rules(tmp_path):
    from cobol_mesh import topology
    topo = topology.load()
    cfg = yaml.safe_load((ROOT / "compose" / "prometheus.yml").read_text())
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "cobol-protocol")
    targets = {t: sc["labels"]["service"] for sc in job["static_configs"] for t in sc["targets"]}
    want = {f"{i.name}:{topo.services[i.service].metrics_port}" for i in topo.instances()
            if topo.services[i.service].metrics_port is not None}
    assert want <= set(targets) and targets["api-1:8000"] == "api"          # the API: /metrics on 8000
    assert all(sc["labels"]["namespace"] == "compose" for sc in job["static_configs"])  # the dashboard's filter
    compose = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())["services"]
    assert {t.split(":")[0] for t in targets} <= set(compose)
    assert f"{cfg['rule_files'][0]}:ro" in {v.split(":", 1)[1] for v in compose["prometheus"]["volumes"]}
    # promtool reads the whole file, the rules included (here from the chart, where compose mounts them from)
    cfg["rule_files"] = [str(ALERTS)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    r = run([PROMTOOL, "check", "config", tmp_path / "prometheus.yml"])
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
