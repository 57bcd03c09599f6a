"""Logs for the ELK stack: the Filebeat configurations of compose and of the chart.

No filebeat (or fluent-bit) binary comes from Debian or PyPI, so the configuration's structure
is checked here against what Filebeat 8 reads, and its JSON condition against real log lines
of cobol_mesh.logging (a service's logger, run in a fresh process)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from deploy_support import ROOT, helm_template

COMPOSE_FILEBEAT = ROOT / "compose" / "filebeat.yml"
PROCESSORS = {"add_docker_metadata", "add_kubernetes_metadata", "decode_json_fields", "drop_event", "add_fields",
              "rename", "drop_fields", "add_host_metadata"}
PARSERS = {"container", "ndjson", "multiline"}


def problems(cfg: dict) -> list[str]:
    """What Filebeat 8 would refuse or what would lose the JSON fields: an empty list when fine."""
    out = []
    inputs = cfg.get("filebeat.inputs")
    if not isinstance(inputs, list) or not inputs:
        return ["no filebeat.inputs"]
    ids = [i.get("id") for i in inputs]
    if len(set(ids)) != len(ids) or not all(ids):
        out.append("every filestream input needs its own id")
    for i in inputs:
        if i.get("type") != "filestream":
            out.append(f"input type {i.get('type')!r}: use filestream (log is deprecated)")
        if not i.get("paths") or not all(isinstance(p, str) and p.startswith("/") for p in i["paths"]):
            out.append("an input needs absolute paths")
        for p in i.get("parsers") or []:
            if not isinstance(p, dict) or len(p) != 1 or next(iter(p)) not in PARSERS:
                out.append(f"unknown parser {p!r}")
        if not any("container" in p for p in i.get("parsers") or []):
            out.append("container logs need the container parser (docker/CRI framing)")
    procs = cfg.get("processors") or []
    for p in procs:
        if not isinstance(p, dict) or len(p) != 1 or next(iter(p)) not in PROCESSORS:
            out.append(f"unknown processor {p!r}")
    decode = [p["decode_json_fields"] for p in procs if isinstance(p, dict) and "decode_json_fields" in p]
    if len(decode) != 1:
        out.append("exactly one decode_json_fields processor")
    else:
        d = decode[0]
        if d.get("fields") != ["message"] or not d.get("target"):
            out.append("decode_json_fields must parse `message` into a target")
        try:
            re.compile(((d.get("when") or {}).get("regexp") or {})["message"])
        except (KeyError, re.error, TypeError):
            out.append("decode_json_fields needs a regexp condition on message")
    outputs = [k for k in cfg if k.startswith("output.")]
    if outputs != ["output.elasticsearch"]:
        out.append(f"exactly one output, elasticsearch (got {outputs})")
    elif not cfg["output.elasticsearch"].get("hosts"):
        out.append("output.elasticsearch.hosts is empty")
    if "output.elasticsearch" in cfg and "index" in cfg["output.elasticsearch"] and \
            not ("setup.template.name" in cfg and "setup.template.pattern" in cfg):
        out.append("a custom index needs setup.template.name and .pattern")
    return out


def json_condition(cfg: dict) -> re.Pattern:
    d = next(p["decode_json_fields"] for p in cfg["processors"] if "decode_json_fields" in p)
    return re.compile(d["when"]["regexp"]["message"])


def chart_filebeat(helm) -> tuple[dict, list[dict]]:
    docs = helm_template(helm, "--set", "logging.filebeat.enabled=true")
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-filebeat"))
    return yaml.safe_load(cm["data"]["filebeat.yml"]), docs


@pytest.fixture(scope="module")
def service_log_lines() -> list[str]:
    """Lines a service really writes (cobol_mesh.logging), inside and outside a span."""
    code = ("import sys; sys.path.insert(0, 'libs/mesh')\n"
            "from cobol_mesh import logging as L\n"
            "from opentelemetry import trace\n"
            "from opentelemetry.sdk.trace import TracerProvider\n"
            "trace.set_tracer_provider(TracerProvider())\n"
            "L.configure('compressor-1')\n"
            "log = L.get()\n"
            "log.info('chunk_done', job='j1', seq=3)\n"
            "with trace.get_tracer('t').start_as_current_span('s'):\n"
            "    log.warning('slow_chunk', seconds=2.5)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2, r.stdout
    return lines


def test_compose_filebeat_is_well_formed():
    cfg = yaml.safe_load(COMPOSE_FILEBEAT.read_text())
    assert problems(cfg) == []
    assert cfg["filebeat.inputs"][0]["paths"] == ["/var/lib/docker/containers/*/*.log"]


def test_compose_runs_filebeat_with_that_file():
    svc = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())["services"]["filebeat"]
    assert "./filebeat.yml:/usr/share/filebeat/filebeat.yml:ro" in svc["volumes"]
    assert "/var/lib/docker/containers:/var/lib/docker/containers:ro" in svc["volumes"]
    assert svc["profiles"] == ["logs"] and "ELASTICSEARCH_HOSTS" in svc["environment"]


def test_chart_filebeat_is_well_formed_and_keeps_only_the_mesh(helm):
    from cobol_mesh import topology
    from cobol_operator import render
    cfg, docs = chart_filebeat(helm)
    assert problems(cfg) == []
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    mounts = {m["mountPath"] for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert {"/var/log", "/etc/filebeat"} <= mounts
    assert any(p.startswith("/var/log/") for p in cfg["filebeat.inputs"][0]["paths"])
    # the drop condition names the label the operator really puts on the mesh's pods
    drop = next(p["drop_event"] for p in cfg["processors"] if "drop_event" in p)
    (field, value), = drop["when"]["not"]["equals"].items()
    c = render.Cluster.from_body({"metadata": {"name": "c"}, "spec": {
        "nodeCount": 1, "nodeClass": "any", "storageClass": "s", "version": "1",
        "kafka": {"bootstrapServers": ["k:9092"]}, "redis": {"secretRef": {"name": "r"}},
        "postgres": {"secretRef": {"name": "p"}}}})
    for svc in topology.load().services.values():         # Filebeat writes label dots as _
        labels = render.pod_template(c, svc)["metadata"]["labels"]
        dedotted = {"kubernetes.labels." + k.replace(".", "_"): v for k, v in labels.items()}
        assert dedotted.get(field) == value, svc.name


def test_chart_has_no_filebeat_unless_asked(helm):
    assert not [d for d in helm_template(helm) if d["kind"] == "DaemonSet" or
                d["metadata"]["name"].endswith("-filebeat")]


def test_the_json_condition_matches_the_services_lines_only(helm, service_log_lines):
    cfgs = [yaml.safe_load(COMPOSE_FILEBEAT.read_text()), chart_filebeat(helm)[0]]
    for cfg in cfgs:
        cond = json_condition(cfg)
        for line in service_log_lines:
            assert cond.search(line), line
            event = json.loads(line)                  # what decode_json_fields puts under `cobol`
            assert {"event", "level", "timestamp", "instance"} <= set(event)
        assert not cond.search("[2026-11-30 03:00:00,000] INFO [KafkaServer id=1] started (kafka.server)")
        assert not cond.search("LOG:  database system is ready to accept connections")
    traced = json.loads(service_log_lines[1])
    assert re.fullmatch(r"[0-9a-f]{32}", traced["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", traced["span_id"])


@pytest.mark.parametrize("breakage, complaint", [
    (lambda c: c["processors"].clear(), "decode_json_fields"),
    (lambda c: c["filebeat.inputs"][0].update(type="log"), "filestream"),
    (lambda c: c["filebeat.inputs"][0].update(parsers=[]), "container parser"),
    (lambda c: c.update({"output.logstash": {"hosts": ["l:5044"]}}), "exactly one output"),
    (lambda c: c["processors"].append({"decode_json": {}}), "unknown processor"),
])
def test_the_structure_check_can_fail(breakage, complaint):
    cfg = yaml.safe_load(COMPOSE_FILEBEAT.read_text())
    breakage(cfg)
    assert any(complaint in p for p in problems(cfg)), problems(cfg)
