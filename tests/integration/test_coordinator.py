"""The coordinator on the real engines: two replicas, membership, health, replicas, watch,
hostile job events, failure detection and orphaned uploads (services as subprocesses)."""
from __future__ import annotations

import secrets
import threading
import time

import grpc
import pytest

from coordinator_harness import cluster, data_of, job_events, sha, wait_until
from cobol_mesh.cluster_client import ClusterClient
from cobol_mesh.proto import pb

pytestmark = pytest.mark.integration
SERVICES = ("compressor-1", "archive-1", "ingest-1")


@pytest.fixture(scope="module")
def mesh(infra, tmp_path_factory):
    with cluster(infra, tmp_path_factory.mktemp("coord"), SERVICES, COBOL_ORPHAN_GRACE_S=2) as m:
        c = m.client()
        wait_until("every instance alive", lambda: {n.instance for n in c.nodes() if n.status == "alive"}
                   >= {"coordinator-1", "coordinator-2", *SERVICES}, 60)
        yield m


def status(m, job_id):
    return m.job(job_id)


def test_one_leader_and_every_replica_answers_reads(mesh):
    answers = [ClusterClient(a).leader() for a in mesh.coord_addrs.values()]
    assert len({(a.leader, a.fencing_token) for a in answers}) == 1 and answers[0].leader in mesh.coord_addrs
    assert sorted(a.answered_by_leader for a in answers) == [False, True]
    nodes = {n.instance: n for n in ClusterClient(list(mesh.coord_addrs.values())[1]).nodes()}
    assert nodes["compressor-1"].pid == mesh.procs["compressor-1"].pid


def test_membership_carries_role_pid_load(mesh):
    c = mesh.client()
    nodes = {n.instance: n for n in c.nodes()}
    for inst in ("coordinator-1", "coordinator-2", *SERVICES):
        n = nodes[inst]
        assert n.status == "alive" and n.role == inst.rsplit("-", 1)[0] and n.pid == mesh.procs[inst].pid
        assert n.rss_bytes > 10 << 20 and n.host and n.version and n.last_heartbeat > time.time() - 10
    # the compressor's partitions (sampled in its consumer thread, or counted from metrics.ASSIGNED);
    # the leader's own tracked consumer with lag
    wait_until("compressor partitions in its beat",
               lambda: any(p.partition >= 0 or p.count > 0 for p in c.node("compressor-1").partitions), 30)
    leader = c.leader().leader
    wait_until("leader's assigned partitions", lambda: sum(p.partition >= 0 for p in c.node(leader).partitions) == 6, 30)
    assert [n.instance for n in c.nodes(role="archive")] == ["archive-1"]
    with pytest.raises(grpc.RpcError) as e:
        c.node("no-such\nnode")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        c.node("")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    h = c.health()
    assert h.status == "ok" and h.alive["compressor"] == 1 and h.leader == leader


def test_job_done_byte_exact_with_replica_tracking(mesh):
    data = data_of(1.2)
    reply = mesh.upload(data)
    st = wait_until("job done", lambda: (s := status(mesh, reply.job_id)) and s.status == "done" and s, 120)
    assert st.chunk_count == reply.chunk_count == st.chunks_archived and st.sha256 == sha(data)
    assert sha(mesh.read_original(reply.job_id)) == sha(data)
    rep = mesh.client().replicas(job_id=reply.job_id)
    [j] = rep.jobs
    assert j.chunks_at_min == j.chunk_count == reply.chunk_count and j.healthy and rep.min_replicas == 1
    assert sum(j.per_replica.values()) == reply.chunk_count
    c = mesh.client()     # the leader has read the job's events: its lag is known now
    wait_until("leader's lag", lambda: any(p.lag >= 0 for p in c.node(c.leader().leader).partitions), 30)
    assert [r.job_id for r in mesh.client().list_jobs(limit=5000)][0] == reply.job_id   # limit is capped, not refused
    # reads answer the status the leader wrote beside the record (nothing computed per read)
    from services.coordinator.state_redis import RedisState
    state = RedisState(mesh.env["COBOL_REDIS_URL"], mesh.env["COBOL_REDIS_PREFIX"])
    [raw] = state.statuses([reply.job_id]).values()
    assert pb.JobStatus.FromString(raw) == status(mesh, reply.job_id) == st


HOSTILE = ["jobs", "jobs:order", "leader", "epoch", "offsets", "nodes", "nodes:events", "jobs:open", "..", "/",
           "a\0b", "line\nbreak", "ünï ✓ 名前", "job:x:seqs"]


def test_hostile_job_ids_and_events(mesh):
    prefix = mesh.env["COBOL_REDIS_PREFIX"]
    ids = HOSTILE + [prefix + "jobs", prefix + "leader"]
    events = []
    for j in ids:
        events += job_events(j, chunks=2)
    long_id = "L" * 10_000
    events += job_events(long_id) + [(b"k", b"\xff\xfe not a protobuf"), (b"", pb.JobEvent(job_id="").SerializeToString()),
                                     (b"s", pb.JobEvent(job_id="s", archived=pb.ChunkArchived(seq=1 << 50)).SerializeToString())]
    mesh.produce_events(events)
    for j in ids:
        st = wait_until(f"hostile id {j!r} done", lambda j=j: (s := status(mesh, j)) and s.status == "done" and s, 60)
        assert st.job_id == j and st.chunks_archived == 2
    # the ids are data: the prefix still holds only the coordinator's own fixed keys
    from services.coordinator.state_redis import KEYS, LAYOUT
    assert {k.decode()[len(prefix):] for k in mesh.redis_keys()} <= {LAYOUT + k for k in KEYS}
    dead = wait_until("dead letters", lambda: [d for d in (pb.DeadLetter.FromString(m.value())
                                                           for m in mesh.read_topic(mesh.topic_dlq))] or None, 30)
    reasons = " | ".join(d.reason for d in dead)
    assert "longer than 1024 bytes" in reasons and "decode failed" in reasons and "empty job_id" in reasons
    assert "beyond" in reasons
    assert any(d.value.startswith(b"\xff\xfe") for d in dead)
    with pytest.raises(grpc.RpcError) as e:
        mesh.client().get_job(long_id)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a restart replays nothing it cannot apply: the new leader serves, the old dead letters stay put
    leader = mesh.client().leader().leader
    mesh.kill(leader)
    mesh.start_coordinator(leader)
    wait_until("a leader again", lambda: mesh.client().leader().leader, 30)
    for inst in mesh.coord_addrs:
        assert mesh.procs[inst].poll() is None
    assert status(mesh, "..").status == "done"
    probe = "after-restart-" + secrets.token_hex(3)
    mesh.produce_events(job_events(probe))
    wait_until("a new job after the restart", lambda: (s := status(mesh, probe)) and s.status == "done", 30)


def test_watch_streams_job_and_node_events(mesh):
    c = mesh.client()
    job_id = "watched-" + secrets.token_hex(3)
    call = c.watch(jobs=True, nodes=False, job_id=job_id)
    got = []

    def read():
        for ev in call:
            got.append(ev)
            if ev.job.status == "done":
                return
    t = threading.Thread(target=read, daemon=True)
    t.start()
    mesh.produce_events(job_events("other-" + secrets.token_hex(3)) + job_events(job_id))
    t.join(30)
    call.cancel()
    assert got and got[-1].job.status == "done" and {e.job.job_id for e in got} == {job_id}
    with pytest.raises(grpc.RpcError) as e:
        list(c.watch(jobs=False, nodes=False))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_refused_watch_fails_when_opened_not_later(mesh):
    # a caller without a service certificate or a token is refused at once: the API used to
    # take such a stream for an open one (and said it was watching) while no event came
    c = ClusterClient(list(mesh.coord_addrs.values()), timeout=5, identity="client")
    with pytest.raises(grpc.RpcError) as e:
        c.watch(jobs=True, nodes=False)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    c.close()


def test_dead_worker_is_detected_and_health_degrades(mesh):
    c = mesh.client()
    call = c.watch(jobs=False, nodes=True)
    seen = []

    def read():
        for ev in call:
            seen.append(ev.node)
            if ev.node.instance == "compressor-1" and ev.node.kind == "down":
                return
    t = threading.Thread(target=read, daemon=True)
    t.start()
    t0 = time.monotonic()
    mesh.kill("compressor-1")
    wait_until("compressor-1 down", lambda: c.node("compressor-1").status == "down", 30)
    print(f"\nfigure: SIGKILLed compressor seen down after {time.monotonic() - t0:.2f} s")
    h = c.health()
    assert h.status == "degraded" and any("no live compressor" in r for r in h.reasons)
    t.join(10)
    call.cancel()
    kinds = [e.kind for e in seen if e.instance == "compressor-1"]
    assert kinds[-1] == "down"
    history = [e for e in c.node_events(limit=50, instance="compressor-1").events]
    assert [e.kind for e in history][:2] == ["down", "suspect"] and history[0].seq > history[1].seq
    page = c.node_events(limit=1)
    older = c.node_events(limit=1, before_seq=page.next_before_seq)
    assert page.next_before_seq == page.events[0].seq and older.events[0].seq < page.events[0].seq
    mesh.start_service("compressor-1")
    wait_until("compressor-1 back", lambda: c.node("compressor-1").status == "alive", 30)
    assert c.health().status == "ok"


def test_ingest_down_fails_its_open_upload(mesh):
    c = mesh.client()
    job_id = "orphan-" + secrets.token_hex(4)
    release = threading.Event()

    def reqs():
        yield pb.UploadRequest(start=pb.UploadStart(name="o", profile="fast", source="grpc", job_id=job_id))
        yield pb.UploadRequest(data=data_of(0.6))
        release.wait(120)

    def upload():
        try:
            mesh.ingest().Upload(reqs(), timeout=120)
        except grpc.RpcError:
            pass
    t = threading.Thread(target=upload, daemon=True)
    t.start()
    wait_until("the upload running", lambda: (s := status(mesh, job_id)) and s.status == "running", 60)
    mesh.kill("ingest-1")
    st = wait_until("orphaned job failed", lambda: (s := status(mesh, job_id)) and s.status == "failed" and s, 30)
    assert "ingest ingest-1 went down" in st.reason
    release.set()
    t.join(10)
    mesh.start_service("ingest-1")
    wait_until("ingest-1 back", lambda: c.node("ingest-1").status == "alive", 30)
    assert status(mesh, job_id).status == "failed"


def test_clean_stop_is_left_not_down(mesh):
    c = mesh.client()
    p = mesh.procs.pop("compressor-1")
    p.terminate()
    p.wait(30)
    wait_until("compressor-1 left", lambda: c.node("compressor-1").status == "left", 15)
    assert "compressor-1" not in {n.instance for n in c.nodes()}
    assert "compressor-1" in {n.instance for n in c.nodes(include_left=True)}
    assert c.node_events(limit=1, instance="compressor-1").events[0].kind == "left"
    h = c.health()
    assert h.status == "degraded" and not h.down.get("compressor")
