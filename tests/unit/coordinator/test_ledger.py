"""The job ledger's logic on JobRecords: idempotence, replicas, completion, hostile input."""
from __future__ import annotations

import pytest

from cobol_mesh.proto import pb
from services.coordinator import ledger


def ev(job="j", at=1.0, **kind):
    return pb.JobEvent(job_id=job, at=at, **kind)


def opened(job="j", at=1.0):
    return ev(job, at, opened=pb.JobOpened(source="rest", name="f.csv", profile="balanced"))


def sealed(n, job="j", at=2.0, nbytes=100):
    return ev(job, at, sealed=pb.JobSealed(chunk_count=n, bytes_in=nbytes, sha256="ab"))


def archived(seq, replica="archive-1", job="j", at=3.0):
    return ev(job, at, archived=pb.ChunkArchived(seq=seq, bytes_in=10, bytes_out=4, replica=replica))


def run(events, min_replicas=1, rec=None):
    for e in events:
        rec = ledger.apply(rec, e, min_replicas=min_replicas, opened_by="ingest-1")
    return rec


def test_lifecycle_queued_running_done_and_status():
    rec = run([opened()])
    assert rec.status == "queued" and rec.opened_by == "ingest-1"
    rec = run([archived(0)], rec=rec)
    assert rec.status == "running"
    st = ledger.to_status(rec, 1)
    assert 0 < st.progress < 1 and st.chunk_count == 0 and st.bytes_in == 10
    rec = run([sealed(2), archived(1)], rec=rec)
    assert rec.status == "done" and rec.finished_at == 3.0
    st = ledger.to_status(rec, 1)
    assert (st.progress, st.chunks_archived, st.bytes_in, st.bytes_out) == (1.0, 2, 100, 8)


def test_replays_and_duplicates_count_once():
    once = run([opened(), archived(0), archived(1), sealed(3)])
    twice = run([opened(), archived(0), archived(0), archived(1), archived(1, at=9), sealed(3), sealed(3)])
    assert twice.bytes_out == once.bytes_out == 8 and twice.status == once.status == "running"
    assert ledger.to_status(twice, 1).chunks_archived == 2


def test_min_replicas_every_chunk_on_two_replicas():
    rec = run([opened(), sealed(2), archived(0, "archive-1"), archived(1, "archive-1")], min_replicas=2)
    assert rec.status == "running" and ledger.missing(rec, 2) == [0, 1]
    rec = run([archived(0, "archive-2")], min_replicas=2, rec=rec)
    assert rec.status == "running" and ledger.missing(rec, 2) == [1]
    rec = run([archived(1, "archive-2")], min_replicas=2, rec=rec)
    assert rec.status == "done" and list(rec.replicas) == ["archive-1", "archive-2"]
    assert rec.bytes_out == 8        # bytes counted once per chunk, not per copy


def test_events_in_any_order_and_empty_job():
    rec = run([archived(1), sealed(2), archived(0), opened(at=0.5)])
    assert rec.status == "done" and rec.created_at == 0.5 and rec.name == "f.csv"
    assert run([opened(), sealed(0)]).status == "done"


def test_abort_is_final_and_done_is_never_undone():
    rec = run([opened(), archived(0), ev(aborted=pb.JobAborted(reason="client went away")), sealed(1)])
    assert (rec.status, rec.reason) == ("failed", "client went away")
    done = run([opened(), sealed(1), archived(0), ev(aborted=pb.JobAborted(reason="late"))])
    assert done.status == "done" and done.reason == ""


@pytest.mark.parametrize("event,reason", [
    (pb.JobEvent(job_id="", opened=pb.JobOpened()), "empty job_id"),
    (pb.JobEvent(job_id="x" * 1025, opened=pb.JobOpened()), "longer than 1024"),
    (pb.JobEvent(job_id="é" * 600, opened=pb.JobOpened()), "longer than 1024"),
    (pb.JobEvent(job_id="j"), "no event"),
    (pb.JobEvent(job_id="j", archived=pb.ChunkArchived(seq=1 << 40)), "beyond"),
    (pb.JobEvent(job_id="j", sealed=pb.JobSealed(chunk_count=1 << 40)), "beyond"),
    (pb.JobEvent(job_id="j", archived=pb.ChunkArchived(seq=1, replica="r" * 300)), "replica name"),
])
def test_unapplicable_events_are_refused_with_a_reason(event, reason):
    with pytest.raises(ledger.Unapplicable, match=reason):
        ledger.apply(None, event, min_replicas=1)


@pytest.mark.parametrize("job_id", ["jobs", "jobs:order", "leader", "..", "a\0b", "a\nb", "ünï/cødé ✓", "x" * 1024])
def test_hostile_ids_are_plain_data(job_id):
    rec = run([opened(job_id), sealed(1, job_id), archived(0, job=job_id)])
    assert rec.job_id == job_id and rec.status == "done"


def test_too_many_replicas_is_refused():
    rec = run([opened(), sealed(1)])
    for i in range(ledger.MAX_REPLICAS):
        rec = run([archived(0, f"r{i}")], rec=rec)
    with pytest.raises(ledger.Unapplicable, match="replicas"):
        run([archived(0, "one-too-many")], rec=rec)
