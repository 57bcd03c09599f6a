"""python -m services.analytics: the faust worker and its gRPC query server.

Ports come from topology.yaml (service `analytics`, shifted by COBOL_PORT_OFFSET):
gRPC queries on 127.0.0.1:<port>, Prometheus on 127.0.0.1:<metrics_port>; COBOL_ANALYTICS_ADDR
and COBOL_METRICS_PORT override them. faust's own web server is off.
Ready (.run/<instance>.ready, gRPC health SERVING) while the tables are restored from their
changelogs and the partitions are assigned: not at start, nor during a rebalance.
"""
from __future__ import annotations

import argparse
import asyncio
import os

import services  # noqa: F401  (library paths)
from cobol_mesh import logging as mlog
from cobol_mesh import metrics, telemetry
from cobol_mesh.grpc_server import Server
from cobol_mesh.settings import PORT_OFFSET, settings
from cobol_mesh.topology import load as load_topology
from cobol_proto import analytics_pb2_grpc as arpc
from grpc_health.v1 import health_pb2

from . import memwatch
from .app import READY, Analytics, Config, quiet_faust_logs
from .server import AnalyticsServicer


def addresses(instance: str) -> tuple[str, int]:
    """(gRPC address, metrics port) of this instance, from the topology."""
    suffix = instance.rpartition("-")[2]
    ordinal = int(suffix) if suffix.isdigit() else 1
    inst = load_topology().service("analytics").instance(ordinal, PORT_OFFSET)
    addr = os.environ.get("COBOL_ANALYTICS_ADDR") or f"127.0.0.1:{inst.port}"
    return addr, settings.metrics_port or inst.metrics_port


def main() -> None:
    argparse.ArgumentParser(
        prog="python -m services.analytics",
        description="Windowed statistics of the mesh (bytes, ratio, MB/s, chunk latency per "
                    "node, layer and profile) in faust tables fed by cobol.frames and "
                    "cobol.jobs.events, served over gRPC (proto/cobol_proto/analytics.proto).",
        epilog="Configuration is by environment (COBOL_KAFKA_BOOTSTRAP, COBOL_PORT_OFFSET, "
               "COBOL_GROUP_PREFIX, COBOL_ANALYTICS_ADDR, ...); see docs/analytics.md.").parse_args()
    instance = settings.instance if settings.instance != "dev-1" else "analytics-1"
    mlog.configure(instance, settings.log_level)
    quiet_faust_logs(settings.log_level, os.environ.get("COBOL_ANALYTICS_FAUST_LOG"))
    telemetry.setup("analytics", instance, settings.otel_exporter)
    addr, metrics_port = addresses(instance)
    metrics.serve(metrics_port, "0.0.0.0" if settings.bind_public else "127.0.0.1")  # nosec B104 # 0.0.0.0 only with COBOL_BIND_PUBLIC (containers)
    metrics.UP.labels("analytics", instance).set(1)
    log = mlog.get("cobol.analytics")

    analytics = Analytics(Config.from_settings())
    analytics.create_topics()
    app = analytics.app
    server = Server(addr)
    ready_file = settings.run_dir / f"{instance}.ready"

    @app.task
    async def serve_queries() -> None:
        server.add(arpc.add_AnalyticsServicer_to_server,
                   AnalyticsServicer(analytics, asyncio.get_running_loop()), "cobol.v1.Analytics")
        server.start()
        log.info("grpc.listening", addr=addr, metrics_port=metrics_port)
        # SERVING only while the tables are restored: not at start, and not while a
        # rebalance has them rebuilt from the changelogs (app.forget_local_state).
        was = None
        while True:
            now = analytics.ready()
            if now != was:
                status = health_pb2.HealthCheckResponse.SERVING if now else health_pb2.HealthCheckResponse.NOT_SERVING
                for name in server.names + [""]:
                    server.health.set(name, status)
                READY.set(1 if now else 0)
                if now:
                    settings.run_dir.mkdir(parents=True, exist_ok=True)
                    ready_file.write_text(str(os.getpid()))
                    log.info("ready", pid=os.getpid(), partitions=len(app.consumer.assignment()))
                else:
                    ready_file.unlink(missing_ok=True)
                    if was is not None:
                        log.info("not_ready", reason="rebalance: rebuilding the tables")
                was = now
            await asyncio.sleep(0.2)

    @app.timer(10.0)
    async def export_uncommitted() -> None:
        analytics.export_uncommitted()

    watch = memwatch.from_env(analytics.internal_sizes)
    if watch is not None:
        @app.timer(watch[1])
        async def write_memwatch() -> None:
            watch[0].write()

    @app.on_before_shutdown.connect
    async def stop_queries(_app, **_kw) -> None:
        READY.set(0)
        ready_file.unlink(missing_ok=True)
        server.stop(2.0)

    from faust.worker import Worker
    Worker(app, loglevel=settings.log_level.upper(), quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
