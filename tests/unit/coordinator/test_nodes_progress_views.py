"""Failure detection, the progress watch and the health/replica views, on plain records."""
from __future__ import annotations

from cobol_proto import cluster_pb2 as cpb
from services.coordinator import ledger, progress, views
from services.coordinator.nodes import NodeTable, Thresholds
from cobol_mesh.proto import pb


def hb(inst="compressor-1", role="compressor", pid=10, leaving=False, **kw):
    return cpb.Heartbeat(instance=inst, role=role, host="h", pid=pid, version="v", leaving=leaving, **kw)


def test_join_suspect_down_and_back():
    t = NodeTable(Thresholds(2.5, 4.5))
    evs = t.beat(hb(partitions=[cpb.PartitionLoad(topic="c", partition=2, lag=7)]), 1000.0, 0.0)
    assert [e.kind for e in evs] == ["joined"] and t.nodes["compressor-1"].status == "alive"
    assert t.nodes["compressor-1"].partitions[0].lag == 7
    assert t.tick(1001.0, 1.0) == [] and t.tick(1002.0, 2.4) == []
    evs = t.tick(1002.6, 2.6)
    assert [(e.kind, e.status) for e in evs] == [("suspect", "suspect")]
    evs = t.tick(1004.6, 4.6)
    assert [(e.kind, e.status) for e in evs] == [("down", "down")] and "no heartbeat for 4.6" in evs[0].reason
    assert t.tick(1010.0, 10.0) == []                         # down once, not again
    evs = t.beat(hb(), 1011.0, 11.0)
    assert [e.kind for e in evs] == ["alive"] and t.nodes["compressor-1"].status == "alive"
    assert [e.seq for e in evs] == [4]                        # event seqs keep increasing


def test_restart_and_clean_leave_are_not_failures():
    t = NodeTable(Thresholds(2.5, 4.5))
    t.beat(hb(pid=1), 0.0, 0.0)
    assert [e.kind for e in t.beat(hb(pid=2), 1.0, 1.0)] == ["restarted"]
    assert [e.kind for e in t.beat(hb(pid=2, leaving=True), 2.0, 2.0)] == ["left"]
    assert t.tick(100.0, 100.0) == [] and t.nodes["compressor-1"].status == "left"


def test_long_gone_nodes_are_forgotten():
    t = NodeTable(Thresholds(2.5, 4.5, forget_after=60))
    t.beat(hb(), 0.0, 0.0)
    t.tick(5.0, 5.0)
    assert t.tick(64.0, 64.0) == [] and "compressor-1" in t.nodes
    [ev] = t.tick(65.0, 65.0)
    assert ev.kind == "forgotten" and "compressor-1" not in t.nodes and t.take_forgotten() == {"compressor-1"}
    assert [e.kind for e in t.beat(hb(), 70.0, 70.0)] == ["joined"]


def test_takeover_counts_nodes_as_heard_at_its_start():
    t1 = NodeTable(Thresholds(2.5, 4.5))
    t1.beat(hb(), 0.0, 0.0)
    t2 = NodeTable(Thresholds(2.5, 4.5), next_seq=t1.next_seq)
    t2.load(t1.take_dirty(), 50.0)                            # a new leader, its own clock
    assert t2.tick(50.0, 52.0) == []
    assert [e.kind for e in t2.tick(55.0, 54.6)] == ["down"] and t2.nodes["compressor-1"].status == "down"


def test_hostile_instance_names_are_ignored_or_kept_as_data():
    t = NodeTable(Thresholds(2.5, 4.5))
    assert t.beat(hb(inst=""), 0.0, 0.0) == [] and t.beat(hb(inst="x" * 300), 0.0, 0.0) == []
    assert [e.kind for e in t.beat(hb(inst="nodes\n.."), 0.0, 0.0)] == ["joined"]


def test_node_table_is_bounded(monkeypatch):
    from services.coordinator import nodes as mod
    monkeypatch.setattr(mod, "MAX_NODES", 3)
    t = NodeTable(Thresholds(2.5, 4.5))
    for i in range(5):
        t.beat(hb(inst=f"fake-{i}"), 0.0, 0.0)
    assert sorted(t.nodes) == ["fake-0", "fake-1", "fake-2"]
    assert [e.kind for e in t.beat(hb(inst="fake-1", pid=99), 1.0, 1.0)] == ["restarted"]   # known ones still beat


def node(inst, role, status, since=0.0):
    return cpb.Node(instance=inst, role=role, status=status, status_since=since, reason="no heartbeat for 4.6 s")


def job(job_id="j", sealed=False, n=0, opened_by="ingest-1", last=0.0, chunks=()):
    rec = ledger.new_record(job_id, 0.0)
    rec.sealed, rec.chunk_count, rec.opened_by, rec.last_progress_at = sealed, n, opened_by, last
    rec.replicas.append("archive-1")
    rec.chunk_replicas.extend(chunks)
    return rec


LIMITS = progress.Limits(orphan_grace=5, stall_after=30, max_redrives=1)
LIVE = {"c": node("compressor-1", "compressor", "alive"), "a": node("archive-1", "archive", "alive")}


def test_orphaned_upload_fails_after_grace_unless_ingest_is_alive():
    nodes = {**LIVE, "ingest-1": node("ingest-1", "ingest", "down", since=100.0)}
    rec = job(last=90.0)
    assert progress.check([rec], nodes, 104.0, LIMITS, 1) == []
    device = job("d", last=90.0)
    device.source = "kafka"
    assert progress.check([device], nodes, 500.0, LIMITS, 1) == []
    [a] = progress.check([rec], nodes, 105.0, LIMITS, 1)
    assert a.kind == "fail" and "ingest ingest-1 went down" in a.reason
    nodes["ingest-1"] = node("ingest-1", "ingest", "alive")
    assert progress.check([rec], nodes, 500.0, LIMITS, 1) == []
    # another ingest's death does not touch this job; an unknown opener needs every ingest gone
    nodes = {**LIVE, "ingest-1": node("ingest-1", "ingest", "alive"), "ingest-2": node("ingest-2", "ingest", "down")}
    assert progress.check([rec, job("k", opened_by="")], nodes, 500.0, LIMITS, 1) == []
    nodes["ingest-1"] = node("ingest-1", "ingest", "left", since=100.0)
    assert [a.job_id for a in progress.check([rec, job("k", opened_by="")], nodes, 200.0, LIMITS, 1)] == ["j", "k"]


def test_stalled_job_is_redriven_once_then_failed_with_reason():
    rec = job(sealed=True, n=3, last=0.0, chunks=[1, 0, 1])
    assert progress.check([rec], LIVE, 29.0, LIMITS, 1) == []
    [a] = progress.check([rec], LIVE, 31.0, LIMITS, 1)
    assert a.kind == "redrive" and a.seqs == (1,)
    rec.redrives, rec.redriven_at = 1, 31.0
    assert progress.check([rec], LIVE, 60.0, LIMITS, 1) == []
    [a] = progress.check([rec], LIVE, 62.0, LIMITS, 1)
    assert a.kind == "fail" and "seqs [1]" in a.reason
    # nothing to re-drive to: no live compressor -> fail at once, saying so
    [a] = progress.check([job(sealed=True, n=1, chunks=[0])], {"a": LIVE["a"]}, 31.0, LIMITS, 1)
    assert a.kind == "fail" and "alive compressors 0" in a.reason


def test_health_degraded_with_reasons():
    ok = views.health({**LIVE, "i": node("ingest-1", "ingest", "alive")}, ("coordinator-1", 3), 1)
    assert ok.status == "ok" and not ok.reasons and ok.leader == "coordinator-1" and ok.fencing_token == 3
    bad = views.health({"c": node("compressor-1", "compressor", "down"), "i": node("ingest-1", "ingest", "alive"),
                        "a": LIVE["a"]}, None, 2)
    assert bad.status == "degraded"
    text = " | ".join(bad.reasons)
    assert "no live compressor" in text and "no coordinator leader" in text and "min_replicas=2" in text
    assert bad.down["compressor"] == 1


def test_replica_report_per_replica_and_per_job():
    rec = job(sealed=True, n=2)
    for e in (pb.ChunkArchived(seq=0, replica="archive-1"), pb.ChunkArchived(seq=1, replica="archive-1"),
              pb.ChunkArchived(seq=0, replica="archive-2")):
        ledger._archived(rec, e, 1.0)
    nodes = {"archive-1": node("archive-1", "archive", "alive"), "archive-2": node("archive-2", "archive", "down")}
    r = views.replicas([rec], nodes, 2)
    [j] = r.jobs
    assert dict(j.per_replica) == {"archive-1": 2, "archive-2": 1}
    assert (j.chunks_at_min, j.chunks_under, j.healthy) == (1, 1, False)
    assert [(a.replica, a.status, a.chunks) for a in r.replicas] == [("archive-1", "alive", 2), ("archive-2", "down", 1)]
    assert views.replicas([rec], nodes, 1).jobs[0].healthy


def test_orphaned_upload_fails_even_while_its_queued_chunks_are_still_archived():
    """Chaos case 9 on a busy mesh: ingest dies, the chunks it had produced keep being archived
    after it is marked down; the upload can never be sealed, so the job must still fail."""
    nodes = {**LIVE, "ingest-1": node("ingest-1", "ingest", "down", since=100.0)}
    rec = job(last=103.0)
    rec.created_at = 90.0
    [a] = progress.check([rec], nodes, 105.0, LIMITS, 1)
    assert a.kind == "fail" and "ingest ingest-1 went down" in a.reason
    later = job("new", last=102.0)          # opened after the mark (a restarted ingest not yet heard)
    later.created_at = 102.0
    assert progress.check([later], nodes, 500.0, LIMITS, 1) == []
    unknown = job("k", opened_by="", last=103.0)
    unknown.created_at = 90.0
    nodes = {**LIVE, "ingest-1": node("ingest-1", "ingest", "left", since=100.0)}
    assert [a.job_id for a in progress.check([unknown], nodes, 105.0, LIMITS, 1)] == ["k"]
