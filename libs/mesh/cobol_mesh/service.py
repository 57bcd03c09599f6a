"""The common start of every service's __main__: settings, logs, tracing, metrics."""
from __future__ import annotations

from . import logging as mlog
from . import membership, metrics, telemetry
from .lifecycle import Lifecycle
from .settings import metrics_port_for, settings


def boot(kind: str) -> Lifecycle:
    instance = settings.instance if settings.instance != "dev-1" else f"{kind}-1"
    mlog.configure(instance, settings.log_level)
    telemetry.setup(kind, instance, settings.otel_exporter)
    metrics.identify(kind, instance)
    port = metrics.serve(metrics_port_for(instance), "0.0.0.0" if settings.bind_public else "127.0.0.1")  # nosec B104 # 0.0.0.0 only with COBOL_BIND_PUBLIC (containers)
    metrics.UP.labels(kind, instance).set(1)
    mlog.get("cobol.boot").info("starting", service=kind, metrics_port=port,
                                kafka=settings.kafka_bootstrap)
    lc = Lifecycle(instance)
    lc.on_stop(telemetry.shutdown)          # runs last: export the spans still batched
    if membership.start(kind, instance) is not None:   # heartbeats to the coordinator
        lc.on_stop(membership.current.stop)
    return lc
