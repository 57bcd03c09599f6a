"""Fault cases of the coordinator with a job in flight (quick forms; `make test` runs them):

- case 2: SIGKILL the coordinator leader mid-job: the standby takes over from the offsets
  stored with the state; the job completes byte-exact, every chunk counted once.
- case 4: restart Redis (the real one of scripts/infra.py) mid-job: the coordinator rides it
  out and the job completes byte-exact.

Figures (failover time, time without Redis) are printed, never asserted.
"""
from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from coordinator_harness import cluster, data_of, infra_component, sha, wait_until  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402

pytestmark = pytest.mark.integration
MIB = 3


@pytest.fixture(scope="module")
def mesh(infra, tmp_path_factory):
    with cluster(infra, tmp_path_factory.mktemp("coordchaos")) as m:
        yield m


def job_status(m, job_id):
    return m.job(job_id)


def run_job_with_fault(m, fault) -> tuple[str, bytes]:
    """Upload MIB MiB; once a third is sent and the job has chunks archived, call fault()."""
    data = data_of(MIB, seed=secrets.randbelow(1000))
    job_id = "chaos-" + secrets.token_hex(4)
    fired = []

    def pause(offset):
        if not fired and offset >= len(data) // 3:
            wait_until("chunks archived", lambda: (s := job_status(m, job_id)) and s.chunks_archived > 0, 60)
            fired.append(True)
            fault()
        time.sleep(0.01)        # pacing: the job stays in flight while the fault plays out
    reply = m.upload(data, pause=pause, job_id=job_id)
    assert fired and reply.job_id == job_id and reply.bytes_in == len(data)
    return job_id, data


def check_exact(m, job_id, data) -> None:
    st = wait_until("job done", lambda: (s := job_status(m, job_id)) and s.status in ("done", "failed") and s, 180)
    assert st.status == "done", st.reason
    assert st.chunks_archived == st.chunk_count and st.bytes_in == len(data) and st.sha256 == sha(data)
    assert sha(m.read_original(job_id)) == sha(data)                  # byte-exact: nothing lost or doubled
    archived = {}
    for msg in m.read_topic(m.topic_events):
        ev = pb.JobEvent.FromString(msg.value())
        if ev.job_id == job_id and ev.HasField("archived"):
            archived[ev.archived.seq] = archived.get(ev.archived.seq, 0) + 1
    assert sorted(archived) == list(range(st.chunk_count))          # every chunk's event is in Kafka
    finished = [pb.JobEvent.FromString(x.value()) for x in m.read_topic(m.topic_events)]
    assert [e.finished.status for e in finished if e.job_id == job_id and e.HasField("finished")][:1] == ["done"]


def test_case2_sigkill_the_coordinator_leader_mid_job(mesh):
    c = mesh.client()
    before = wait_until("a leader", lambda: (ld := c.leader()).leader and ld, 30)
    took = {}

    def kill_leader():
        t0 = time.monotonic()
        mesh.kill(before.leader)
        after = wait_until("the standby leads", lambda: (ld := c.leader()).leader not in ("", before.leader) and ld, 15)
        took["failover"] = time.monotonic() - t0
        took["after"] = after
    job_id, data = run_job_with_fault(mesh, kill_leader)
    check_exact(mesh, job_id, data)
    after = took["after"]
    assert after.fencing_token > before.fencing_token
    print(f"\nfigure: coordinator leader SIGKILLed -> standby {after.leader} leads after {took['failover']:.2f} s")
    mesh.start_coordinator(before.leader)         # back as a standby
    assert c.leader().leader == after.leader


def test_case4_restart_redis_mid_job(mesh):
    took = {}

    def restart_redis():
        t0 = time.monotonic()
        infra_component("stop", "redis")
        infra_component("start", "redis")
        took["redis"] = time.monotonic() - t0
    job_id, data = run_job_with_fault(mesh, restart_redis)
    check_exact(mesh, job_id, data)
    for inst in ("coordinator-1", "coordinator-2"):
        assert mesh.procs[inst].poll() is None, f"{inst} died:\n{mesh.log(inst)}"
    print(f"\nfigure: Redis down and back in {took['redis']:.2f} s; the job finished byte-exact")


def test_frozen_leader_is_deposed_and_fenced(mesh):
    """SIGSTOP the leader past its lease mid-job: the standby takes over; the thawed zombie's
    lease and writes are refused (it steps down) and the job completes byte-exact."""
    import signal

    c = mesh.client()
    before = wait_until("a leader", lambda: (ld := c.leader()).leader and ld, 30)
    frozen = {}

    def freeze_leader():
        mesh.signal(before.leader, signal.SIGSTOP)
        frozen["after"] = wait_until("the standby leads",
                                     lambda: (ld := c.leader()).leader not in ("", before.leader) and ld, 15)
        mesh.signal(before.leader, signal.SIGCONT)
    job_id, data = run_job_with_fault(mesh, freeze_leader)
    check_exact(mesh, job_id, data)
    assert frozen["after"].fencing_token > before.fencing_token
    wait_until("the zombie stepped down", lambda: "leader.stepped_down" in mesh.log(before.leader, 400), 30)
    assert c.leader().leader == frozen["after"].leader
