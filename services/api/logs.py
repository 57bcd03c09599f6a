"""structlog JSON logging: the mesh's shared setup (cobol_mesh.logging), with a local fallback."""
from __future__ import annotations

import logging
import sys

import structlog


def setup(instance: str, level: str = "info") -> None:
    try:
        from cobol_mesh import logging as mesh_logging
    except ImportError:  # pragma: no cover - the shared library is part of the repo
        mesh_logging = None
    if mesh_logging is not None and hasattr(mesh_logging, "configure"):
        mesh_logging.configure(instance, level)
    else:  # pragma: no cover
        lvl = getattr(logging, level.upper(), logging.INFO)
        logging.basicConfig(stream=sys.stdout, level=lvl, format="%(message)s")
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
            wrapper_class=structlog.make_filtering_bound_logger(lvl),
            logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        )
        structlog.contextvars.bind_contextvars(instance=instance)
    structlog.contextvars.bind_contextvars(service="api")
    if mesh_logging is not None:              # traces (COBOL_TRACE_FILE / OTLP) and error counts
        from cobol_mesh import metrics, telemetry
        telemetry.setup("api", instance)
        metrics.identify("api", instance)
