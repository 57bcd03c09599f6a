#!/usr/bin/env python3
"""A real OpenTelemetry collector for the mesh's traces: Jaeger v2 (an OpenTelemetry Collector
distribution with OTLP receivers, in-memory storage and a query API), config scripts/otel/jaeger.yaml.

    scripts/otel/collector.py start            start it, wait until OTLP and the query API answer
    scripts/otel/collector.py stop             stop the pid in .run/jaeger.pid
    scripts/otel/collector.py status [--json]  running or not, and its endpoints
    scripts/otel/collector.py trace TRACE_ID   the spans the collector holds for one trace

`make collector` builds the binary into .cache/go/bin/jaeger (Go module pinned in
scripts/otel/go.mod). Ports, all on 127.0.0.1, are the defaults + COBOL_PORT_OFFSET:
OTLP gRPC 4317, OTLP HTTP 4318, query HTTP 16686 (/api/v3), query gRPC 16685.
Point the mesh at it with OTEL_EXPORTER_OTLP_ENDPOINT=<otlp_http> (see `status`).
Processes, pid files, logs and waits are scripts/infra.py's (.run/jaeger.{pid,log}).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT / "scripts", ROOT / "libs" / "mesh"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import infra  # noqa: E402
from cobol_mesh.settings import local_port  # noqa: E402

BINARY = Path(os.environ.get("COBOL_JAEGER_BIN") or ROOT / ".cache" / "go" / "bin" / "jaeger")
CONFIG = ROOT / "scripts" / "otel" / "jaeger.yaml"
INSTANCE = "jaeger"
DEFAULT_PORTS = {"otlp_grpc": 4317, "otlp_http": 4318, "query_http": 16686, "query_grpc": 16685}


def ports() -> dict[str, int]:
    return {name: local_port(port) for name, port in DEFAULT_PORTS.items()}


def endpoints() -> dict[str, str]:
    p = ports()
    return {"otlp_http": f"http://127.0.0.1:{p['otlp_http']}", "otlp_grpc": f"127.0.0.1:{p['otlp_grpc']}",
            "query": f"http://127.0.0.1:{p['query_http']}"}


def _http(method: str, url: str, body: bytes | None = None, timeout: float = 5) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # nosec B310 # URLs from endpoints(): http://127.0.0.1
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def answers() -> bool:
    """Both sides up: the OTLP/HTTP receiver takes an empty export, the query API lists services."""
    ep = endpoints()
    return (_http("POST", ep["otlp_http"] + "/v1/traces", b"{}")[0] == 200
            and _http("GET", ep["query"] + "/api/v3/services")[0] == 200)


def start() -> dict[str, str]:
    """Start the collector unless it runs already; return its endpoints once it answers."""
    infra.RUN.mkdir(parents=True, exist_ok=True)
    with infra.locked():
        pid = infra.running_pid(INSTANCE)
        if pid:
            infra.log(f"{INSTANCE}: already running (pid {pid})")
        else:
            if not os.access(BINARY, os.X_OK):
                raise infra.InfraError(f"{INSTANCE}: {BINARY} is missing: run `make collector` (builds it with Go)")
            infra.pid_file(INSTANCE).unlink(missing_ok=True)
            p = ports()
            infra.require_ports(INSTANCE, list(p.values()))
            env = os.environ | {f"COBOL_JAEGER_{name.upper()}_PORT": str(port) for name, port in p.items()}
            proc = infra.spawn(INSTANCE, [str(BINARY), "--config", f"file:{CONFIG}"], env=env)
            infra.write_pid(INSTANCE, proc.pid)
            infra.log(f"{INSTANCE}: started pid {proc.pid}, log {infra.log_file(INSTANCE)}")
        infra.wait_for(INSTANCE, answers, time.monotonic() + infra.TIMEOUT,
                       alive=infra.dead_instances([INSTANCE]))
    ep = endpoints()
    infra.log(f"{INSTANCE}: ready, OTLP {ep['otlp_http']} (gRPC {ep['otlp_grpc']}), query {ep['query']}")
    return ep


def stop() -> None:
    infra.RUN.mkdir(parents=True, exist_ok=True)
    with infra.locked():
        infra.stop_instances([INSTANCE])


def running() -> int | None:
    return infra.running_pid(INSTANCE)


def get_trace(trace_id: str) -> dict | None:
    """The query API's OTLP/JSON TracesData for one trace id (32 hex digits), or None if it has none."""
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        raise ValueError(f"trace id {trace_id!r} is not 32 lower-case hex digits")
    return _traces(f"/api/v3/traces/{trace_id}")


def _traces(path: str) -> dict | None:
    """GET a query API path answering TracesData: its `result`, or None when it found none (404)."""
    status, body = _http("GET", endpoints()["query"] + path, timeout=10)
    if status == 404:
        return None
    if status != 200:
        raise infra.InfraError(f"{INSTANCE}: GET {path} answered {status}: {body[:200]!r}")
    return json.loads(body)["result"]


def spans(traces_data: dict) -> list[dict]:
    """Flatten OTLP/JSON TracesData: one dict a span, with its resource's service.name and attributes."""
    def flat(attrs):
        return {a["key"]: next(iter(a.get("value", {}).values()), None) for a in attrs or []}
    out = []
    for rs in traces_data.get("resourceSpans", []):
        resource = flat(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                out.append({"service": resource.get("service.name", ""), "resource": resource,
                            "name": s["name"], "trace_id": s["traceId"],
                            "span_id": s["spanId"], "parent_id": s.get("parentSpanId", ""),
                            "attributes": flat(s.get("attributes"))})
    return out


def find_traces(service: str, since_s: float, until_s: float, limit: int = 100) -> dict | None:
    """Traces with a span of `service` that started in [since_s, until_s] (Unix seconds)."""
    def rfc3339(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"
    from urllib.parse import urlencode
    q = urlencode({"query.service_name": service, "query.start_time_min": rfc3339(since_s),
                   "query.start_time_max": rfc3339(until_s), "query.num_traces": limit})
    return _traces(f"/api/v3/traces?{q}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/otel/collector.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("command", choices=["start", "stop", "status", "trace"])
    ap.add_argument("trace_id", nargs="?", help="trace: the trace id (32 hex digits)")
    ap.add_argument("--json", action="store_true", help="status: machine-readable output")
    args = ap.parse_args(argv)
    if args.command == "start":
        start()
    elif args.command == "stop":
        stop()
    elif args.command == "status":
        pid = running()
        if args.json:
            print(json.dumps({"running": bool(pid), "pid": pid, "log": str(infra.log_file(INSTANCE)), **endpoints()}))
        else:
            print(f"{INSTANCE:<10} {'running  pid ' + str(pid) if pid else 'stopped'}")
            for k, v in endpoints().items():
                print(f"{'':<10} {k}: {v}")
        return 0 if pid else 3
    else:
        if not args.trace_id:
            ap.error("trace needs a TRACE_ID")
        try:
            data = get_trace(args.trace_id.lower())
        except ValueError as e:
            ap.error(str(e))
        if data is None:
            print(f"no trace {args.trace_id} in the collector", file=sys.stderr)
            return 1
        for s in spans(data):
            print(f"{s['service']:<20} {s['span_id']} <- {s['parent_id'] or '(root)':<16} {s['name']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except infra.InfraError as e:
        print(f"[infra] ERROR: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
