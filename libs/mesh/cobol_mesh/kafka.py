"""Kafka clients configured the one way the mesh uses them.

- `producer()`: idempotent, acks=all: retries never duplicate or reorder within a partition.
- `transactional_producer(tid)`: for consume-transform-produce (exactly once).
- `consumer(group, ...)`: manual commits, read_committed, cooperative-sticky assignment, and
  a short session (COBOL_KAFKA_SESSION_MS, 2 s; heartbeats every COBOL_KAFKA_HEARTBEAT_MS,
  0.5 s): a dead or frozen member is out of the group, and its partitions with a live one,
  within about the session timeout. The brokers allow it (group.min.session.timeout.ms=1000
  in scripts/infra/server.properties.template; Kafka's default minimum is 6 s).
All sized for 16 MiB messages (COBOL_KAFKA_MAX_BYTES).

Observability hooks: `produce()` sends the current trace context as record headers when the
caller gives none; every `consumer()` has its lag exported (metrics.CONSUMER_LAG); consume
and commit errors are counted (metrics.ERRORS, kinds kafka_consume / kafka_commit).
"""
from __future__ import annotations

import threading
from typing import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from . import membership, metrics, telemetry
from .settings import settings

MiB = 1024 * 1024


def _base() -> dict:
    return {"bootstrap.servers": settings.kafka_bootstrap,
            "client.id": f"cobol-{settings.instance}",
            "socket.keepalive.enable": True}


def producer_config(**extra) -> dict:
    cfg = _base() | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": settings.kafka_max_bytes,
        "queue.buffering.max.kbytes": 256 * 1024,
        "compression.type": "none",            # payloads are compressed chunks or raw data
        "delivery.timeout.ms": 120_000,
    }
    cfg.update(extra)
    return cfg


def producer(**extra) -> Producer:
    return Producer(producer_config(**extra))


def transactional_producer(transactional_id: str, timeout_ms: int = 30_000, **extra) -> Producer:
    """A producer for exactly-once pipelines. `transaction.timeout.ms` bounds how long a
    crashed instance's open transaction blocks read_committed readers of its partitions."""
    p = Producer(producer_config(**{"transactional.id": transactional_id,
                                    "transaction.timeout.ms": timeout_ms,
                                    "delivery.timeout.ms": timeout_ms} | extra))
    p.init_transactions(60)
    return p


def consumer(group: str, topics: list[str], *, on_assign: Callable | None = None,
             on_revoke: Callable | None = None, on_lost: Callable | None = None,
             **extra) -> Consumer:
    cfg = _base() | {
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": settings.offset_reset,
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": settings.kafka_session_ms,
        "heartbeat.interval.ms": settings.kafka_heartbeat_ms,
        # a live member that stops polling this long (a hung codec) is also put out
        "max.poll.interval.ms": 120_000,
        "fetch.max.bytes": 4 * settings.kafka_max_bytes,
        "max.partition.fetch.bytes": settings.kafka_max_bytes,
        "receive.message.max.bytes": 4 * settings.kafka_max_bytes + MiB,
        "queued.max.messages.kbytes": 64 * 1024,
    } | metrics.lag_stats_config()
    if settings.kafka_group_protocol not in ("classic", "consumer"):
        raise SystemExit(f"COBOL_KAFKA_GROUP_PROTOCOL must be classic or consumer, not {settings.kafka_group_protocol!r}")
    if settings.kafka_group_protocol == "consumer":
        # KIP-848: the broker assigns and times sessions out (group.consumer.* in the
        # brokers' properties); the classic protocol's client-side knobs are refused.
        for k in ("partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"):
            cfg.pop(k)
        cfg["group.protocol"] = "consumer"
    cfg.update(extra)
    c = Consumer(cfg)
    kwargs = {}
    if on_assign:
        kwargs["on_assign"] = on_assign
    if on_revoke:
        kwargs["on_revoke"] = on_revoke
    if on_lost or on_revoke:
        kwargs["on_lost"] = on_lost or on_revoke
    c.subscribe(topics, **kwargs)
    return c


class DeliveryTracker:
    """Counts outstanding deliveries and remembers the first failure, so a caller can say
    "everything I produced is durably written" (after `flush`) or raise."""

    def __init__(self) -> None:
        self.pending = 0
        self.error: KafkaError | None = None
        self._lock = threading.Lock()

    def callback(self, err, _msg) -> None:
        with self._lock:
            self.pending -= 1
            if err is not None and self.error is None:
                self.error = err

    def sent(self) -> None:
        with self._lock:
            self.pending += 1


def produce(p: Producer, topic: str, key: str | bytes, value: bytes, *,
            tracker: DeliveryTracker | None = None, headers=None) -> None:
    """produce(), waiting for queue room instead of failing when the local queue is full.
    Without `headers`, the current trace context (if any) goes along."""
    cb = tracker.callback if tracker else None
    if headers is None:
        headers = telemetry.trace_headers() or None
    while True:
        try:
            if tracker:
                tracker.sent()
            p.produce(topic, key=key, value=value, headers=headers, on_delivery=cb)
            return
        except BufferError:
            if tracker:
                tracker.callback(None, None)   # undo the count: not queued
            p.poll(0.05)


def flush_or_raise(p: Producer, tracker: DeliveryTracker | None = None, timeout: float = 60.0) -> None:
    left = p.flush(timeout)
    if left:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{left} messages not delivered in {timeout}s"))
    if tracker and tracker.error is not None:
        raise KafkaException(tracker.error)


def consume_batch(consumer: Consumer, n: int, timeout: float, log, what: str, fill: bool = True) -> list:
    """Up to n messages. `fill`: wait up to `timeout` for n (librdkafka's consume(n, timeout)
    waits the whole timeout unless n arrive: a batch that amortises a transaction);
    otherwise wait for the first only and take what is already fetched (a stream read for
    its latency, such as the coordinator's Watch). Errors are logged (end-of-partition ones
    dropped quietly) and left out. A consumer tracked by membership has its load sampled
    here, in its own thread."""
    out = []
    if fill:
        msgs = consumer.consume(n, timeout)
    else:
        first = consumer.poll(timeout)
        msgs = [] if first is None else [first, *(consumer.consume(n - 1, 0) if n > 1 else ())]
    membership.sample(consumer)
    for m in msgs:
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                metrics.error("kafka_consume")
                log.warning(f"{what}.consume_error", error=str(m.error()))
            continue
        out.append(m)
    return out


def batch_offsets(msgs) -> list[TopicPartition]:
    """The offsets to commit after processing `msgs`: last offset + 1 per partition."""
    last: dict[tuple[str, int], int] = {}
    for m in msgs:
        key = (m.topic(), m.partition())
        last[key] = max(last.get(key, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


class Backlog:
    """Messages read but not processed yet, in the order read. A consumer that reads more than
    one batch can hold keeps the rest here instead of seeking back (a seek throws away what
    librdkafka has fetched, and the next batch waits for a fetch round trip). Owned by the
    consumer's thread: rebalance callbacks run inside its poll."""

    def __init__(self) -> None:
        self._msgs: list = []

    def __len__(self) -> int:
        return len(self._msgs)

    def add(self, msgs) -> None:
        self._msgs.extend(msgs)

    def take(self) -> list:
        """Everything, oldest first; the backlog is empty after."""
        out, self._msgs = self._msgs, []
        return out

    def put_back(self, msgs) -> None:
        """The unprocessed tail of a taken batch: ahead of anything read since."""
        self._msgs[:0] = msgs

    def drop(self, partitions) -> None:
        """Forget the messages of revoked partitions: their next owner reads them."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._msgs = [m for m in self._msgs if (m.topic(), m.partition()) not in gone]


def first_offsets(msgs) -> list[TopicPartition]:
    """Where to seek back to in order to re-read `msgs` (first offset per partition)."""
    first: dict[tuple[str, int], int] = {}
    for m in msgs:
        key = (m.topic(), m.partition())
        first[key] = min(first.get(key, m.offset()), m.offset())
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def is_retriable(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return bool(err and hasattr(err, "retriable") and err.retriable())


def txn_requires_abort(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return bool(err and hasattr(err, "txn_requires_abort") and err.txn_requires_abort())


def is_fatal(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return bool(err and hasattr(err, "fatal") and err.fatal())


def commit(consumer: Consumer, msgs, log=None) -> bool:
    """Synchronous commit of `msgs`' offsets. A commit refused because the group moved on
    (rebalance) is not an error for at-least-once consumers: the new owner re-reads."""
    try:
        consumer.commit(offsets=batch_offsets(msgs), asynchronous=False)
        return True
    except KafkaException as exc:
        if is_fatal(exc):
            raise
        metrics.error("kafka_commit")
        if log is not None:
            log.warning("kafka.commit_failed", error=str(exc))
        return False
