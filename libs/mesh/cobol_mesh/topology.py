"""The declarative topology (topology.yaml at the repository root), as typed objects.

Every launcher reads the mesh's shape from here: scripts/mesh.py, the test harnesses, the
compose file's generator and the Kubernetes operator. `COBOL_TOPOLOGY` names another file;
`COBOL_PORT_OFFSET` shifts every local port (two meshes on one machine).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FILE = ROOT / "topology.yaml"


def shift_port(port: int, offset: int) -> int:
    """`port + offset`, folded back into 1024..65535 when it would overflow (gRPC's 50051 with
    an offset of 30000 would be 80051, which no socket accepts). Ports that fit never move."""
    p = port + offset
    return p if 0 < p <= 65535 else (p - 1024) % (65536 - 1024) + 1024


class TopologyError(ValueError):
    """The topology file is missing, malformed or inconsistent (the message says where)."""


@dataclass(frozen=True)
class Instance:
    name: str                 # "<service>-<n>", e.g. compressor-2
    service: str
    ordinal: int              # 1-based
    port: int | None          # gRPC or HTTP port, None for pure consumers
    metrics_port: int | None


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    instances: int
    port: int | None = None
    port_stride: int = 1
    metrics_port: int | None = None
    uses: tuple[str, ...] = ()
    talks_to: tuple[str, ...] = ()

    def instance(self, ordinal: int, offset: int = 0) -> Instance:
        if ordinal < 1:
            raise TopologyError(f"{self.name}: instance ordinals start at 1, not {ordinal}")
        port = None if self.port is None else shift_port(self.port + self.port_stride * (ordinal - 1), offset)
        metrics = None if self.metrics_port is None else shift_port(self.metrics_port + ordinal - 1, offset)
        return Instance(f"{self.name}-{ordinal}", self.name, ordinal, port, metrics)

    def all_instances(self, offset: int = 0) -> list[Instance]:
        return [self.instance(i, offset) for i in range(1, self.instances + 1)]


@dataclass(frozen=True)
class Topology:
    services: dict[str, Service]
    infra: dict[str, dict] = field(default_factory=dict)
    port_offset: int = 0

    def instances(self) -> list[Instance]:
        """Every instance, in start order (the file's order of services)."""
        return [i for s in self.services.values() for i in s.all_instances(self.port_offset)]

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise TopologyError(f"no service {name!r} in the topology "
                                f"(known: {', '.join(self.services)})") from None


def _offset() -> int:
    raw = os.environ.get("COBOL_PORT_OFFSET", "").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise TopologyError(f"COBOL_PORT_OFFSET={raw!r} is not an integer") from None


def parse(doc: dict, port_offset: int = 0) -> Topology:
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise TopologyError("the topology must be a mapping with `version: 1`")
    raw = doc.get("services")
    if not isinstance(raw, dict) or not raw:
        raise TopologyError("the topology has no `services` mapping")
    services: dict[str, Service] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("module"), str):
            raise TopologyError(f"service {name!r} needs a `module`")
        n = spec.get("instances", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 64:
            raise TopologyError(f"service {name!r}: instances must be an integer 0..64, not {n!r}")
        services[name] = Service(
            name=name, module=spec["module"], instances=n, port=spec.get("port"),
            port_stride=spec.get("port_stride", 1), metrics_port=spec.get("metrics_port"),
            uses=tuple(spec.get("uses", ())), talks_to=tuple(spec.get("talks_to", ())))
    for s in services.values():
        unknown = [t for t in s.talks_to if t not in services]
        if unknown:
            raise TopologyError(f"service {s.name!r} talks to unknown services {unknown}")
    return Topology(services, dict(doc.get("infra") or {}), port_offset)


def load(path: str | os.PathLike | None = None) -> Topology:
    p = Path(path or os.environ.get("COBOL_TOPOLOGY") or DEFAULT_FILE)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise TopologyError(f"cannot read the topology {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"the topology {p} is not valid YAML: {exc}") from None
    return parse(doc, _offset())
