"""The analytics aggregation, frame-layout reader and queries, without Kafka or faust."""
from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

import cobol_codec  # noqa: E402
from cobol_codec import varint  # noqa: E402

from services.analytics import query  # noqa: E402
from services.analytics import stats as st  # noqa: E402
from services.analytics.frame_layers import FrameLayoutError, LayerBytes, layer_bytes  # noqa: E402


# ---- frame layout ----------------------------------------------------------------------

def build_frame(orig_len: int, split: int, split_params: bytes, streams: list) -> bytes:
    """A data frame laid out as libs/codec/FORMAT.md says. streams: (kind, raw_len,
    [(layer, params, in_len)], payload)."""
    body = bytearray([split]) + varint.encode(len(split_params)) + split_params
    body += varint.encode(len(streams))
    for kind, raw_len, stages, payload in streams:
        body += bytes([kind]) + varint.encode(raw_len) + bytes([len(stages)])
        for layer, params, in_len in stages:
            body += bytes([layer]) + varint.encode(len(params)) + params + varint.encode(in_len)
        body += varint.encode(len(payload)) + payload
    head = bytearray(b"\xCB\x46\x01") + varint.encode(orig_len) + varint.encode(len(body))
    head += (0).to_bytes(4, "little") + (0).to_bytes(8, "little")
    head += (zlib.crc32(head) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(head + body)


def test_layer_bytes_of_a_hand_built_frame_follow_the_stage_chain():
    frame = build_frame(1000, 2, b"\x01xy", [
        (1, 800, [(3, b"\x01", 800), (4, b"", 640), (7, b"\x00\x00", 200)], b"p" * 90),
        (0, 190, [(6, b"\x01\x00", 190), (7, b"\x00\x00", 120)], b"q" * 70),
        (0, 5, [], b"s" * 5),                  # stored: no layer
    ])
    assert layer_bytes(frame) == [
        LayerBytes(2, 1000, 3 + 800 + 190 + 5),
        LayerBytes(3, 800, 640), LayerBytes(4, 640, 200), LayerBytes(6, 190, 120),
        LayerBytes(7, 200 + 120, 90 + 70)]


@pytest.mark.parametrize("profile", ["fast", "balanced", "max"])
def test_layer_bytes_of_real_frames(profile):
    data = b"".join(b"2026-11-29T10:%02d:%02d host-%d GET /api/v%d/items?id=%d 200 %d\n"
                    % (i // 60 % 60, i % 60, i % 7, i % 3, i * 37, 100 + i % 900) for i in range(4000))
    frame = cobol_codec.encode_frame(data, profile)
    got = layer_bytes(frame)
    assert got, "a compressible log frame runs at least one layer"
    assert all(1 <= lb.layer <= 7 for lb in got)
    assert [lb.layer for lb in got] == sorted({lb.layer for lb in got})
    split = [lb for lb in got if lb.layer in (1, 2)]
    assert len(split) <= 1 and (not split or split[0].bytes_in == len(data))
    assert all(lb.bytes_out < lb.bytes_in for lb in got if lb.layer in (6, 7))


def test_an_incompressible_frame_runs_no_layer_or_only_what_it_declares():
    frame = cobol_codec.encode_frame(random.Random(5).randbytes(4096), "fast")
    for lb in layer_bytes(frame):
        assert 1 <= lb.layer <= 7 and lb.bytes_in > 0


def test_every_truncation_and_many_flips_are_refused_cleanly():
    data = b"id,temp,hum\n" + b"".join(b"%d,%d.%d,%d\n" % (i, 20 + i % 5, i % 10, 40 + i % 9) for i in range(3000))
    frame = cobol_codec.encode_frame(data, "fast")
    for n in range(len(frame)):
        with pytest.raises(FrameLayoutError):
            layer_bytes(frame[:n])
    with pytest.raises(FrameLayoutError):
        layer_bytes(frame + b"\x00")
    rnd = random.Random(1)
    for _ in range(2000):
        buf = bytearray(frame)
        for _ in range(rnd.randint(1, 4)):
            buf[rnd.randrange(len(buf))] = rnd.randrange(256)
        try:
            layer_bytes(bytes(buf))
        except FrameLayoutError:
            pass


@pytest.mark.parametrize("blob", [b"", b"COBL\x01\x00\x00\x00", b"\xCB\x46\x02", b"\xCB\x46\x01" + b"\xff" * 11,
                                  b"\x00" * 64])
def test_junk_is_a_layout_error(blob):
    with pytest.raises(FrameLayoutError):
        layer_bytes(blob)


def test_hostile_lengths_are_refused_without_allocating():
    frame = build_frame(10, 0, b"", [(0, 1 << 40, [(6, b"", 1 << 40)], b"x")])
    with pytest.raises(FrameLayoutError, match="limit"):
        layer_bytes(frame)
    frame = build_frame(10, 0, b"", [(0, 10, [(9, b"", 10)], b"x")])
    with pytest.raises(FrameLayoutError, match="unknown stage layer"):
        layer_bytes(frame)


# ---- aggregation -----------------------------------------------------------------------

def totals(stats_map, dim):
    return query.totals(stats_map, dim)


def test_frames_add_up_per_node_layer_profile_and_windows():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    assert agg.on_opened(0, 1000.0, "job-a", "fast")
    layers = [LayerBytes(2, 100, 90), LayerBytes(6, 80, 40)]
    assert agg.on_frame(0, 1001.0, "job-a", 0, 100, 50, "compressor-1", 0.004, layers)
    assert agg.on_frame(0, 1012.5, "job-a", 1, 200, 60, "compressor-2", 0.5, layers)
    assert agg.on_frame(3, 1013.0, "job-b", 0, 10, 10, "compressor-1", 0.0, None)
    assert len(s.buckets) == 3 + 2 and len(s.totals) == 2    # one key per partition/window/start
    t = totals(s, "node")
    assert (t["compressor-1"]["n"], t["compressor-1"]["in"], t["compressor-1"]["out"]) == (2, 110, 60)
    assert t["compressor-2"]["us"] == 500_000 and t["compressor-2"]["us_max"] == 500_000
    assert totals(s, "all")["all"]["in"] == 310
    assert totals(s, "profile") == {"fast": st.merge(st.sample(1, 100, 50, 4000), st.sample(1, 200, 60, 500_000))}
    lay = totals(s, "layer")
    assert lay["L6"]["in"] == 160 and lay["L6"]["out"] == 80 and lay["L6"]["n"] == 2
    assert lay["unreadable"]["n"] == 1
    # job-b has no JobOpened yet: its frame waits for the profile
    assert st.unpack_job(j["job-b"])["pending"] == [[1013.0, 10, 10, 0]]
    ser = query.series(s, "all", 1000, 1020, 10)
    assert [(t_, p["n"], p["in"]) for t_, p in ser["all"]] == [(1000, 1, 100), (1010, 2, 210)]
    ser = query.series(s, "node", 960, 1080, 60)
    assert [(t_, p["n"]) for t_, p in ser["compressor-1"]] == [(960, 2)]


def test_a_frame_seen_twice_is_counted_once():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    for seq in (0, 1, 2, 1, 0, 5, 2):
        agg.on_frame(0, 50.0, "j", seq, 10, 5, "w", 0.01, [])
    assert totals(s, "all")["all"]["n"] == 4
    assert st.unpack_job(j["j"])["seen"] == [[0, 3], [5, 6]]


def test_a_late_job_opened_attributes_waiting_frames_to_their_own_windows():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    agg.on_frame(1, 100.0, "j", 0, 10, 5, "w", 0.01, [])
    agg.on_frame(1, 125.0, "j", 1, 20, 5, "w", 0.02, [])
    assert totals(s, "profile") == {}
    agg.on_opened(1, 130.0, "j", "max")
    assert not agg.on_opened(1, 131.0, "j", "fast"), "a second JobOpened changes nothing"
    ser = query.series(s, "profile", 100, 130, 10)
    assert [(t, p["in"]) for t, p in ser["max"]] == [(100, 10), (120, 20)]
    assert st.unpack_job(j["j"])["pending"] == []
    agg.on_frame(1, 140.0, "j", 2, 30, 5, "w", 0.03, [])
    assert totals(s, "profile")["max"]["in"] == 60


def test_partitions_are_kept_apart_and_summed_on_read():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    agg.on_frame(0, 10.0, "a", 0, 1, 1, "w", 0, [])
    agg.on_frame(4, 10.0, "b", 0, 2, 1, "w", 0, [])
    assert sorted(st.parse_key(k) for k in s.totals) == [[0], [4]]
    assert [s.totals[st.total_key(p)]["node"]["w"]["in"] for p in (0, 4)] == [1, 2]
    assert totals(s, "node")["w"]["in"] == 3


def test_old_buckets_are_dropped_totals_keep_everything():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s, st.Windows(((10, 30),)))
    for i, ts in enumerate((0, 10, 20, 30, 40, 5)):
        agg.on_frame(0, float(ts), "j", i, 1, 1, "w", 0, [])
    starts = s.series[st.series_key(0, 10)]
    assert starts == [10, 20, 30, 40]
    assert st.bucket_key(0, 10, 0) not in s.buckets
    assert totals(s, "all")["all"]["n"] == 6          # the late frame at t=5 is in the totals


def test_archive_replicas_and_job_statuses_count_once():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    assert agg.on_archived(2, 5.0, "j", 0, 100, 40, "archive-1")
    assert not agg.on_archived(2, 6.0, "j", 0, 100, 40, "archive-1")
    assert agg.on_archived(2, 6.0, "j", 0, 100, 40, "archive-2")
    assert agg.on_final(2, 7.0, "j", "done")
    assert not agg.on_final(2, 8.0, "j", "failed")
    assert agg.on_opened(2, 1.0, "j", "fast")
    rep = totals(s, "replica")
    assert rep["archive-1"]["in"] == 100 and rep["archive-2"]["n"] == 1
    status = totals(s, "status")
    assert (status["done"]["n"], status["opened"]["n"], "failed" in status) == (1, 1, False)


def test_hostile_names_are_bounded_and_printable():
    s = st.State.in_memory()
    j = s.jobs
    agg = st.Aggregator(s)
    agg.on_frame(0, 1.0, "j", 0, 1, 1, "w\n\x00" + "x" * 500, 0, [])
    agg.on_frame(0, 1.0, "j", 1, 1, 1, "", 0, [])
    names = set(totals(s, "node"))
    assert names == {"w??" + "x" * 125, "unknown"}


def test_derived_figures_and_latency_quantiles():
    s = st.empty()
    for us in [1000] * 98 + [400_000, 40_000_000]:
        s = st.merge(s, st.sample(1, 1_000_000, 250_000, us))
    d = st.derived(s)
    assert d["ratio"] == 4.0
    assert d["latency_p50"] == 0.001 and d["latency_p99"] == 0.5 and d["latency_max"] == 40.0
    assert d["mb_per_s"] == pytest.approx(100 / (0.098 + 0.4 + 40))
    assert st.derived(st.empty()) == {"ratio": 0.0, "mb_per_s": 0.0, "latency_mean": 0.0,
                                      "latency_max": 0.0, "latency_p50": 0.0, "latency_p99": 0.0}


@pytest.mark.parametrize("dim,start,end,step,msg", [
    ("nodes", 0, 10, 10, "unknown dimension"),
    ("\x00", 0, 10, 10, "unknown dimension"),
    ("all", 0, 10, 0, "step"),
    ("all", 0, 10, 15, "step"),
    ("all", 10, 10, 10, "end must be after start"),
    ("all", 0, 10_000_000, 10, "more than"),
])
def test_bad_queries_are_refused(dim, start, end, step, msg):
    with pytest.raises(query.QueryError, match=msg):
        query.series(st.State.in_memory(), dim, start, end, step)


# ---- write-back of a batch --------------------------------------------------------------

def test_an_ended_job_is_forgotten_job_keep_seconds_after_its_end():
    s = st.State.in_memory()
    agg = st.Aggregator(s, job_keep=600)
    agg.on_frame(1, 100.0, "old", 0, 1, 1, "w", 0, [])
    agg.on_final(1, 130.0, "old", "done")
    agg.on_frame(1, 200.0, "open", 0, 1, 1, "w", 0, [])          # never ends: kept
    agg.on_final(1, 650.0, "mid", "done")
    assert not agg.on_final(1, 700.0, "old", "done"), "a redelivered end within job_keep is still a duplicate"
    assert {"old", "open", "mid"} <= set(s.jobs)
    agg.on_final(1, 781.0, "new", "failed")                      # minute 780 opens: 780 - 600 > 120
    assert "old" not in s.jobs and {"open", "mid", "new"} <= set(s.jobs)
    assert st.bucket_key(1, st.ENDED_STEP, 120) not in s.ended
    assert s.ended[st.total_key(1)] == [600, 780]
    agg.on_final(1, 5.0, "late", "done")                         # ended before the horizon: dropped at once
    assert "late" not in s.jobs
    assert totals(s, "status")["done"]["n"] == 3 and totals(s, "status")["failed"]["n"] == 1
    # partitions expire on their own event time
    agg.on_final(3, 10.0, "other", "done")
    agg.on_final(1, 5000.0, "newest", "done")
    assert "other" in s.jobs and "mid" not in s.jobs and "new" not in s.jobs


def test_the_jobs_table_stays_bounded_over_many_jobs():
    s = st.State.in_memory()
    agg = st.Aggregator(s, job_keep=3600)
    for i in range(20_000):                                      # one job every 2 s for 11 hours
        ts = i * 2.0
        agg.on_opened(i % 6, ts, f"j{i}", "fast")
        agg.on_frame(i % 6, ts, f"j{i}", 0, 100, 10, "w", 0.001, [])
        agg.on_final(i % 6, ts + 1, f"j{i}", "done")
    assert len(s.jobs) <= 3600 // 2 + 6 * 61
    assert totals(s, "status")["done"]["n"] == 20_000


def test_jobs_and_ended_are_stored_packed_and_the_previous_format_still_reads():
    s = st.State.in_memory()
    agg = st.Aggregator(s, job_keep=600)
    agg.on_frame(0, 10.0, "j\n\"x", 0, 1, 1, "w", 0, [])
    agg.on_archived(0, 11.0, "j\n\"x", 0, 1, 1, "archive-1")
    agg.on_final(0, 12.0, "j\n\"x", "done")
    agg.on_final(0, 13.0, "k", "done")
    value = s.jobs["j\n\"x"]
    assert isinstance(value, str)                       # one str object per job, not nested dicts
    assert st.unpack_job(value) == {"profile": None, "pending": [[10.0, 1, 1, 0]], "seen": [[0, 1]],
                                    "archived": {"archive-1": [[0, 1]]}, "final": "done"}
    minute = s.ended[st.bucket_key(0, st.ENDED_STEP, 0)]
    assert isinstance(minute, str) and st.ended_ids(minute) == ["j\n\"x", "k"]
    # what the previous version wrote to the changelogs: a dict per job, a list per minute
    s.jobs["old"] = {"profile": "fast", "pending": [], "seen": [[0, 2]], "archived": {}, "final": "done"}
    s.ended[st.bucket_key(0, st.ENDED_STEP, 0)] = ["j\n\"x", "k", "old"]
    assert not agg.on_frame(0, 14.0, "old", 1, 5, 5, "w", 0, []), "an old entry still dedupes"
    assert agg.on_frame(0, 14.0, "old", 2, 5, 5, "w", 0, [])
    assert totals(s, "profile")["fast"]["n"] == 1
    assert st.unpack_job(s.jobs["old"])["seen"] == [[0, 3]]
    agg.on_final(0, 70.0, "m", "done")                   # a minute in an old-format list
    assert st.ended_add(["a"], "b") == '["a","b"]' and st.ended_add(None, "a") == '["a"]'
    agg.on_final(0, 700.0, "late", "done")              # minute 660 - 600 > 0: minute 0 expires
    assert not {"j\n\"x", "k", "old"} & set(s.jobs) and {"m", "late"} <= set(s.jobs)


def test_a_packed_job_entry_is_much_smaller_than_the_dict_form():
    def deep(o):
        n = sys.getsizeof(o)
        if isinstance(o, dict):
            n += sum(deep(k) + deep(v) for k, v in o.items())
        elif isinstance(o, list):
            n += sum(deep(x) for x in o)
        return n
    job = {"profile": "fast", "pending": [], "seen": [[0, 12]],
           "archived": {"archive-1": [[0, 12]], "archive-2": [[0, 12]]}, "final": "done"}
    assert deep(st.pack_job(job)) * 5 < deep(job)


class FakeTable:
    """What WriteBack uses of a faust Table: its data."""

    def __init__(self):
        self.data = {}
        self.sent = []


def test_a_batch_writes_each_changed_key_once_to_its_partition():
    from services.analytics.writeback import WriteBack
    tables = [FakeTable() for _ in range(5)]
    tables[1].data[st.series_key(0, 10)] = [0]
    tables[2].data[st.bucket_key(0, 10, 0)] = {"all": {"all": st.sample()}}
    wb = st.State(*(WriteBack(t) for t in tables))
    agg = st.Aggregator(wb, st.Windows(((10, 30),)))
    for i, (p, ts) in enumerate([(0, 45.0), (0, 46.0), (2, 46.0), (0, 47.0)]):
        for m in wb.mappings():
            m.partition = p
        agg.on_frame(p, ts, f"job-{p}", i, 10, 5, "w", 0.0, [])
    assert all(t.sent == [] for t in tables), "nothing is written before the batch ends"
    assert st.bucket_key(0, 10, 0) not in wb.buckets, "an expired bucket reads as gone at once"
    for m, t in zip(wb.mappings(), tables):
        t.sent = m.drain()
    totals = tables[0].sent
    assert sorted((p, k) for p, k, _ in totals) == [(0, st.total_key(0)), (2, st.total_key(2))]
    assert tables[0].data[st.total_key(0)]["all"]["all"]["n"] == 3
    assert (0, st.bucket_key(0, 10, 0), None) in tables[2].sent            # the tombstone
    assert st.bucket_key(0, 10, 0) not in tables[2].data
    assert sorted(k for _, k, _ in tables[3].sent) == ["job-0", "job-2"]
    assert [p for p, k, _ in tables[3].sent if k == "job-2"] == [2]
    assert query.totals(st.State(*(t.data for t in tables)), "all")["all"]["n"] == 4


# ---- totals over a time range ------------------------------------------------------------

def test_totals_between_sum_the_buckets_of_the_range_per_partition():
    s = st.State.in_memory()
    agg = st.Aggregator(s)
    now = 1_800_000_000
    for i, (p, ts, worker) in enumerate([(0, now - 7200, "w1"), (1, now - 125, "w1"), (0, now - 61, "w2"),
                                         (1, now - 5, "w2"), (0, now - 4, "w1")]):
        agg.on_frame(p, float(ts), f"j{i}", 0, 100 + i, 10, worker, 0.001, [])
    recent = query.totals_between(s, "node", now - 130, now)             # 10 s buckets
    assert {k: (v["n"], v["in"]) for k, v in recent.items()} == {"w1": (2, 205), "w2": (2, 205)}
    assert query.totals_between(s, "all", now - 10, now)["all"]["n"] == 2
    day = query.totals_between(s, "all", now - 86400, now)               # 1 min buckets
    assert day["all"]["n"] == 5 and day["all"]["in"] == sum(100 + i for i in range(5))
    assert query.totals_between(s, "all", now + 10, now + 20) == {}
    assert query.range_window(0, 3600, st.Windows()) == 10
    assert query.range_window(0, 3601, st.Windows()) == 60
    assert query.range_window(0, 10 * 86400, st.Windows()) == 60
    for dim, a, b, msg in [("nodes", 0, 10, "unknown dimension"), ("all", 10, 10, "after start"),
                           ("all", 10, 0, "after start")]:
        with pytest.raises(query.QueryError, match=msg):
            query.totals_between(s, dim, a, b)
