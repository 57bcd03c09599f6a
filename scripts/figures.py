"""Measured figures as JSON lines: the one format every figure command writes with `--json OUT`.

One figure a line, appended (several commands share one file; a crashed run loses nothing
already written):

    {"source": "loadtests/kafka_peer.py", "name": "kafka_peer.throughput", "value": 41.2,
     "unit": "MB/s", "peer": "kafka lz4", "machine": "Intel Xeon ... / 2 cores / 23.4 GiB",
     "time": "2026-11-30T01:02:03Z", "labels": {"kind": "text", "acks": "all"}}

- `source`: the command that measured it (so the report can say how to measure it again);
- `name`: what was measured, dotted (`codec.ratio`, `mesh.throughput`, `api.latency_ms`...);
  `scripts/report.py` documents the names it reads;
- `value` (a finite number) and `unit` (`x`, `MB/s`, `MiB/s`, `ms`, `s`, `%`, `count`...);
- `peer`: who was measured (`cobol max`, `zstd -19`, `kafka zstd`, `cobol mesh`);
- `machine`: a one-line description of the host, so figures from two hosts never mix silently;
- `labels`: anything else that tells two figures of one name apart (group, workers, rate...).

    import figures
    figures.append(path, source="loadtests/x.py", name="mesh.throughput", value=23.1,
                   unit="MiB/s", peer="cobol mesh", workers=2)
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import platform
from pathlib import Path

REQUIRED = ("source", "name", "value", "unit", "peer", "machine")


class FigureError(ValueError):
    """A figures file line that is not a figure: names the file and the line."""


def _read(path: str, prefix: str, sep: str = ":") -> str:
    """The value of the first line of `path` starting with `prefix` ("" if none)."""
    try:
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith(prefix) and sep in line:
                return line.split(sep, 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.lru_cache(maxsize=1)
def machine_info() -> dict:
    """CPU model, cores, memory and OS of this host (Linux /proc; plain fallbacks elsewhere)."""
    mem_kib = _read("/proc/meminfo", "MemTotal").split()
    os_name = _read("/etc/os-release", "PRETTY_NAME=", "=").strip('"') or platform.platform()
    return {
        "cpu": _read("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count() or 0,
        "memory_gib": round(int(mem_kib[0]) / (1 << 20), 1) if mem_kib else 0.0,
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def machine() -> str:
    m = machine_info()
    return f"{m['cpu']} / {m['cores']} cores / {m['memory_gib']} GiB"


def make(*, source: str, name: str, value: float, unit: str, peer: str, **labels) -> dict:
    """One figure as a dict, validated: a non-finite value or an empty name is a bug in the caller."""
    if not name or not source or not unit or not peer:
        raise FigureError("a figure needs a non-empty source, name, unit and peer")
    v = float(value)
    if not math.isfinite(v):
        raise FigureError(f"figure {name}: value {value!r} is not a finite number")
    return {"source": source, "name": name, "value": v, "unit": unit, "peer": peer, "machine": machine(),
            "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "labels": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in labels.items()}}


def append(path: str | os.PathLike | None, **figure) -> dict | None:
    """Append one figure to `path` (created with its folder); no path means nothing to write."""
    if not path:
        return None
    fig = make(**figure)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.write(json.dumps(fig, sort_keys=True) + "\n")
    return fig


def load(path: str | os.PathLike) -> list[dict]:
    """Every figure of a JSON-lines file; a malformed line is an error naming file and line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                fig = json.loads(line)
            except json.JSONDecodeError as e:
                raise FigureError(f"{path}:{no}: not JSON ({e.msg})") from None
            if not isinstance(fig, dict):
                raise FigureError(f"{path}:{no}: a figure is a JSON object, not {type(fig).__name__}")
            missing = [k for k in REQUIRED if k not in fig]
            if missing:
                raise FigureError(f"{path}:{no}: missing {', '.join(missing)}")
            value = fig["value"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise FigureError(f"{path}:{no}: value {value!r} is not a finite number")
            labels = fig.setdefault("labels", {})
            if not isinstance(labels, dict):
                raise FigureError(f"{path}:{no}: labels must be an object")
            for k in ("source", "name", "unit", "peer", "machine"):
                if not isinstance(fig[k], str):
                    raise FigureError(f"{path}:{no}: {k} must be a string")
            out.append(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """`figures.py append OUT`: append the figures read as JSON lines on stdin (source, name, value,
    unit, peer, labels) to OUT, each stamped with this machine and the time; for commands that are
    not Python (loadtests/dashboard_load.mjs). Nothing is written unless every line is valid."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("action", choices=["append"])
    ap.add_argument("out")
    a = ap.parse_args(argv)
    figs = []
    for no, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            labels = raw.pop("labels", {}) or {}
            figs.append(make(**raw, **labels))
        except (json.JSONDecodeError, TypeError, AttributeError, FigureError) as e:
            print(f"stdin:{no}: not a figure: {e}", file=sys.stderr)
            return 2
    p = Path(a.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(fig, sort_keys=True) + "\n" for fig in figs)
    print(f"{len(figs)} figure(s) appended to {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
