"""The one Dockerfile: multi-stage, pinned base, non-root, Cython built in the builder, and
versions only from requirements.txt. (No Docker engine here: these are checks of the file.)"""
from __future__ import annotations

import re

from deploy_support import ROOT

DOCKERFILE = ROOT / "docker" / "Dockerfile"


def lines() -> list[str]:
    return [line.strip() for line in DOCKERFILE.read_text().splitlines()]


def pinned() -> dict[str, str]:
    """The packages requirements.txt names (pinned with == or bounded)."""
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*(==|>=|$)", line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = line
    return out


def test_no_per_service_dockerfiles_remain():
    assert sorted(ROOT.glob("services/*/Dockerfile")) == []


def test_multi_stage_with_a_pinned_base():
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    froms = [line for line in lines() if line.startswith("FROM ")]
    assert froms == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE}"]


def test_cython_is_built_in_the_builder_only():
    text = DOCKERFILE.read_text()
    build, runtime = text.split("\nFROM ${PYTHON_IMAGE}\n")
    assert "setup.py -q build_ext --inplace" in build and "gen_proto.sh" in build
    assert "build-essential" in build and "build-essential" not in runtime
    assert "COPY --from=build /src/libs ./libs" in runtime


def test_runs_as_non_root():
    users = [line for line in lines() if line.startswith("USER ")]
    assert users and users[-1] != "USER root" and not users[-1].startswith("USER 0")


def test_nothing_is_pinned_twice():
    text = DOCKERFILE.read_text()
    assert "==" not in text, "the Dockerfile must take versions from requirements.txt"
    pins = pinned()
    for name in ("runtime.txt", "build.txt"):
        for line in (ROOT / "docker" / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            assert not re.search(r"[=<>~]", line), f"docker/{name} pins {line!r}; pin in requirements.txt"
            pkg = re.sub(r"\[.*\]", "", line).lower().replace("_", "-")
            assert pkg in pins, f"docker/{name}: {line} is not pinned in requirements.txt"
    assert "-c constraints.txt" in text


def test_image_holds_every_service_and_the_operator():
    text = DOCKERFILE.read_text()
    for part in ("COPY services ./services", "COPY k8s/operator ./k8s/operator", "topology.yaml"):
        assert part in text
