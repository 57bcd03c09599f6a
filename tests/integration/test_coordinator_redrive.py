"""The progress watch re-drives a stalled job: chunks that no compressor ever took (here: they
were in cobol.chunks before the compressor group's first start with offset reset `latest`)
are produced again from cobol.chunks, and the job completes byte-exact."""
from __future__ import annotations

import secrets
import time

import grpc
import pytest

from coordinator_harness import cluster, data_of, sha, wait_until
from cobol_mesh.proto import pb

pytestmark = pytest.mark.integration


def test_stalled_job_is_redriven_to_done(infra, tmp_path):
    with cluster(infra, tmp_path, ("archive-1",), COBOL_KAFKA_OFFSET_RESET="latest",
                 COBOL_STALL_AFTER_S=2) as m:
        from confluent_kafka import Producer

        job_id = "stalled-" + secrets.token_hex(4)
        data = data_of(0.5)
        half = len(data) // 2
        opened_at = time.time()
        p = Producer({"bootstrap.servers": m.env["COBOL_KAFKA_BOOTSTRAP"], "message.max.bytes": 16 << 20})
        for seq, (lo, hi) in enumerate(((0, half), (half, len(data)))):
            p.produce(m.topics["COBOL_TOPIC_CHUNKS"], key=f"{job_id}:{seq}",
                      value=pb.Chunk(job_id=job_id, seq=seq, data=data[lo:hi], profile="fast", offset=lo).SerializeToString())
        assert p.flush(30) == 0
        m.start_service("compressor-1")          # starts at the end: it never sees those chunks
        c = m.client()
        def assigned():
            try:
                return any(x.partition >= 0 or x.count for x in c.node("compressor-1").partitions)
            except grpc.RpcError as exc:      # its first heartbeat is not applied yet
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                return False
        wait_until("compressor assigned", assigned, 60)
        events = [pb.JobEvent(job_id=job_id, at=opened_at, opened=pb.JobOpened(source="grpc", name="s", profile="fast")),
                  pb.JobEvent(job_id=job_id, at=time.time(),
                              sealed=pb.JobSealed(chunk_count=2, bytes_in=len(data), sha256=sha(data)))]
        m.produce_events([(job_id.encode(), e.SerializeToString()) for e in events])
        st = wait_until("re-driven job done", lambda: (s := m.job(job_id)) and s.status in ("done", "failed") and s, 90)
        assert st.status == "done", st.reason
        assert sha(m.read_original(job_id)) == sha(data)
        logs = "".join(m.log(i, 400) for i in ("coordinator-1", "coordinator-2"))
        assert "job.redrive" in logs and "redrive.done" in logs
