"""Prometheus metrics: one HTTP exporter per service process, bound to 127.0.0.1.

The metric objects live here so every service names things the same way; each service only
uses the ones that apply to it. Labels stay low-cardinality (instance, topic, outcome).
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BYTES_IN = Counter("cobol_bytes_in_total", "Original bytes handled", ["service", "instance"])
BYTES_OUT = Counter("cobol_bytes_out_total", "Compressed bytes handled", ["service", "instance"])
CHUNKS = Counter("cobol_chunks_total", "Chunks handled", ["service", "instance", "outcome"])
JOBS = Counter("cobol_jobs_total", "Jobs by outcome", ["service", "instance", "outcome"])
RECORDS = Counter("cobol_records_total", "Device records", ["instance", "outcome"])
TXNS = Counter("cobol_kafka_transactions_total", "Kafka transactions", ["instance", "outcome"])
CODEC_SECONDS = Histogram("cobol_codec_seconds", "encode_frame time per chunk", ["instance"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RPC_SECONDS = Histogram("cobol_rpc_seconds", "gRPC handler time", ["service", "method"])
UP = Gauge("cobol_up", "1 while the service runs", ["service", "instance"])
ASSIGNED = Gauge("cobol_assigned_partitions", "Partitions assigned", ["instance", "topic"])

_started: int | None = None


def serve(port: int, host: str = "127.0.0.1") -> int | None:
    """Start the exporter once; port 0 or a taken port only logs, never kills the service."""
    global _started
    if _started is not None or port <= 0:
        return _started
    try:
        start_http_server(port, addr=host)
        _started = port
    except OSError:
        _started = None
    return _started
