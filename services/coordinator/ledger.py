"""The job ledger: JobEvents in, JobRecords (state) and JobStatus (public view) out.

Pure logic over JobRecord messages; the caller (events.py) reads the records it needs from the
state, applies a batch here and writes the result back in one fenced write with the Kafka
offsets it came from. Replays are harmless: every input is idempotent (a chunk held by a
replica is one bit; a seal, an open or an abort sets fields).

Status: queued (opened, nothing archived) -> running -> done (sealed, and every seq
0..chunk_count-1 held by at least `min_replicas` archive replicas) | failed (aborted, or the
progress watch gave up). done and failed are final.
"""
from __future__ import annotations

from dataclasses import dataclass

from cobol_mesh.proto import pb
from cobol_proto import cluster_pb2 as cpb

MAX_ID_BYTES = 1024           # longer ids are refused (dead-lettered), never stored
MAX_CHUNKS = 1 << 20          # seqs beyond this are refused: 1 Mi chunks (1 TiB at 1 MiB chunks)
MAX_REPLICAS = 64             # replica holders are a 64-bit mask per chunk
MAX_NAME = 256
FINAL = ("done", "failed")


class Unapplicable(ValueError):
    """An event the ledger refuses; the message is the dead-letter reason."""


@dataclass
class Change:
    before: str               # "" for a new job
    after: str


def check_event(ev: pb.JobEvent) -> None:
    """Raise Unapplicable for an event no ledger state could take."""
    if not ev.job_id:
        raise Unapplicable("empty job_id")
    if len(ev.job_id.encode()) > MAX_ID_BYTES:
        raise Unapplicable(f"job_id longer than {MAX_ID_BYTES} bytes")
    kind = ev.WhichOneof("event")
    if kind is None:
        raise Unapplicable("no event in the JobEvent")
    if kind == "archived":
        if ev.archived.seq >= MAX_CHUNKS:
            raise Unapplicable(f"seq {ev.archived.seq} is beyond {MAX_CHUNKS} chunks")
        if len(ev.archived.replica.encode()) > MAX_NAME:
            raise Unapplicable(f"replica name longer than {MAX_NAME} bytes")
    if kind == "sealed" and ev.sealed.chunk_count > MAX_CHUNKS:
        raise Unapplicable(f"chunk_count {ev.sealed.chunk_count} is beyond {MAX_CHUNKS}")


def new_record(job_id: str, at: float) -> cpb.JobRecord:
    return cpb.JobRecord(job_id=job_id, status="queued", created_at=at, max_seq=-1, last_progress_at=at)


def holders(rec: cpb.JobRecord, seq: int) -> int:
    return bin(rec.chunk_replicas[seq]).count("1") if seq < len(rec.chunk_replicas) else 0


def chunks_at(rec: cpb.JobRecord, n: int) -> int:
    """How many seqs are held by at least n replicas."""
    return sum(1 for m in rec.chunk_replicas if m and bin(m).count("1") >= n)


def apply(rec: cpb.JobRecord | None, ev: pb.JobEvent, *, min_replicas: int,
          opened_by: str = "") -> cpb.JobRecord:
    """Apply one (checked) event; returns the record (a new one for an unknown job)."""
    check_event(ev)
    at = ev.at
    if rec is None:
        rec = new_record(ev.job_id, at)
    kind = ev.WhichOneof("event")
    final = rec.status in FINAL
    if kind == "opened":
        rec.source, rec.name, rec.profile = ev.opened.source, ev.opened.name[:4096], ev.opened.profile
        rec.created_at = at          # the Opened time is the creation time even if it came late
        if opened_by:
            rec.opened_by = opened_by[:MAX_NAME]
    elif kind == "sealed":
        rec.sealed = True
        rec.chunk_count, rec.bytes_in, rec.sha256 = ev.sealed.chunk_count, ev.sealed.bytes_in, ev.sealed.sha256
        rec.last_progress_at = max(rec.last_progress_at, at)
    elif kind == "aborted" and not final:
        fail(rec, ev.aborted.reason or "aborted", at)
    elif kind == "archived":
        _archived(rec, ev.archived, at)
    if rec.status not in FINAL:
        if rec.status == "queued" and any(rec.chunk_replicas):
            rec.status = "running"
        if complete(rec, min_replicas):
            rec.status, rec.finished_at = "done", at
    return rec


def _archived(rec: cpb.JobRecord, a: pb.ChunkArchived, at: float) -> None:
    name = a.replica or "archive"
    if name in rec.replicas:
        bit = 1 << list(rec.replicas).index(name)
    elif len(rec.replicas) < MAX_REPLICAS:
        rec.replicas.append(name)
        bit = 1 << (len(rec.replicas) - 1)
    else:
        raise Unapplicable(f"more than {MAX_REPLICAS} archive replicas for one job")
    seq = a.seq
    if seq >= len(rec.chunk_replicas):
        rec.chunk_replicas.extend([0] * (seq + 1 - len(rec.chunk_replicas)))
    mask = rec.chunk_replicas[seq]
    if mask & bit:
        return                            # a replay, or a duplicate delivery
    if not mask:                          # the first copy of this chunk: count its bytes once
        rec.archived_bytes_in += a.bytes_in
        rec.bytes_out += a.bytes_out
        rec.max_seq = max(rec.max_seq, seq)
    rec.chunk_replicas[seq] = mask | bit
    rec.last_progress_at = max(rec.last_progress_at, at)


def complete(rec: cpb.JobRecord, min_replicas: int) -> bool:
    if not rec.sealed or len(rec.chunk_replicas) < rec.chunk_count:
        return False
    return all(bin(rec.chunk_replicas[i]).count("1") >= min_replicas for i in range(rec.chunk_count))


def fail(rec: cpb.JobRecord, reason: str, at: float) -> None:
    if rec.status not in FINAL:
        rec.status, rec.reason, rec.finished_at = "failed", reason[:2048], at


def to_status(rec: cpb.JobRecord, min_replicas: int) -> pb.JobStatus:
    archived = chunks_at(rec, min_replicas)
    chunk_count = rec.chunk_count if rec.sealed else 0
    if rec.status == "done":
        progress = 1.0
    elif chunk_count:
        progress = min(archived / chunk_count, 0.999)
    else:   # not sealed yet: what is archived against what has been seen so far
        progress = min(archived / (rec.max_seq + 2), 0.99) if archived else 0.0
    return pb.JobStatus(
        job_id=rec.job_id, status=rec.status, progress=progress,
        bytes_in=rec.bytes_in if rec.sealed else rec.archived_bytes_in,
        bytes_out=rec.bytes_out, chunks_archived=archived, chunk_count=chunk_count,
        name=rec.name, source=rec.source, profile=rec.profile, reason=rec.reason,
        created_at=rec.created_at, finished_at=rec.finished_at, sha256=rec.sha256)


def missing(rec: cpb.JobRecord, min_replicas: int, limit: int = 20) -> list[int]:
    """Seqs (of a sealed job) not yet at min_replicas, up to `limit`."""
    out = []
    for i in range(rec.chunk_count):
        if holders(rec, i) < min_replicas:
            out.append(i)
            if len(out) >= limit:
                break
    return out
