"""A partition whose first acked record lies more than one offset past its committed offset
(a gap faust missed at a reassignment) never commits in faust: its acked offsets and attached
table updates pile up. `commit_past_unreadable_head` lets it commit again. Checked against
faust's own `Consumer._new_offset`."""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh")]

from faust.transport.consumer import Consumer  # noqa: E402
from faust.types import TP  # noqa: E402
from intervaltree import IntervalTree  # noqa: E402

from services.analytics import app as analytics_app  # noqa: E402
from services.analytics.app import commit_past_unreadable_head, unreadable_head  # noqa: E402

TOPIC = "cobol.frames"


def faust_consumer(committed: int, acked: list, read: int):
    """The state faust's `_new_offset` reads, as the soak's stuck partitions had it."""
    tp = TP(TOPIC, 0)
    c = SimpleNamespace(_gap=defaultdict(IntervalTree), _acked=defaultdict(list),
                        _acked_index=defaultdict(set), _read_offset=defaultdict(lambda: None),
                        _committed_offset=defaultdict(lambda: None))
    c._acked[tp] = list(acked)
    c._acked_index[tp] = set(acked)
    c._committed_offset[tp] = committed
    c._read_offset[tp] = read
    c._new_offset = lambda t: Consumer._new_offset(c, t)
    return c, tp


def test_faust_alone_never_commits_such_a_partition():
    c, tp = faust_consumer(committed=36, acked=range(39, 148), read=147)
    for _ in range(3):
        assert c._new_offset(tp) is None
    assert len(c._acked[tp]) == 109                   # and the acked offsets stay in memory


def test_the_unreadable_head_is_filled_and_the_partition_commits():
    c, tp = faust_consumer(committed=36, acked=range(39, 148), read=147)
    before = analytics_app.SKIPPED.labels(TOPIC)._value.get()
    commit_past_unreadable_head(c, lambda: False)
    assert c._new_offset(tp) == 148
    assert c._acked[tp] == [] and c._acked_index[tp] == set()
    assert analytics_app.SKIPPED.labels(TOPIC)._value.get() - before == 2       # offsets 37 and 38
    c._committed_offset[tp] = 148
    c._acked[tp].extend([149, 150])                   # one marker at 148: faust's own rule
    assert c._new_offset(tp) == 151


def test_nothing_is_filled_during_a_rebalance_or_before_the_consumer_got_there():
    c, tp = faust_consumer(committed=36, acked=range(39, 50), read=49)
    commit_past_unreadable_head(c, lambda: True)
    assert c._new_offset(tp) is None and len(c._acked[tp]) == 11
    # right after a seek to the committed offset: the read offset is back at it
    c, tp = faust_consumer(committed=36, acked=[39, 40], read=36)
    commit_past_unreadable_head(c, lambda: False)
    assert c._new_offset(tp) is None


def test_unreadable_head_cases():
    assert unreadable_head([39, 40], 36, 40) == range(37, 39)
    assert unreadable_head([37, 38], 36, 38) == range(0)            # one marker: faust handles it
    assert unreadable_head([36], 36, 36) == range(0)
    assert unreadable_head([], 36, 40) == range(0)
    assert unreadable_head([39], None, 39) == range(0)              # nothing committed: faust commits
    assert unreadable_head([39], 0, 39) == range(0)
    assert unreadable_head([39], 36, None) == range(0)
    assert unreadable_head([39, 45], 36, 38) == range(0)            # not read that far (a seek)


def read_and_ack(c, tp, offsets) -> None:
    """What faust's fetch loop and `ack` do for records delivered at `offsets` (the offsets
    between them are transaction markers the fetcher skips)."""
    import asyncio

    async def run():
        for offset in offsets:
            r = c._read_offset[tp]
            if r is not None and offset - r > 1:
                await c._add_gap(tp, r + 1, offset)
            c._read_offset[tp] = offset
            c._acked[tp].append(offset)
            c._acked_index[tp].add(offset)
    asyncio.run(run())


def delivered_with_a_marker_after_each(first: int, n: int) -> list:
    return [first + 2 * i for i in range(n)]          # record, marker, record, marker, ...


def test_faust_alone_advances_one_record_per_commit_past_markers():
    c, tp = faust_consumer(committed=10, acked=[], read=9)
    c._add_gap = lambda t, a, b: Consumer._add_gap(c, t, a, b)
    read_and_ack(c, tp, delivered_with_a_marker_after_each(10, 50))
    assert c._new_offset(tp) == 13                     # 10, 11, 12; the duplicate 12 ends the run
    c._committed_offset[tp] = 13
    assert c._new_offset(tp) == 15                     # and so on: 2 offsets a commit, of 99 read
    assert len(c._acked[tp]) > 90


def test_gaps_without_the_record_commit_everything_read_in_one_go():
    c, tp = faust_consumer(committed=10, acked=[], read=9)
    c._add_gap = lambda t, a, b: Consumer._add_gap(c, t, a, b)
    analytics_app.record_gaps_without_the_record(c)
    commit_past_unreadable_head(c, lambda: False)
    read_and_ack(c, tp, delivered_with_a_marker_after_each(10, 50))
    assert c._new_offset(tp) == 109                   # 10 .. 108: every record and marker
    assert c._acked[tp] == []
    c._committed_offset[tp] = 109
    read_and_ack(c, tp, [110, 111, 113])
    assert c._new_offset(tp) == 114


def test_the_gap_log_sees_faust_interval_and_the_gap_holds_no_record(monkeypatch):
    """Both hooks wrap `_add_gap`, installed in AnalyticsApp._new_consumer's order: the log
    (outer) reports the jump as faust's fetch loop saw it, the gap kept stops before the
    record delivered, so that record is committed only once it is acked."""
    logged = []
    monkeypatch.setattr(analytics_app.log, "warning", lambda event, **kw: logged.append((event, kw)))
    c, tp = faust_consumer(committed=10, acked=[], read=9)
    c._add_gap = lambda t, a, b: Consumer._add_gap(c, t, a, b)
    analytics_app.record_gaps_without_the_record(c)
    analytics_app.log_offset_gaps(c, lambda: {TOPIC})
    read_and_ack(c, tp, [10, 11])
    import asyncio
    asyncio.run(c._add_gap(tp, 12, 20))               # offsets 12..19 skipped, 20 delivered
    c._read_offset[tp] = 20                           # ... and not acked (yet, or refused)
    assert [(e, kw["first"], kw["next_read"]) for e, kw in logged] == [("consumer.gap", 12, 20)]
    assert sorted((i.begin, i.end) for i in c._gap[tp]) == [(12, 20)]
    assert c._new_offset(tp) == 12                    # 10, 11: not past the unacked 20
    c._committed_offset[tp] = 12
    c._acked[tp].append(20)
    c._acked_index[tp].add(20)
    assert c._new_offset(tp) == 21
