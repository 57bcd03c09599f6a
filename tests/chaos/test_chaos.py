"""The fault suite: each case breaks something on purpose with a job in flight, then asserts
that the job completes byte-exact with nothing lost or duplicated (every seq committed to the
frames topic exactly once, every replica holding every frame), or fails cleanly with a reason.

Numbering follows issue 7. Cases 2 (coordinator leader) and 4 (Redis restart) belong to the
coordinator's suite. Figures go to conftest.FIGURES and are printed, never asserted.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import shutil
import signal
import time
import uuid

import grpc
import pytest

from mesh_harness import FIGURES, Mesh, gen_data, infra_cmd, split, wait_until
from cobol_mesh.proto import pb

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
MIB = int(os.environ.get("COBOL_CHAOS_MIB", "24"))
PROFILE = os.environ.get("COBOL_CHAOS_PROFILE", "balanced")


def figure(text: str) -> None:
    FIGURES.append(text)
    print(f"chaos: {text}", flush=True)


# ---- a job in flight, a fault, and the checks ------------------------------------------------

def job_under_fault(m: Mesh, label: str, fault=None, when=None, mib: int = MIB):
    """Upload `mib` MiB; once `when(job)` holds, run `fault(job_id)`; wait for done; verify.
    Returns (seconds, what fault() returned)."""
    frames_start = m.high_watermarks(m.topics["frames"])
    job_id = f"chaos-{label}-{uuid.uuid4().hex[:10]}"
    sha, total = hashlib.sha256(), 0

    def pieces():
        nonlocal total
        for piece in gen_data(mib, seed=len(label)):
            sha.update(piece)
            total += len(piece)
            yield piece
    t0 = time.monotonic()
    info = None
    with cf.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(m.upload, pieces(), label, PROFILE, job_id)
        if fault:
            cond = when or (lambda j: j.chunks_archived >= 4)
            wait_until(f"{label}: job in flight", lambda: m.exists(job_id) and cond(m.job(job_id)), 300)
            info = fault(job_id)
        reply = fut.result(900)
    assert reply.sha256 == sha.hexdigest() and reply.bytes_in == total
    j = m.wait_status(job_id, "done", 900)
    seconds = time.monotonic() - t0
    assert j.chunk_count == reply.chunk_count
    verify_exact(m, job_id, reply, frames_start)
    return seconds, info


def verify_exact(m: Mesh, job_id: str, reply, frames_start) -> None:
    n = reply.chunk_count
    h = hashlib.sha256()
    for c in m.stub("archive").ReadOriginal(pb.ReadRequest(job_id=job_id), timeout=900):
        h.update(c.data)
    assert h.hexdigest() == reply.sha256, "the job does not read back byte-exact"
    frames = [pb.Frame.FromString(x.value()) for x in m.read_topic(m.topics["frames"], frames_start, timeout=300)]
    seqs = sorted(f.seq for f in frames if f.job_id == job_id)
    assert seqs == list(range(n)), "a committed frame is missing or duplicated"
    want = [f"{s:012d}.frame" for s in range(n)]
    for name in m.archives:
        d = m.archive_dir(name) / "jobs" / job_id
        wait_until(f"{name} holds all {n} frames", lambda: d.is_dir() and sorted(
            p.name for p in d.iterdir() if p.name.endswith(".frame")) == want, 120)


@pytest.fixture(scope="session")
def baseline(cmesh):
    seconds, _ = job_under_fault(cmesh, "baseline")
    figure(f"baseline: {MIB} MiB ({PROFILE}) with no fault: {seconds:.1f}s")
    return seconds


def slowdown(label: str, seconds: float, base: float) -> None:
    figure(f"{label}: job {seconds:.1f}s against {base:.1f}s without the fault "
           f"({seconds - base:+.1f}s, x{seconds / base:.2f})")


def committed(m: Mesh, role: str, partitions: list[int]) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": m.bootstrap})
    req = ConsumerGroupTopicPartitions(m.group(role), [TopicPartition(m.topics["chunks"], p) for p in partitions])
    got = a.list_consumer_group_offsets([req], request_timeout=5)[m.group(role)].result(10)
    return {tp.partition: tp.offset for tp in got.topic_partitions}


def busy_worker(m: Mesh) -> tuple[str, list[int]]:
    members = wait_until("compressors holding partitions",
                         lambda: {k: v for k, v in m.group_members("compressor").items() if v}, 120)
    client, parts = sorted(members.items())[0]
    return client.removeprefix("cobol-"), parts


def takeover(m: Mesh, victim: str, parts: list[int], t0: float) -> tuple[float, float, float]:
    """Seconds from t0 until the group dropped the victim with every partition on a live
    member, until a survivor logged the victim's partitions as assigned to it, and until they
    were consumed again (their committed offsets moved: one batch encoded and committed)."""
    wall0 = time.time() - (time.monotonic() - t0)
    before = committed(m, "compressor", parts)
    wait_until("victim out of the group", lambda: (
        (g := m.group_members("compressor")) and f"cobol-{victim}" not in g
        and sum(len(v) for v in g.values()) == 6), 180, interval=0.05)
    t_detect = time.monotonic() - t0
    wait_until("victim's partitions consumed again",
               lambda: any(v > before.get(p, -1) for p, v in committed(m, "compressor", parts).items()),
               120, interval=0.05)
    t_resume = time.monotonic() - t0
    return t_detect, _assigned_after(m, victim, set(parts), wall0), t_resume


def _assigned_after(m: Mesh, victim: str, parts: set[int], wall0: float) -> float:
    """From the survivors' logs: when one of them was first assigned a victim's partition."""
    import datetime as dt
    import json
    best = float("nan")
    for name in m.planned:
        if not name.startswith("compressor-") or name == victim:
            continue
        for line in m.log(name, 2000).splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == "compressor.assigned" and parts & set(rec.get("partitions", [])):
                at = dt.datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp() - wall0
                if at > 0 and not at >= best:
                    best = at
    return best


# ---- the cases -------------------------------------------------------------------------------

@pytest.mark.chaos_quick
def test_1_sigkill_a_compressor(cmesh, baseline):
    def fault(job_id):
        victim, parts = busy_worker(cmesh)
        t0 = time.monotonic()
        cmesh.kill(victim)
        return (victim,) + takeover(cmesh, victim, parts, t0)
    seconds, (victim, t_detect, t_assign, t_resume) = job_under_fault(cmesh, "kill-compressor", fault)
    figure(f"1 SIGKILL {victim}: out of the group after {t_detect:.2f}s, its partitions assigned to a "
           f"live worker after {t_assign:.2f}s, first batch of them committed after {t_resume:.2f}s")
    slowdown("1 SIGKILL compressor", seconds, baseline)


def test_3_stop_one_kafka_broker_then_start_it(cmesh, baseline):
    def fault(job_id):
        t0 = time.monotonic()
        before = cmesh.job(job_id).chunks_archived
        infra_cmd("stop", "kafka-2")
        wait_until("progress with a broker down", lambda: (j := cmesh.job(job_id)).status == "done"
                   or j.chunks_archived > before, 300)
        progress_s = time.monotonic() - t0
        infra_cmd("start", "kafka")
        return progress_s
    seconds, progress_s = job_under_fault(cmesh, "broker-down", fault)
    figure(f"3 broker kafka-2 stopped: the job archived more chunks {progress_s:.1f}s after the stop began")
    slowdown("3 one broker of three down", seconds, baseline)


def test_5_restart_postgresql(cmesh, baseline):
    second: dict = {}

    def fault(job_id):
        infra_cmd("stop", "postgres")
        # an upload that begins while PostgreSQL is down waits for it (ingest retries), then works
        ex = cf.ThreadPoolExecutor(1)
        data = b"opened while postgres was down\n" * 2000
        second["fut"] = ex.submit(cmesh.upload, split(data), "pg-down", "fast")
        second["data"] = data
        t0 = time.monotonic()
        infra_cmd("start", "postgres")
        return time.monotonic() - t0
    seconds, restart_s = job_under_fault(cmesh, "pg-restart", fault)
    r = second["fut"].result(120)
    assert cmesh.wait_status(r.job_id, "done").bytes_in == len(second["data"])
    assert cmesh.read("ReadOriginal", r.job_id) == second["data"]
    figure(f"5 PostgreSQL restart took {restart_s:.1f}s; an upload opened meanwhile completed")
    slowdown("5 PostgreSQL restart", seconds, baseline)


def test_6_sigstop_a_worker_past_its_session_then_thaw(cmesh, baseline):
    def fault(job_id):
        victim, parts = busy_worker(cmesh)
        log_mark = len(cmesh.log(victim, 100000).splitlines())
        t0 = time.monotonic()
        cmesh.signal(victim, signal.SIGSTOP)
        t_detect, t_assign, t_resume = takeover(cmesh, victim, parts, t0)
        cmesh.signal(victim, signal.SIGCONT)
        # the zombie learns it lost its partitions; a transaction it had in hand is refused
        def after_thaw():
            lines = cmesh.log(victim, 100000).splitlines()[log_mark:]
            return [x for x in lines if "compressor.txn_failed" in x or "compressor.revoked" in x]
        seen = wait_until("the thawed worker notices", after_thaw, 60)
        fenced = any("txn_failed" in x for x in seen)
        return victim, t_detect, t_assign, t_resume, fenced
    seconds, (victim, t_detect, t_assign, t_resume, fenced) = job_under_fault(cmesh, "sigstop", fault)
    figure(f"6 SIGSTOP {victim}: out of the group after {t_detect:.2f}s, partitions assigned to a live "
           f"worker after {t_assign:.2f}s, first batch committed after {t_resume:.2f}s; after the thaw "
           f"its late transaction was "
           f"{'refused (fenced)' if fenced else 'never attempted (it was polling)'}")
    slowdown("6 frozen worker", seconds, baseline)


@pytest.mark.chaos_quick
def test_7_poison_chunk_goes_to_the_dead_letter_topic_and_fails_its_job(cmesh):
    dlq_start = cmesh.high_watermarks(cmesh.topics["chunks.dlq"])
    job_id = f"poison-{uuid.uuid4().hex[:10]}"
    ev = cmesh.topics["jobs.events"]
    # a producer on Kafka sends a job whose chunk the codec refuses every time (no such profile)
    cmesh.produce(ev, job_id, pb.JobEvent(job_id=job_id, at=time.time(), opened=pb.JobOpened(
        source="grpc", name="poison", profile="fast")).SerializeToString())
    cmesh.produce(cmesh.topics["chunks"], f"{job_id}:0", pb.Chunk(
        job_id=job_id, seq=0, data=b"poison" * 100, profile="no-such-profile").SerializeToString())
    cmesh.produce(ev, job_id, pb.JobEvent(job_id=job_id, at=time.time(), sealed=pb.JobSealed(
        chunk_count=1, bytes_in=600)).SerializeToString())
    j = cmesh.wait_status(job_id, "failed", 120)
    assert "dead-lettered after 3 codec attempts" in j.reason and "no-such-profile" in j.reason
    letters = [pb.DeadLetter.FromString(x.value()) for x in cmesh.read_topic(cmesh.topics["chunks.dlq"], dlq_start)]
    ours = [d for d in letters if pb.Chunk.FromString(d.value).job_id == job_id]
    assert len(ours) == 1 and ours[0].reason == j.reason and ours[0].topic == cmesh.topics["chunks"]
    # the workers did not crash and the mesh goes on
    assert all(cmesh.alive(n) for n in cmesh.planned if n.startswith("compressor-"))
    r = cmesh.upload(split(b"after the poison\n" * 500), "after-poison")
    assert cmesh.wait_status(r.job_id, "done").bytes_in == 17 * 500


@pytest.mark.chaos_quick
def test_8_archive_replica_killed_wiped_restarted_is_repaired(cmesh, baseline):
    victim = cmesh.archives[-1]

    def fault(job_id):
        cmesh.kill(victim)
        shutil.rmtree(cmesh.archive_dir(victim))
        t0 = time.monotonic()
        cmesh.start_planned(victim)
        return time.monotonic() - t0
    seconds, restart_s = job_under_fault(cmesh, "archive-wipe", fault)
    # verify_exact waited until the wiped replica held every frame of the job again; it also
    # holds the baseline job it lost with its directory (repair from its peer)
    d = cmesh.archive_dir(victim) / "jobs"
    base = [p for p in (cmesh.archive_dir("archive-1") / "jobs").iterdir() if p.name.startswith("chaos-baseline")]
    for job_dir in base:
        wait_until(f"{victim} repaired {job_dir.name}", lambda: (d / job_dir.name).is_dir() and sorted(
            x.name for x in (d / job_dir.name).iterdir()) == sorted(x.name for x in job_dir.iterdir()), 120)
    assert "archive.repaired" in cmesh.log(victim, 100000)
    figure(f"8 {victim} killed, wiped, restarted ({restart_s:.1f}s to ready); refilled from its peer")
    slowdown("8 archive replica wiped", seconds, baseline)


def test_9_ingest_killed_mid_upload_and_left_down_fails_the_job(cmesh):
    """Needs the coordinator's progress watchdog (cluster-core): with ingest gone for good, the
    job must fail with a reason within the deadline instead of staying `running`."""
    job_id = f"chaos-ingest-{uuid.uuid4().hex[:10]}"
    ex = cf.ThreadPoolExecutor(1)
    fut = ex.submit(cmesh.upload, gen_data(MIB), "ingest-killed", PROFILE, job_id)
    wait_until("upload in flight", lambda: cmesh.exists(job_id) and cmesh.job(job_id).chunks_archived >= 2, 300)
    t0 = time.monotonic()
    cmesh.kill("ingest-1")
    with pytest.raises(grpc.RpcError):
        fut.result(120)
    j = cmesh.wait_status(job_id, "failed", 90)
    assert j.reason
    figure(f"9 ingest SIGKILLed mid-upload, left down: job failed after {time.monotonic() - t0:.1f}s ({j.reason})")


HOSTILE_IDS = [".", "..", "a/b", "../../etc", "a\x00b", "x\n", "x" * 300, "é", "job:1:seqs", "kafka-p0-o0"]


@pytest.mark.chaos_quick
def test_10_hostile_ids_and_records_leave_the_mesh_working(cmesh):
    for bad in HOSTILE_IDS:
        with pytest.raises(grpc.RpcError) as e:
            cmesh.upload([b"x"], "hostile", job_id=bad, timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, repr(bad)
    dlq_start = cmesh.high_watermarks(cmesh.topics["chunks.dlq"])
    chunks, frames = cmesh.topics["chunks"], cmesh.topics["frames"]
    cmesh.produce(chunks, b"k", b"\xff\x00not a protobuf")
    for bad in ("..", "../escape", "a/b", "kafka-p1-o\n"):
        cmesh.produce(chunks, b"k", pb.Chunk(job_id=bad, seq=0, data=b"x", profile="fast").SerializeToString())
        cmesh.produce(frames, b"k", pb.Frame(job_id=bad, seq=0, frame=b"x").SerializeToString())
    cmesh.produce(frames, b"k", b"\x08\x96\x01garbage")
    letters = wait_until("the bad chunks dead-lettered",
                         lambda: (x := cmesh.read_topic(cmesh.topics["chunks.dlq"], dlq_start)) and len(x) >= 5 and x, 60)
    assert all(pb.DeadLetter.FromString(x.value()).reason for x in letters)
    r = cmesh.upload(split(b"still working\n" * 1000), "after-hostile")
    assert cmesh.wait_status(r.job_id, "done").bytes_in == 14000
    assert all(cmesh.alive(n) for n in cmesh.planned), "a service died on hostile input"
    for name in cmesh.archives:
        root = cmesh.archive_dir(name)
        assert not (root.parent / "escape").exists() and not (root / "escape").exists()
        assert sorted(p.name for p in root.iterdir()) == ["jobs", "replica.id"]


def test_10_hostile_job_events_leave_the_coordinator_working(cmesh):
    """Events whose ids name the ledger's own keys, or that cannot be applied, must never stop
    the coordinator (cluster-core's ledger hashes ids and dead-letters such events)."""
    ev = cmesh.topics["jobs.events"]
    cmesh.produce(ev, b"x", b"\xff\xfe not an event")
    for bad in ("jobs", "x:seqs", "job:x", "..", "a/b", "x" * 5000):
        cmesh.produce(ev, bad.encode(), pb.JobEvent(job_id=bad, at=time.time(), archived=pb.ChunkArchived(
            seq=0, bytes_in=1, bytes_out=1, replica="archive-1")).SerializeToString())
        cmesh.produce(ev, bad.encode(), pb.JobEvent(job_id=bad, at=time.time(), sealed=pb.JobSealed(
            chunk_count=1)).SerializeToString())
    r = cmesh.upload(split(b"coordinator still working\n" * 100), "after-hostile-events")
    assert cmesh.wait_status(r.job_id, "done").bytes_in == 2600
    assert cmesh.alive("coordinator-1")
