"""The CobolCluster CRD: its schema accepts the examples and rejects bad specs."""
from __future__ import annotations

import copy
import re

import jsonschema
import pytest
import yaml

from deploy_support import CHART, CRD, ROOT, crd_schema, kubernetes_validate

EXAMPLES = ROOT / "k8s" / "crd" / "examples"
GOOD = sorted(EXAMPLES.glob("*.yaml"))
GOOD = [p for p in GOOD if p.name != "bad.yaml"]
BAD = yaml.safe_load((EXAMPLES / "bad.yaml").read_text())


def _pattern(validator, pattern, instance, schema):
    # The API server matches with Go's RE2, where `$` is the very end of the text; Python's `$`
    # also matches before a final newline, so check as the server would.
    if validator.is_type(instance, "string"):
        rx = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
        if not re.search(rx, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})


def errors(obj: dict) -> list[str]:
    return [e.message for e in Validator(crd_schema()).iter_errors(obj)]


def base() -> dict:
    return yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())


def test_crd_is_a_valid_kubernetes_object(tmp_path):
    r = kubernetes_validate([yaml.safe_load(CRD.read_text())], tmp_path, "crd")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passed" in r.stdout


def test_chart_ships_the_same_crd():
    assert (CHART / "crds" / "cobolcluster.yaml").read_text() == CRD.read_text()


def test_crd_has_status_scale_and_columns():
    version = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {"specReplicasPath": ".spec.nodeCount",
                                                "statusReplicasPath": ".status.nodes",
                                                "labelSelectorPath": ".status.selector"}
    assert [c["name"] for c in version["additionalPrinterColumns"]][:4] == ["Nodes", "Ready", "Version", "Status"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {"conditions", "observedGeneration", "readyNodes"} <= set(status)
    assert status["conditions"]["items"]["properties"]["type"]["enum"] == ["Ready", "Progressing", "Degraded"]


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_examples_are_accepted(path):
    assert errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("case", BAD, ids=[c["reason"] for c in BAD])
def test_bad_specs_are_rejected(case):
    obj = base()
    if "drop" in case:
        del obj["spec"][case["drop"]]
    else:
        for key, value in case["spec"].items():
            obj["spec"][key] = copy.deepcopy(value)
    assert errors(obj), f"accepted: {case['reason']}"


def test_spec_is_required():
    assert errors({"apiVersion": "cobolprotocol.io/v1", "kind": "CobolCluster", "metadata": {"name": "x"}})
