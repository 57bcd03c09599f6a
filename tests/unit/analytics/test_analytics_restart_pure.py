"""The analytics worker's hooks into faust for rebalances and restarts, without Kafka:
where the table recovery takes its highwaters from, and the faust log override."""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from services.analytics.app import (ack_processed_messages_only, hold_flow_while_seeking,  # noqa: E402
                                   log_offset_gaps, quiet_faust_logs, recover_up_to_stable_offsets)


class KafkaConsumer:
    """What the hook uses of an aiokafka consumer: a fresh assignment knows no last stable
    offset yet (None), the brokers do (end_offsets)."""

    def __init__(self, ends: dict) -> None:
        self.ends = ends
        self.asked: list = []

    def last_stable_offset(self, tp):
        return None

    async def end_offsets(self, partitions):
        self.asked.append(list(partitions))
        return {tp: self.ends[tp] for tp in partitions}


class ConsumerThread:
    def __init__(self, kafka: KafkaConsumer) -> None:
        self.kafka = kafka

    def _ensure_consumer(self) -> KafkaConsumer:
        return self.kafka

    async def _highwaters(self, partitions):          # faust's, with exactly-once
        return {tp: self.kafka.last_stable_offset(tp) for tp in partitions}


class Consumer:
    def __init__(self, thread: ConsumerThread) -> None:
        self._thread = thread


def test_recovery_highwaters_come_from_the_brokers_not_from_a_fresh_assignment():
    kafka = KafkaConsumer({("changelog", 0): 57, ("changelog", 1): 0})
    consumer = Consumer(ConsumerThread(kafka))
    tps = [("changelog", 0), ("changelog", 1)]
    # faust's own: nothing known after a rebalance, which its recovery read as "nothing to read"
    assert asyncio.run(consumer._thread._highwaters(tps)) == {tps[0]: None, tps[1]: None}
    recover_up_to_stable_offsets(consumer)
    assert asyncio.run(consumer._thread._highwaters(set(tps))) == {tps[0]: 57, tps[1]: 0}
    assert sorted(kafka.asked[0]) == tps


class Message:
    def __init__(self, offset: int, tracked: bool) -> None:
        self.offset, self.tracked = offset, tracked


class AckingConsumer:
    """faust's Consumer.ack, reduced to what it does: the offset becomes committable."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message) -> bool:
        self.acked.append(message.offset)
        return True


def test_only_processed_messages_are_acked():
    consumer = AckingConsumer()
    ack_processed_messages_only(consumer)
    # 5 and 6 handed to the agent (tracked); 7 and 8 skipped by the Stream at a rebalance
    assert [consumer.ack(Message(o, o < 7)) for o in (5, 6, 7, 8)] == [True, True, False, False]
    assert consumer.acked == [5, 6]         # 7 and 8 stay uncommitted: read again after the rebalance


class TP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


class GapConsumer:
    def __init__(self) -> None:
        self._committed_offset = {}
        self.gaps: list = []

    async def _add_gap(self, tp, offset_from, offset_to) -> None:
        self.gaps.append((tp.topic, offset_from, offset_to))


def test_jumps_over_more_than_a_marker_are_logged_and_still_recorded(monkeypatch):
    from services.analytics import app
    logged = []
    monkeypatch.setattr(app.log, "warning", lambda event, **kw: logged.append((event, kw)))
    consumer = GapConsumer()
    log_offset_gaps(consumer, lambda: {"input"})
    asyncio.run(consumer._add_gap(TP("input", 3), 12, 13))     # one transaction marker
    asyncio.run(consumer._add_gap(TP("input", 3), 12, 27))     # records skipped
    asyncio.run(consumer._add_gap(TP("changelog", 3), 5, 40))  # not a stream topic
    assert consumer.gaps == [("input", 12, 13), ("input", 12, 27), ("changelog", 5, 40)]
    assert [(e, kw["first"], kw["next_read"]) for e, kw in logged] == [("consumer.gap", 12, 27)]


class SeekingConsumer:
    def __init__(self) -> None:
        self.flow_active = True
        self.flow_at_seek = None

    def stop_flow(self) -> None:
        self.flow_active = False

    async def perform_seek(self) -> None:
        self.flow_at_seek = self.flow_active


def test_nothing_is_read_while_the_partitions_are_sought_back():
    consumer = SeekingConsumer()
    hold_flow_while_seeking(consumer)
    asyncio.run(consumer.perform_seek())
    assert consumer.flow_at_seek is False       # faust resumes the flow after its flow control
    assert consumer.flow_active is False


@pytest.fixture
def faust_loggers():
    names = ("faust", "mode", "aiokafka", "faust.tables.recovery")
    saved = {n: logging.getLogger(n).level for n in names}
    yield {n: logging.getLogger(n) for n in names}
    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)


def test_faust_logs_stay_at_warning_unless_overridden(faust_loggers):
    quiet_faust_logs("info")
    assert {n: lg.level for n, lg in faust_loggers.items() if n != "faust.tables.recovery"} == \
        {"faust": logging.WARNING, "mode": logging.WARNING, "aiokafka": logging.WARNING}
    quiet_faust_logs("info", "faust.tables.recovery=debug, aiokafka=info")
    assert faust_loggers["faust.tables.recovery"].level == logging.DEBUG
    assert faust_loggers["aiokafka"].level == logging.INFO
    assert faust_loggers["faust"].level == logging.WARNING
    quiet_faust_logs("info", "info")
    assert faust_loggers["faust"].level == logging.INFO and faust_loggers["mode"].level == logging.INFO


@pytest.mark.parametrize("override", ["loud", "faust=loud", "faust=", "=\x00"])
def test_a_bad_faust_log_override_is_refused(override, faust_loggers):
    with pytest.raises(SystemExit, match="COBOL_ANALYTICS_FAUST_LOG"):
        quiet_faust_logs("info", override)
