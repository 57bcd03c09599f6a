"""structlog JSON logs, one object per line on stdout, with the current trace and span ids."""
from __future__ import annotations

import logging as _stdlib_logging
import sys

import structlog
from opentelemetry import trace

_configured = False


def _add_trace_ids(_logger, _name, event: dict) -> dict:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


def configure(instance: str, level: str = "info") -> None:
    global _configured
    lvl = getattr(_stdlib_logging, level.upper(), _stdlib_logging.INFO)
    _stdlib_logging.basicConfig(stream=sys.stdout, level=max(lvl, _stdlib_logging.WARNING),
                                format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(instance=instance)
    _configured = True


def get(name: str = "cobol"):
    return structlog.get_logger(name)
