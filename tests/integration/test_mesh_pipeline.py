"""The mesh end to end on the real Kafka, Redis, PostgreSQL (and moto S3) of scripts/infra.py.

The services are the topology's (tests/mesh_harness.py reads topology.yaml): one coordinator,
two archive replicas, two compressors, one ingest, as subprocesses with their own ports,
topics, consumer-group prefix and Redis prefix, so they never mix with a `make up` mesh on the
same engines. Every wait polls a condition against a deadline.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpora import CORPORA  # noqa: E402
from mesh_harness import Mesh, gen_data, split, wait_until  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402

pytestmark = pytest.mark.integration
CHUNK = 256 * 1024
KILL_MIB = int(os.environ.get("COBOL_TEST_KILL_MIB", "64"))
SHIFT = 110          # ports: the topology's + COBOL_PORT_OFFSET + 110 (ingest 50161, archive-1 50163)


@pytest.fixture(scope="module")
def mesh(infra, tmp_path_factory):
    m = Mesh(infra, tmp_path_factory.mktemp("mesh"), shift=SHIFT, chunk=CHUNK)
    try:
        m.start_all()
        yield m
    finally:
        m.close()


def _port(m: Mesh, key: str) -> str:
    extra = {"archive_s3": 1, "ingest_small": 2, "ingest_limits": 3}   # beside archive-1's port
    if key in extra:
        return f"127.0.0.1:{m.planned['archive-1'].port + extra[key]}"
    return m.addr(f"{key}-1")


# ---- helpers (thin wrappers over the harness) ----------------------------------------------

def upload(m: Mesh, pieces, name: str = "t", profile: str = "fast", job_id: str = "",
           port_key: str = "ingest", with_end: bool = True) -> pb.UploadReply:
    return m.upload(pieces, name, profile, job_id, addr=_port(m, port_key), with_end=with_end)


def job(m: Mesh, job_id: str) -> pb.JobStatus:
    return m.job(job_id)


def wait_status(m: Mesh, job_id: str, status: str, timeout: float = 120) -> pb.JobStatus:
    return m.wait_status(job_id, status, timeout)


def read(m: Mesh, rpc: str, job_id: str, port_key: str = "archive") -> bytes:
    return m.read(rpc, job_id, addr=_port(m, port_key))


def high_watermarks(m: Mesh, topic: str) -> dict[int, int]:
    return m.high_watermarks(topic)


def read_topic(m: Mesh, topic: str, start: dict[int, int], timeout: float = 60):
    return m.read_topic(topic, start, timeout)


# ---- tests --------------------------------------------------------------------------------

def test_upload_roundtrip_and_chunk_order(mesh):
    from cobol_codec import decompress
    files = [CORPORA / "calgary" / "book1", CORPORA / "canterbury" / "kennedy.xls", CORPORA / "loghub" / "HDFS_2k.log"]
    replies = {}
    for f in files:
        data = f.read_bytes()
        r = upload(mesh, split(data), name=f.name)
        assert r.bytes_in == len(data) and r.sha256 == hashlib.sha256(data).hexdigest()
        assert r.chunk_count == -(-len(data) // CHUNK)
        replies[f] = r
    for f, r in replies.items():
        data = f.read_bytes()
        j = wait_status(mesh, r.job_id, "done")
        assert (j.chunk_count, j.chunks_archived, j.bytes_in, j.progress) == (r.chunk_count, r.chunk_count, len(data), 1.0)
        assert j.name == f.name and j.source == "grpc" and j.sha256 == r.sha256 and j.bytes_out > 0
        assert decompress(read(mesh, "ReadResult", r.job_id)) == data
        assert read(mesh, "ReadOriginal", r.job_id) == data
    assert replies[files[0]].chunk_count > 1          # book1 really is a multi-chunk job
    listed = [j.job_id for j in mesh.stub("coordinator").ListJobs(pb.ListJobsRequest(limit=10)).jobs]
    assert listed[:3] == [replies[f].job_id for f in files][::-1]      # newest first


def test_unknown_job_is_not_found(mesh):
    with pytest.raises(grpc.RpcError) as e:
        job(mesh, "no-such-job")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        read(mesh, "ReadResult", "no-such-job")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_empty_upload_is_a_job(mesh):
    r = upload(mesh, [], name="empty")
    wait_status(mesh, r.job_id, "done")
    assert read(mesh, "ReadOriginal", r.job_id) == b""


def test_device_records_become_jobs_and_bad_records_go_to_dlq(mesh):
    from confluent_kafka import Producer
    streams = [f"dev-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"]
    bad_key = f"bad key {uuid.uuid4().hex[:6]}"
    expected = {s: [] for s in streams}
    dlq_start = high_watermarks(mesh, mesh.topics["ingest.dlq"])
    p = Producer({"bootstrap.servers": mesh.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for i in range(3000):
        s = streams[i % 2]
        rec = f"{s} t={i} temp={20 + i % 7}.{i % 10} ok".encode()
        p.produce(mesh.topics["ingest.raw"], key=s, value=rec)
        expected[s].append(rec)
        if i == 1000:
            p.produce(mesh.topics["ingest.raw"], key=bad_key, value=b"x")
            p.produce(mesh.topics["ingest.raw"], key=streams[0], value=b"two\nlines")
            p.produce(mesh.topics["ingest.raw"], key=streams[0], value=b"")
        if i % 500 == 0:
            p.flush(30)       # several windows, so several jobs per stream
            time.sleep(0.6) if i == 1500 else None   # data shape, not synchronisation: a linger flush
    assert p.flush(30) == 0

    def jobs_of(stream):
        jobs = [j for j in mesh.stub("coordinator").ListJobs(pb.ListJobsRequest(limit=1000)).jobs
                if j.name == stream and j.source == "kafka"]
        return jobs

    for s in streams:
        want = b"".join(r + b"\n" for r in expected[s])

        def complete():
            js = jobs_of(s)
            return js if js and all(j.status == "done" for j in js) and sum(j.bytes_in for j in js) == len(want) else None
        js = wait_until(f"stream {s} archived", complete, 120)
        js.sort(key=lambda j: (int(j.job_id.split("-o")[1]), j.job_id))   # record order = offset order
        got = b"".join(read(mesh, "ReadOriginal", j.job_id) for j in js)
        assert got == want
    assert len(jobs_of(streams[0])) >= 2

    dead = read_topic(mesh, mesh.topics["ingest.dlq"], dlq_start)
    letters = [pb.DeadLetter.FromString(m.value()) for m in dead]
    reasons = {(d.key, d.value): d.reason for d in letters}
    assert "invalid key" in reasons[(bad_key.encode(), b"x")]
    assert "newline" in reasons[(streams[0].encode(), b"two\nlines")]
    assert "empty" in reasons[(streams[0].encode(), b"")]
    assert all(d.topic == mesh.topics["ingest.raw"] and d.offset >= 0 for d in letters)


def test_cancelled_upload_fails_and_never_becomes_done(mesh):
    import threading
    job_id = f"cancel-{uuid.uuid4().hex}"
    sent = threading.Event()
    release = threading.Event()

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="cancelled", job_id=job_id))
        for piece in split(b"z" * (6 * CHUNK)):
            yield pb.UploadRequest(data=piece)
        sent.set()
        release.wait(60)          # hold the stream open until the test cancels it

    fut = mesh.stub("ingest").Upload.future(reqs(), timeout=120)
    assert sent.wait(60)
    # the ingest has cut (at least) the 6 full chunks once the coordinator knows of them
    wait_until("chunks archived", lambda: (lambda j: j.chunks_archived >= 6)(job(mesh, job_id))
               if _exists(mesh, job_id) else False, 120)
    fut.cancel()       # the generator stays blocked: a half-close never follows the cancel
    try:
        j = wait_status(mesh, job_id, "failed", 60)
    finally:
        release.set()
    assert j.reason and j.chunk_count == 0
    # Any late ChunkArchived cannot turn it into done: it is final.
    upload(mesh, split(b"after"), name="after-cancel")     # more traffic through the same partitions
    assert job(mesh, job_id).status == "failed"


def test_stream_closed_without_end_fails(mesh):
    """A clean half-close with no `end` message is a truncated upload: never done."""
    job_id = f"noend-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError) as e:
        upload(mesh, split(b"q" * (2 * CHUNK + 5)), name="no-end", job_id=job_id, with_end=False)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert "without `end`" in wait_status(mesh, job_id, "failed", 60).reason


def test_end_with_a_wrong_count_fails(mesh):
    job_id = f"badend-{uuid.uuid4().hex}"

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="bad-end", job_id=job_id))
        yield pb.UploadRequest(data=b"12345")
        yield pb.UploadRequest(end=pb.UploadEnd(bytes=6))
    with pytest.raises(grpc.RpcError) as e:
        mesh.stub("ingest").Upload(reqs(), timeout=60)
    assert e.value.code() == grpc.StatusCode.DATA_LOSS
    assert wait_status(mesh, job_id, "failed", 60).reason


def test_upload_over_the_limit_is_refused_and_fails(mesh):
    mesh.start("ingest-small", "services.ingest", _port(mesh, "ingest_small"),
               COBOL_INGEST_ADDR=_port(mesh, "ingest_small"), COBOL_MAX_UPLOAD_BYTES=str(3 * CHUNK))
    job_id = f"big-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError) as e:
        upload(mesh, split(b"b" * (4 * CHUNK)), name="too-big", job_id=job_id, port_key="ingest_small")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert wait_status(mesh, job_id, "failed", 60).reason
    bad = [pb.UploadRequest(data=b"no start first")]
    with pytest.raises(grpc.RpcError) as e:
        mesh.stub("ingest").Upload(iter(bad), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        upload(mesh, [b"x"], profile="nope")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _exists(m, job_id) -> bool:
    return m.exists(job_id)


def test_compressor_sigkill_mid_job_is_exactly_once(mesh):
    frames_start = high_watermarks(mesh, mesh.topics["frames"])
    sha = hashlib.sha256()
    total = 0

    def pieces():
        nonlocal total
        for piece in gen_data(KILL_MIB):
            sha.update(piece)
            total += len(piece)
            yield piece
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(1) as ex:
        job_id = f"kill-{uuid.uuid4().hex}"
        fut = ex.submit(upload, mesh, pieces(), "kill-test", "fast", job_id)

        def first_frame():       # who compresses this job (its chunks live in one partition)
            ours = [f for f in (pb.Frame.FromString(m.value()) for m in read_topic(
                mesh, mesh.topics["frames"], frames_start, timeout=5)) if f.job_id == job_id]
            return ours[0] if ours else None
        victim = wait_until("first frame", first_frame, 120).worker
        n_total = KILL_MIB * (1 << 20) // CHUNK
        wait_until("a tenth archived", lambda: job(mesh, job_id).chunks_archived >= n_total // 10, 300)
        mesh.kill(victim)
        reply = fut.result(600)
    assert reply.sha256 == sha.hexdigest() and reply.bytes_in == total
    j = wait_status(mesh, job_id, "done", 900)
    assert j.chunk_count == reply.chunk_count == n_total
    # restart the victim for later tests (and to show a restarted instance rejoins cleanly)
    mesh.start(victim, "services.compressor")

    h = hashlib.sha256()
    stub = mesh.stub("archive", "archive-1")
    for c in stub.ReadOriginal(pb.ReadRequest(job_id=job_id), timeout=900):
        h.update(c.data)
    assert h.hexdigest() == reply.sha256
    files = sorted((mesh.archive_dir("archive-1") / "jobs" / job_id).iterdir())
    assert [f.name for f in files] == [f"{s:012d}.frame" for s in range(n_total)]

    frames = [pb.Frame.FromString(msg.value()) for msg in read_topic(mesh, mesh.topics["frames"], frames_start, timeout=300)]
    seqs = [f.seq for f in frames if f.job_id == job_id]
    assert sorted(seqs) == list(range(n_total)), "a committed Frame is missing or duplicated"
    workers = {f.worker for f in frames if f.job_id == job_id}
    assert victim in workers and len(workers) >= 2, f"no take-over by a survivor: {workers}"


def test_compressors_joining_mid_job_leave_every_frame_exactly_once(mesh):
    """Two compressors join while a job runs. They take one chunk per batch
    (COBOL_COMPRESSOR_BATCH_BYTES=1), so they nearly always hold chunks read but not yet coded
    when the second one's arrival takes partitions from the first: those chunks belong to the
    partitions' new owner and must not be coded twice."""
    import concurrent.futures as cf
    import signal
    import threading
    frames_start = high_watermarks(mesh, mesh.topics["frames"])
    data = b"".join(gen_data(24, seed=11))
    job_id = f"join-{uuid.uuid4().hex}"
    n_total = len(data) // CHUNK
    gates = [threading.Event(), threading.Event()]

    def pieces():
        """A third of the job, then a trickle (the upload stays alive) until the main thread
        opens the next gate, then the next third at full speed."""
        chunks = list(split(data, 64 * 1024))
        third = len(chunks) // 3
        i = 0
        for stage, gate in enumerate([None, *gates]):
            if gate is not None:
                while not gate.wait(0.5) and i < len(chunks) - 1:
                    yield chunks[i]
                    i += 1
            stop = len(chunks) if stage == 2 else (stage + 1) * third
            while i < stop:
                yield chunks[i]
                i += 1

    def ours():
        return [f for f in (pb.Frame.FromString(m.value()) for m in read_topic(
            mesh, mesh.topics["frames"], frames_start, timeout=5)) if f.job_id == job_id]
    joined = ["compressor-3", "compressor-4"]
    try:
        with cf.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(upload, mesh, pieces(), "join-test", "fast", job_id)
            wait_until("a tenth archived", lambda: _exists(mesh, job_id)
                       and job(mesh, job_id).chunks_archived >= n_total // 10, 300)
            mesh.start("compressor-3", "services.compressor", COBOL_COMPRESSOR_BATCH_BYTES="1")
            gates[0].set()
            wait_until("compressor-3 codes a chunk", lambda: any(f.worker == "compressor-3" for f in ours()), 300)
            mesh.start("compressor-4", "services.compressor", COBOL_COMPRESSOR_BATCH_BYTES="1")
            gates[1].set()
            reply = fut.result(600)
        wait_status(mesh, job_id, "done", 900)
    finally:
        for gate in gates:
            gate.set()
        for name in joined:
            if mesh.alive(name):
                mesh.signal(name, signal.SIGTERM)
                mesh.procs.pop(name).wait(60)
    assert reply.sha256 == hashlib.sha256(data).hexdigest() and reply.chunk_count == n_total
    frames = ours()
    assert sorted(f.seq for f in frames) == list(range(n_total)), "a committed Frame is missing or duplicated"
    assert "compressor-3" in {f.worker for f in frames}
    assert read(mesh, "ReadOriginal", job_id) == data


def test_s3_backend_roundtrip(mesh):
    if not mesh.s3.get("endpoint_url"):
        pytest.fail("no S3 endpoint in the infra status: scripts/infra.py did not start moto")
    bucket = f"cobol-it-{uuid.uuid4().hex[:8]}"
    mesh.start("archive-s3", "services.archive", _port(mesh, "archive_s3"),
               COBOL_ARCHIVE_BACKEND="s3", COBOL_S3_ENDPOINT=mesh.s3["endpoint_url"], COBOL_S3_BUCKET=bucket,
               COBOL_ARCHIVE_ADDR=_port(mesh, "archive_s3"),
               COBOL_KAFKA_OFFSET_RESET="latest", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    try:
        _s3_roundtrip(mesh, bucket)
    finally:
        # a third replica that is no peer of archive-1/2: left running, its ChunkArchived alone
        # could make a later test's job "done" (min_replicas=1) before archive-1/2 hold it
        mesh.kill("archive-s3")


def _s3_roundtrip(mesh, bucket: str) -> None:
    import boto3
    s3 = boto3.client("s3", endpoint_url=mesh.s3["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")

    def keys_of(job_id: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job_id}/").get("Contents", [])]

    # A new group starting at "latest" fixes its position only on its first fetch, after the
    # assignment is logged: frames produced before that are not this archive's. Probe jobs
    # go through until one lands in S3; from then on every frame does.
    def probe() -> bool:
        p = upload(mesh, [b"probe"], name="s3-probe")
        wait_status(mesh, p.job_id, "done")
        try:
            return bool(wait_until("probe in S3", lambda: keys_of(p.job_id), 10))
        except AssertionError:
            return False
    wait_until("archive-s3 storing", probe, 180, interval=0)
    data = (CORPORA / "calgary" / "news").read_bytes()
    r = upload(mesh, split(data), name="news-s3")
    wait_status(mesh, r.job_id, "done")

    def stored():
        keys = keys_of(r.job_id)
        return keys if len(keys) == r.chunk_count else None
    keys = wait_until("frames in S3", stored, 120)
    assert keys == [f"jobs/{r.job_id}/{s:012d}.frame" for s in range(r.chunk_count)]
    from cobol_codec import decompress
    assert decompress(read(mesh, "ReadResult", r.job_id, "archive_s3")) == data
    assert read(mesh, "ReadOriginal", r.job_id, "archive_s3") == data


# ---- upload streams: idle and total deadlines, a bound on concurrent streams ----------------

def _idle_stream(m: Mesh, addr: str, job_id: str, release):
    """An upload that sends `start` and one byte, then nothing until `release` is set."""
    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="idle", job_id=job_id))
        yield pb.UploadRequest(data=b"x")
        release.wait(120)
    return m.stub("ingest", addr=addr).Upload.future(reqs(), timeout=120)


def test_many_idle_streams_do_not_block_other_uploads(mesh):
    import threading
    release = threading.Event()
    idle = [f"idle-{uuid.uuid4().hex}" for _ in range(36)]
    futs = [_idle_stream(mesh, mesh.addr("ingest-1"), j, release) for j in idle]
    try:
        wait_until("36 idle uploads open", lambda: all(mesh.exists(j) for j in idle), 60)
        assert not any(f.done() for f in futs)
        r = upload(mesh, split(b"still served" * 1000), name="beside-idle")    # a 37th, real upload
        assert wait_status(mesh, r.job_id, "done").bytes_in == 12000
    finally:
        for f in futs:
            f.cancel()
        release.set()


def test_stream_limits_idle_deadline_and_bound(mesh):
    import threading
    addr = _port(mesh, "ingest_limits")
    mesh.start("ingest-limits", "services.ingest", addr, COBOL_INGEST_ADDR=addr,
               COBOL_UPLOAD_IDLE_S="2", COBOL_UPLOAD_DEADLINE_S="6", COBOL_INGEST_MAX_STREAMS="3")
    try:
        release = threading.Event()
        ids_ = [f"lim-{uuid.uuid4().hex}" for _ in range(3)]
        futs = [_idle_stream(mesh, addr, j, release) for j in ids_]
        wait_until("3 uploads registered", lambda: all(mesh.exists(j) for j in ids_), 30)
        with pytest.raises(grpc.RpcError) as e:             # the 4th: refused at once, clearly
            mesh.upload([b"y"], name="over-bound", addr=addr, timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "COBOL_INGEST_MAX_STREAMS" in e.value.details()
        for f in futs:                                       # the idle ones are closed by ingest
            with pytest.raises(grpc.RpcError) as e:
                f.result(60)
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "idle" in e.value.details()
        release.set()
        for j in ids_:
            assert "idle" in wait_status(mesh, j, "failed", 60).reason
        # a slow but never idle upload hits the total deadline
        slow_id = f"slow-{uuid.uuid4().hex}"

        def trickle():
            for _ in range(30):
                time.sleep(0.5)          # the client's pace (data shape), under the 2 s idle limit
                yield b"z"
        with pytest.raises(grpc.RpcError) as e:
            mesh.upload(trickle(), name="slow", job_id=slow_id, addr=addr, timeout=60)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "DEADLINE" in e.value.details()
        assert wait_status(mesh, slow_id, "failed", 60).reason
        r = mesh.upload([b"after the limits"], name="after", addr=addr)     # slots were freed
        assert wait_status(mesh, r.job_id, "done").bytes_in == 16
    finally:
        mesh.kill("ingest-limits")


def test_hostile_job_ids_are_refused_before_anything_is_written(mesh):
    events_start = high_watermarks(mesh, mesh.topics["jobs.events"])
    for bad in [".", "..", "a/b", "a\x00b", "ok\n", "x" * 129, "é", "job:1:seqs", "kafka-p0-o0",
                "Kafka-p3-o99"]:
        with pytest.raises(grpc.RpcError) as e:
            upload(mesh, [b"data"], name="hostile", job_id=bad)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
    evs = [pb.JobEvent.FromString(m.value()) for m in read_topic(mesh, mesh.topics["jobs.events"], events_start)]
    assert not [e for e in evs if e.WhichOneof("event") == "opened" and e.opened.name == "hostile"]


def test_layers_travel_with_the_job_and_its_chunks(mesh):
    chunks_start = high_watermarks(mesh, mesh.topics["chunks"])
    events_start = high_watermarks(mesh, mesh.topics["jobs.events"])
    job_id = f"layers-{uuid.uuid4().hex}"
    data = (CORPORA / "calgary" / "paper1").read_bytes()

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="layers", job_id=job_id, layers="1-4",
                                                    dictionary="none"))
        yield pb.UploadRequest(data=data)
        yield pb.UploadRequest(end=pb.UploadEnd(bytes=len(data)))
    mesh.stub("ingest").Upload(reqs(), timeout=60)
    wait_status(mesh, job_id, "done")
    assert read(mesh, "ReadOriginal", job_id) == data
    opened = [e.opened for e in (pb.JobEvent.FromString(m.value()) for m in
              read_topic(mesh, mesh.topics["jobs.events"], events_start)) if e.job_id == job_id and e.opened.profile]
    assert [o.layers for o in opened] == ["1-4"]
    chunks = [c for c in (pb.Chunk.FromString(m.value()) for m in read_topic(mesh, mesh.topics["chunks"], chunks_start))
              if c.job_id == job_id]
    assert chunks and {c.layers for c in chunks} == {"1-4"}
    # "none" reaches the compressor as "none" ("" would mean the current dictionary)
    assert {c.dictionary_id for c in chunks} == {"none"}
    with pytest.raises(grpc.RpcError) as e:
        mesh.stub("ingest").Upload(iter([pb.UploadRequest(start=pb.UploadStart(layers="0-9"))]), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "layers" in e.value.details()


def test_every_archive_replica_stores_every_frame_and_reads_fall_over(mesh):
    data = (CORPORA / "calgary" / "book2").read_bytes()
    r = upload(mesh, split(data), name="replicas")
    wait_status(mesh, r.job_id, "done")
    want = [f"{s:012d}.frame" for s in range(r.chunk_count)]
    for name in mesh.archives:
        d = mesh.archive_dir(name) / "jobs" / r.job_id
        wait_until(f"{name} holds every frame", lambda: d.is_dir() and sorted(p.name for p in d.iterdir()) == want, 60)
        assert mesh.read("ReadOriginal", r.job_id, name) == data
    # ChunkArchived names its replica: one per replica and seq
    evs = [pb.JobEvent.FromString(m.value()) for m in read_topic(mesh, mesh.topics["jobs.events"], {})]
    got = {(e.archived.replica, e.archived.seq) for e in evs if e.job_id == r.job_id
           and e.WhichOneof("event") == "archived" and e.archived.replica in mesh.archives}
    assert got == {(a, s) for a in mesh.archives for s in range(r.chunk_count)}
    # a damaged frame on archive-1 and a missing one: served from archive-2, and repaired
    d1 = mesh.archive_dir("archive-1") / "jobs" / r.job_id
    f0 = d1 / want[0]
    raw = bytearray(f0.read_bytes())
    raw[-1] ^= 0x55
    f0.write_bytes(bytes(raw))
    (d1 / want[-1]).unlink()
    assert mesh.read("ReadOriginal", r.job_id, "archive-1") == data
    assert sorted(p.name for p in d1.iterdir() if p.name.endswith(".frame")) == want
    from services.archive.store import unseal
    assert unseal(f0.read_bytes())           # the damaged copy was replaced by a sound one
    # a client holding both replica addresses reads on while archive-1 is down
    both = "ipv4:" + ",".join(mesh.addr(a) for a in mesh.archives)
    mesh.kill("archive-1")
    try:
        from cobol_codec import decompress
        assert decompress(mesh.read("ReadResult", r.job_id, addr=both)) == data
        # a job archive-2 lacks may be on archive-1: "unavailable, retry", never "not found"
        with pytest.raises(grpc.RpcError) as e:
            mesh.read("ReadOriginal", f"elsewhere-{uuid.uuid4().hex}", "archive-2", retry_s=0)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "could not be asked" in e.value.details()
    finally:
        mesh.start_planned("archive-1")


# ---- archive delete ----------------------------------------------------------------------------

def _frames_on(m: Mesh, name: str, job_id: str) -> list[str]:
    d = m.archive_dir(name) / "jobs" / job_id
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".frame")) if d.is_dir() else []


def _log_count(m: Mesh, name: str, event: str) -> int:
    return m.log(name, 100000).count(f'"event": "{event}"')


def test_archive_delete_reaches_every_replica_and_nothing_brings_the_job_back(mesh):
    a, b = mesh.archives[:2]
    jobs = []
    for i in range(2):
        r = upload(mesh, split(b"delete me, line %d\n" % i * 40000), name=f"del-{i}")
        wait_status(mesh, r.job_id, "done")
        for name in (a, b):
            wait_until(f"{name} holds {r.job_id}", lambda: len(_frames_on(mesh, name, r.job_id)) == r.chunk_count, 60)
        jobs.append(r)
    gone, later = jobs
    with pytest.raises(grpc.RpcError) as e:
        mesh.stub("archive", a).DeleteJob(pb.DeleteJobRequest(job_id="../x"), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # both replicas up: removed from both, reads answer NOT_FOUND everywhere
    reply = mesh.stub("archive", a).DeleteJob(pb.DeleteJobRequest(job_id=gone.job_id), timeout=60)
    assert sorted(reply.deleted_on) == sorted([a, b]) and not reply.pending
    assert reply.frames_removed == 2 * gone.chunk_count
    for name in (a, b):
        assert _frames_on(mesh, name, gone.job_id) == []
        assert (mesh.archive_dir(name) / "deleted" / gone.job_id).is_file()
        for rpc in ("ReadOriginal", "ReadResult"):
            with pytest.raises(grpc.RpcError) as e:
                mesh.read(rpc, gone.job_id, name)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND and "deleted" in e.value.details()
    # a late frame of the deleted job from Kafka is dropped by every replica
    before = {n: _log_count(mesh, n, "archive.frame_of_deleted_job") for n in (a, b)}
    mesh.produce(mesh.topics["frames"], gone.job_id.encode(),
                 pb.Frame(job_id=gone.job_id, seq=0, frame=b"late", bytes_in=4).SerializeToString())
    for name in (a, b):
        wait_until(f"{name} dropped the late frame",
                   lambda: _log_count(mesh, name, "archive.frame_of_deleted_job") > before[name], 60)
        assert _frames_on(mesh, name, gone.job_id) == []
    # b down during the delete: pending; a's repair never copies the job back from b
    mesh.kill(b)
    reply = mesh.stub("archive", a).DeleteJob(pb.DeleteJobRequest(job_id=later.job_id), timeout=60)
    assert list(reply.deleted_on) == [a] and list(reply.pending) == [mesh.addr(b)]
    assert _frames_on(mesh, a, later.job_id) == []
    mesh.start_planned(b)
    assert len(_frames_on(mesh, b, later.job_id)) == later.chunk_count      # b missed the delete
    mesh.kill(a)
    checked = _log_count(mesh, a, "archive.repair_checked") + _log_count(mesh, a, "archive.repaired")
    mesh.start_planned(a, COBOL_ARCHIVE_REPAIR_S="1")
    wait_until(f"{a} ran two repair passes with {b} up", lambda: _log_count(mesh, a, "archive.repair_checked")
               + _log_count(mesh, a, "archive.repaired") >= checked + 2, 60)
    assert _frames_on(mesh, a, later.job_id) == []
    # b learns the tombstone from a: by its repair (here) and by any read
    with pytest.raises(grpc.RpcError) as e:
        mesh.read("ReadOriginal", later.job_id, b)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert _frames_on(mesh, b, later.job_id) == []
    assert (mesh.archive_dir(b) / "deleted" / later.job_id).is_file()
    with pytest.raises(grpc.RpcError) as e:
        mesh.stub("archive", b).GetFrame(pb.FrameRequest(job_id=later.job_id, seq=0), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    mesh.kill(a)                        # back to the module's settings
    mesh.start_planned(a)


def test_archive_repair_removes_a_job_deleted_while_the_replica_was_down(mesh):
    a, b = mesh.archives[:2]
    r = upload(mesh, split(b"repair deletes too\n" * 30000), name="del-repair")
    wait_status(mesh, r.job_id, "done")
    wait_until(f"{b} holds the job", lambda: len(_frames_on(mesh, b, r.job_id)) == r.chunk_count, 60)
    mesh.kill(b)
    reply = mesh.stub("archive", a).DeleteJob(pb.DeleteJobRequest(job_id=r.job_id), timeout=60)
    assert list(reply.pending) == [mesh.addr(b)]
    mesh.start_planned(b, COBOL_ARCHIVE_REPAIR_S="1")
    wait_until(f"{b}'s repair removed the deleted job", lambda: _frames_on(mesh, b, r.job_id) == []
               and (mesh.archive_dir(b) / "deleted" / r.job_id).is_file(), 60)
    assert _frames_on(mesh, a, r.job_id) == []
    mesh.kill(b)
    mesh.start_planned(b)
