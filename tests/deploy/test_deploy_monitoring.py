"""The Grafana dashboard only charts metrics the services really export."""
from __future__ import annotations

import json
import re

from deploy_support import CHART, ROOT

DASHBOARD = CHART / "files" / "grafana-dashboard.json"
DEFINE = re.compile(r'\b(Counter|Gauge|Histogram|Summary)\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')


def exported() -> set[str]:
    """Series names of every prometheus_client metric defined in libs/mesh and services/."""
    names: set[str] = set()
    for path in [*ROOT.glob("libs/mesh/cobol_mesh/**/*.py"), *ROOT.glob("services/**/*.py")]:
        for kind, name in DEFINE.findall(path.read_text()):
            if kind == "Counter":
                base = name[:-6] if name.endswith("_total") else name
                names |= {f"{base}_total", f"{base}_created"}
            elif kind in ("Histogram", "Summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", name}
            else:
                names.add(name)
    return names


def used() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v.get("query", "") for v in dash["templating"]["list"] if isinstance(v.get("query"), str)]
    return {m for e in exprs for m in re.findall(r"\bcobol_[a-z0-9_]+", e)}


def test_dashboard_metrics_exist():
    have, want = exported(), used()
    assert len(want) >= 10
    assert want <= have, f"charted but never exported: {sorted(want - have)}"


def test_dashboard_is_valid_grafana_json():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "cobol-protocol"
    for p in dash["panels"]:
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]


def test_exporter_found_the_mesh_metrics():
    # guards the regular expression above: it must see the shared metrics module's names
    assert {"cobol_bytes_in_total", "cobol_codec_seconds_bucket", "cobol_up"} <= exported()
