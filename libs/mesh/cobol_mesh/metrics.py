"""Prometheus metrics: one HTTP exporter per service process, bound to 127.0.0.1.

Every metric name of the mesh's services is defined here, once (the API's own HTTP metrics,
`cobol_api_*`, live in services/api/metrics.py); dashboards and alert rules are written
against `NAMES`. Labels stay low-cardinality (service, instance, topic, partition, stage,
kind, status). `identify()` (called by service.boot) names this process, so shared hooks
(`error()`, the Kafka and gRPC wrappers) can label what they count without being told.

Some values are read when Prometheus scrapes rather than pushed as they change:
consumer lag (from the statistics of every consumer made with `lag_stats_config()`), the
dictionary in use, ε spent and nodes by status (from a callback a service registers with
`on_scrape`).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

# --- pushed as things happen --------------------------------------------------------------
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
# stage=queue: how old a Kafka record was when this service picked it up (time waiting in the
# topic); stage=process: this service's own work on it
CHUNK_SECONDS = Histogram("cobol_chunk_seconds", "Per-chunk latency by stage (queue: record age at pick-up; "
                          "process: own work)", ["service", "instance", "stage"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
CHUNK_RATIO = Histogram("cobol_chunk_ratio", "Compression ratio (original / compressed) per chunk", ["instance"],
                        buckets=(0.99, 1.01, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500))
ERRORS = Counter("cobol_errors_total", "Errors by kind", ["service", "instance", "kind"])

# --- read at scrape time (collectors below) -------------------------------------------------
CONSUMER_LAG = "cobol_consumer_lag"            # {service, instance, topic, partition}
DICTIONARY_IN_USE = "cobol_dictionary_in_use"  # {instance, role=current|candidate, dictionary_id} = 1
DICTIONARY_SEQ = "cobol_dictionary_state_seq"  # {instance}: the dictionary state's version number
EPSILON_SPENT = "cobol_dp_epsilon_spent"       # {instance}: ε charged so far in the current training
EPSILON_BUDGET = "cobol_dp_epsilon_budget"     # {instance}: ε the training may spend in all
NODES = "cobol_nodes"                          # {role, status}: nodes the coordinator leader sees

# Every name a service of the mesh may export (histograms add _bucket/_sum/_count, counters
# _total is part of the name here), and which services export each: tests scrape for them.
NAMES: dict[str, tuple[str, ...]] = {
    "cobol_up": ("ingest", "compressor", "archive", "coordinator", "federator", "analytics"),
    "cobol_bytes_in_total": ("ingest", "compressor"),
    "cobol_bytes_out_total": ("compressor", "archive"),
    "cobol_chunks_total": ("compressor", "archive"),
    "cobol_jobs_total": ("ingest", "coordinator"),
    "cobol_records_total": ("ingest",),
    "cobol_kafka_transactions_total": ("compressor", "ingest"),     # ingest: device streams
    "cobol_codec_seconds": ("compressor",),
    "cobol_chunk_ratio": ("compressor",),
    "cobol_chunk_seconds": ("compressor", "archive", "coordinator"),
    "cobol_rpc_seconds": ("ingest", "archive", "coordinator", "federator"),
    # (every service counts errors; these are the ones the e2e test provokes)
    "cobol_errors_total": ("ingest", "compressor", "archive", "coordinator"),
    "cobol_assigned_partitions": ("compressor",),
    CONSUMER_LAG: ("compressor", "archive", "coordinator"),
    DICTIONARY_IN_USE: ("compressor",),
    DICTIONARY_SEQ: ("compressor",),
    EPSILON_SPENT: ("federator",),
    EPSILON_BUDGET: ("federator",),
    NODES: ("coordinator",),
}

_me = {"service": "", "instance": ""}


def identify(service: str, instance: str) -> None:
    """Name this process for the labels of shared hooks (service.boot calls it)."""
    _me.update(service=service, instance=instance)


def error(kind: str, n: int = 1) -> None:
    """Count an error of `kind` (a short fixed word: codec, kafka_consume, grpc_internal...)."""
    ERRORS.labels(_me["service"], _me["instance"], kind).inc(n)


def chunk_latency(stage: str, seconds: float) -> None:
    CHUNK_SECONDS.labels(_me["service"], _me["instance"], stage).observe(max(0.0, seconds))


# --- consumer lag ---------------------------------------------------------------------------
# librdkafka computes each assigned partition's lag itself and reports it in its statistics
# (every STATS_MS, delivered on the consumer's own thread during poll/consume): nothing here
# calls into a consumer from the scrape thread, where calls can block behind a fetch.

STATS_MS = 5000


class _LagCollector:
    """The newest lag per (client, topic, partition) from the consumers' statistics."""

    def __init__(self) -> None:
        self._lags: dict[str, tuple[float, dict[tuple[str, int], int]]] = {}
        self._lock = threading.Lock()

    def on_stats(self, raw: str) -> None:
        import json
        try:
            st = json.loads(raw)
            lags = {}
            for topic, t in (st.get("topics") or {}).items():
                for part, p in (t.get("partitions") or {}).items():
                    if int(part) < 0 or p.get("fetch_state") in (None, "none", "stopped"):
                        continue            # not assigned to this consumer
                    # position-based (what is left to read), which also holds for consumers that
                    # keep their offsets outside Kafka; before the first record, the committed lag
                    end, pos = p.get("ls_offset", -1), p.get("app_offset", -1)
                    lag = end - pos if end >= 0 and pos >= 0 else p.get("consumer_lag", -1)
                    if lag >= 0:
                        lags[(topic, int(part))] = lag
            client = str(st.get("name", ""))
        except (ValueError, TypeError, AttributeError):
            error("kafka_stats")
            return
        with self._lock:
            self._lags[client] = (time.monotonic(), lags)

    def describe(self):
        return []

    def collect(self):
        g = GaugeMetricFamily(CONSUMER_LAG, "Records in a partition not yet consumed by this instance",
                              labels=["service", "instance", "topic", "partition"])
        with self._lock:
            now = time.monotonic()   # a closed consumer's last statistics age out
            self._lags = {c: v for c, v in self._lags.items() if now - v[0] < 3 * STATS_MS / 1000}
            merged: dict[tuple[str, int], int] = {}
            for _at, lags in self._lags.values():
                for key, lag in lags.items():
                    merged[key] = max(lag, merged.get(key, 0))
        for (topic, part), lag in sorted(merged.items()):
            g.add_metric([_me["service"], _me["instance"], topic, str(part)], lag)
        yield g


_lag = _LagCollector()
REGISTRY.register(_lag)


def lag_stats_config() -> dict:
    """Consumer settings that export the consumer's lag (cobol_mesh.kafka.consumer() adds them)."""
    return {"statistics.interval.ms": STATS_MS, "stats_cb": _lag.on_stats}


# --- callbacks read at scrape time ------------------------------------------------------------

_SCRAPED = {  # name: (help, label names in order)
    DICTIONARY_IN_USE: ("1 for each dictionary the compressor uses now (role current or candidate)",
                        ("instance", "role", "dictionary_id")),
    DICTIONARY_SEQ: ("Version number of the dictionary state the compressor applied", ("instance",)),
    EPSILON_SPENT: ("Differential-privacy epsilon spent by the current (or last) training", ("instance",)),
    EPSILON_BUDGET: ("Differential-privacy epsilon the training may spend", ("instance",)),
    NODES: ("Nodes by role and status, as the coordinator leader sees them", ("role", "status")),
}


class _CallbackCollector:
    """Gauges whose samples a service computes when asked: fn() -> [(name, labels, value)]."""

    def __init__(self) -> None:
        self._fns: list[Callable[[], Iterable[tuple[str, dict, float]]]] = []

    def add(self, fn) -> None:
        self._fns.append(fn)

    def describe(self):
        return []

    def collect(self):
        families = {name: GaugeMetricFamily(name, doc, labels=list(names))
                    for name, (doc, names) in _SCRAPED.items()}
        for fn in list(self._fns):
            try:
                samples = [(name, [str(labels[k]) for k in _SCRAPED[name][1]], float(value))
                           for name, labels, value in fn()]
            except Exception:                 # a scrape never breaks on one bad source
                error("metrics_callback")
                continue
            for name, values, value in samples:
                families[name].add_metric(values, value)
        yield from families.values()


_callbacks = _CallbackCollector()
REGISTRY.register(_callbacks)


def on_scrape(fn: Callable[[], Iterable[tuple[str, dict, float]]]) -> None:
    """Register fn, called at each scrape; it returns (metric name, labels, value) samples
    of the scrape-time names above (labels in the order documented beside each name)."""
    _callbacks.add(fn)


# Sample builders for the services' on_scrape callbacks (one line in each service's main).

def dictionary_samples(state) -> list[tuple[str, dict, float]]:
    """The compressor's dictionary state (a DictionaryState: current_id, candidate_id, seq)."""
    inst = _me["instance"]
    out = [(DICTIONARY_SEQ, {"instance": inst}, state.seq)]
    for role, did in (("current", state.current_id), ("candidate", state.candidate_id)):
        if did:
            out.append((DICTIONARY_IN_USE, {"instance": inst, "role": role, "dictionary_id": did}, 1))
    if not state.current_id:
        out.append((DICTIONARY_IN_USE, {"instance": inst, "role": "current", "dictionary_id": "none"}, 1))
    return out


def budget_samples(budget) -> list[tuple[str, dict, float]]:
    """The federator's privacy budget (a Budget: epsilon, epsilon_spent)."""
    inst = _me["instance"]
    return [(EPSILON_SPENT, {"instance": inst}, budget.epsilon_spent),
            (EPSILON_BUDGET, {"instance": inst}, budget.epsilon)]


def node_samples(nodes) -> list[tuple[str, dict, float]]:
    """Counts of the coordinator leader's nodes ({instance: Node with role, status}) by role
    and status; nothing on a standby (nodes is None)."""
    counts: dict[tuple[str, str], int] = {}
    for n in (nodes or {}).values():
        counts[(n.role, n.status)] = counts.get((n.role, n.status), 0) + 1
    return [(NODES, {"role": r, "status": s}, c) for (r, s), c in sorted(counts.items())]


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
