"""The analytics service on the real Kafka: exact totals, series, bad input, and a SIGKILL
mid-stream after which the totals are still exact (nothing lost, nothing counted twice)."""
from __future__ import annotations

import time

import pytest

from analytics_harness import (ROOT, AnalyticsProc, check_exact, committed_input_offsets,  # noqa: E402
                               count_committed_records, frames_counted, group_id, group_members, input_topic,
                               make_feed, produce, producer, wait_counted, wait_until, worker_with_feed)
from cobol_mesh.analytics_client import AnalyticsError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kafka() -> str:
    """Only Kafka (scripts/infra.py): started if it is not up, and then stopped again."""
    from infra_support import infra_status, run_infra
    was_up = all(i["running"] for i in infra_status()["kafka"]["instances"].values())
    if not was_up and run_infra("start", "kafka").returncode:
        pytest.fail("scripts/infra.py start kafka failed; see the captured output")
    yield infra_status()["kafka"]["bootstrap_servers"]
    if not was_up:
        run_infra("stop", "kafka")


def test_totals_series_and_bad_input_are_exact(kafka, tmp_path):
    proc = AnalyticsProc(kafka, tmp_path, port=50166, metrics_port=9666)
    t0_ms = (int(time.time()) // 60 * 60 - 600) * 1000     # ten minutes ago, on a minute
    recs, exp = make_feed(n_jobs=24, frames_per_job=12, t0_ms=t0_ms, span_ms=150_000, seed=3)
    try:
        proc.start()
        proc.wait_ready()
        with proc.client() as c:
            assert c.totals("node") == {}
            produce(producer(kafka), proc, recs)
            wait_counted(c, exp, 120, proc=proc)
            check_exact(c, exp)
            layers = c.totals("layer")
            assert "unreadable" in layers and any(k.startswith("L") for k in layers)
            a = c.totals("all")["all"]
            assert a["ratio"] == pytest.approx(a["bytes_in"] / a["bytes_out"])
            assert 0 < a["latency_p50"] <= a["latency_p99"] <= 1.0 and a["latency_max"] == 0.9
            start, end = t0_ms / 1000, t0_ms / 1000 + 300
            for step, size in ((10, 10), (60, 60), (120, 60)):
                ser = c.series("all", start, end, step)["all"]
                want = {}
                for (w, b), (n, b_in) in exp.windows.items():
                    if w == size and start <= b < end:
                        t = b // step * step
                        want[t] = (want.get(t, (0, 0))[0] + n, want.get(t, (0, 0))[1] + b_in)
                assert {t: (p["count"], p["bytes_in"]) for t, p in ser} == want, step
            per_node = c.series("node", start, end, 60)
            assert set(per_node) == set(exp.by["node"])
            assert sum(p["count"] for pts in per_node.values() for _, p in pts) == exp.frames
            for dim, a_, b_, step, why in [("nodes", start, end, 10, "unknown dimension"),
                                           ("node\x00", start, end, 10, "unknown dimension"),
                                           ("all", start, end, 7, "step"),
                                           ("all", end, start, 10, "after start"),
                                           ("all", 0, 1e12, 10, "more than")]:
                with pytest.raises(AnalyticsError, match=why) as err:
                    c.series(dim, a_, b_, step)
                assert err.value.code.name == "INVALID_ARGUMENT"
            with pytest.raises(AnalyticsError, match="unknown dimension"):
                c.totals("../etc")
            check_exact(c, exp)                                   # bad queries changed nothing
        assert proc.stop() == 0
        # faust's own files are under the configured data dir, never in the current directory
        assert (tmp_path / "data" / group_id(proc)).is_dir()
        assert not (ROOT / f"{group_id(proc)}-data").exists()
    finally:
        proc.stop()


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(kafka, tmp_path):
    with worker_with_feed(kafka, tmp_path, 50167, 9667, n_jobs=40, frames_per_job=30, seed=9,
                          rate=300) as (proc, recs, exp, feeder), proc.client() as c:
        # kill mid-stream: part of the records counted and some committed, not all
        before = wait_until("a first part counted",
                            lambda: frames_counted(c) > exp.frames // 4, 180)
        # ... and half the feed committed, so that a worker restoring its tables from the
        # changelogs reads clearly fewer records than the whole input topic (below), even
        # with the re-reads of its rebalances (each re-reads what was uncommitted)
        wait_until("half the feed's records committed by the count agent",
                   lambda: committed_input_offsets(proc) > len(recs) // 2, 180)
        proc.kill()
        assert before < exp.frames
        proc.start()
        proc.wait_ready()
        feeder.join(300)
        wait_counted(c, exp, 420, supervised=proc)
        check_exact(c, exp)
        # the restarted worker restored its tables from the changelogs: it did not count the
        # whole input topic again (it would have reached the same totals from scratch)
        handled = proc.metric("cobol_analytics_events_total")
        assert 0 < handled < count_committed_records(kafka, input_topic(proc)), handled


def test_sigterm_mid_stream_exits_0_and_the_restart_loses_nothing(kafka, tmp_path):
    """A clean stop while records flow: the worker exits 0 without committing (app.AnalyticsApp),
    and what it handled after its last timer commit is counted by the restarted worker,
    exactly once."""
    with worker_with_feed(kafka, tmp_path, 50172, 9672, n_jobs=30, frames_per_job=20, seed=13,
                          rate=300) as (proc, recs, exp, feeder), proc.client() as c:
        wait_until("a first part counted",
                   lambda: frames_counted(c) > exp.frames // 5, 180)
        assert proc.stop() == 0
        proc.start()
        proc.wait_ready()
        feeder.join(300)
        wait_counted(c, exp, 420, proc=proc)
        check_exact(c, exp)
        assert proc.stop() == 0


def test_a_worker_paused_past_its_session_rejoins_and_loses_nothing(kafka, tmp_path):
    """A worker starved of CPU (SIGSTOP) until its group drops it, then let go: it rejoins as
    the only member and gets back every partition it had — the rebalance a loaded machine
    brings. Each time it rebuilds its tables from the changelogs (before
    app.recover_up_to_stable_offsets faust read nothing back and counted on from empty
    tables) and is ready again; the records it had fetched but not counted are read again
    from the committed offsets (before app.hold_flow_while_seeking, records fetched during
    that seek were emptied out and committed over); in the end every total is exact."""
    with worker_with_feed(kafka, tmp_path, 50173, 9673, n_jobs=40, frames_per_job=20, seed=17,
                          rate=150) as (proc, recs, exp, feeder), proc.client() as c:
        for part in (1, 2, 3):
            wait_until(f"{part}/5 of the frames counted",
                       lambda: frames_counted(c) > exp.frames * part // 5, 180)
            rebuilds = proc.metric("cobol_analytics_table_rebuilds_total")
            proc.pause_past_session()
            wait_until("the worker back in its group", lambda: group_members(proc) == 1, 120)
            wait_until("its tables rebuilt from the changelogs",
                       lambda: proc.metric("cobol_analytics_table_rebuilds_total") > rebuilds, 60)
            # ... and ready again: queries answer (UNAVAILABLE until the recovery is done)
            wait_until("queries answered again", lambda: frames_counted(c) > 0, 180)
            proc.wait_ready(30)
        feeder.join(300)
        wait_counted(c, exp, 420, proc=proc)
        check_exact(c, exp)
        assert proc.stop() == 0


@pytest.mark.fault_full      # `make chaos`: slow, and under heavy load faust may crash at the rebalance
def test_a_worker_joining_and_leaving_mid_stream_loses_nothing(kafka, tmp_path):
    """Two rebalances while records flow: the first worker gives up half its partitions and
    gets them back, keeping others throughout. Its tables are rebuilt from the changelogs at
    each rebalance (app.forget_local_state), so what it counted after its last commit is
    neither kept nor lost: the totals are exact. On a loaded machine faust's exactly-once
    commit can race the rebalance and crash the worker ("Can't send messages while not in
    transaction"); it is restarted here as the mesh's supervisor would, and must still be exact."""
    with worker_with_feed(kafka, tmp_path, 50168, 9668, n_jobs=30, frames_per_job=20, seed=11,
                          rate=200) as (first, recs, exp, feeder), first.client() as c:
        second = first.joining(port=50169, metrics_port=9669)
        try:
            wait_until("a first part counted",
                       lambda: frames_counted(c) > exp.frames // 5, 180)
            second.start()
            second.wait_ready()            # the group now has two members, each with some partitions
            with second.client() as c2:
                wait_until("the second worker counts its share",
                           lambda: first.restart_if_dead() or frames_counted(c2) > 0,
                           180)
            assert second.stop() == 0      # and leaves: the first gets every partition back
            feeder.join(300)
            wait_counted(c, exp, 420, supervised=first)
            check_exact(c, exp)
        finally:
            second.stop()
