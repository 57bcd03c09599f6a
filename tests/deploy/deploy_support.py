"""Helpers of the deployment tests: paths, running helm, the CRD's schema, kubernetes-validate.

A module of its own (not conftest): several conftest.py files exist, and `from conftest import`
would pick whichever was loaded first."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for p in (HERE, ROOT / "k8s" / "operator", ROOT / "libs" / "mesh"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

CHART = ROOT / "k8s" / "helm" / "cobol-protocol"
CRD = ROOT / "k8s" / "crd" / "cobolcluster.yaml"
HELM = ROOT / ".cache" / "bin" / "helm"
VENV_BIN = Path(sys.executable).parent


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, **kw)


def helm_template(helm: Path, *args: str) -> list[dict]:
    r = run([helm, "template", "cobol", CHART, "--namespace", "cobol-system", *args])
    assert r.returncode == 0, f"helm template {' '.join(args)} failed:\n{r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def crd_schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def kubernetes_validate(docs: list[dict], tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    """`kubernetes-validate --strict` on the documents (custom resources only warn)."""
    f = tmp_path / f"{name}.yaml"
    f.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return run([VENV_BIN / "kubernetes-validate", "--strict", f])
