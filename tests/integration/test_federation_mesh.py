"""The federated loop end to end in the mesh, on the real Kafka and PostgreSQL: compressors
compress jobs and keep a sample of their records, take part in the federator's rounds over
gRPC, the federator releases a dictionary and broadcasts it on the compacted topic, every
compressor switches without a restart, new jobs' frames name the new dictionary and come
back byte for byte; a rollback restores the previous version on every compressor.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import psycopg
import pytest
from test_federation_rounds import LOGHUB, free_port  # same folder; puts libs/federation etc. on sys.path

from cobol_federation.client import DictionaryCache, FederatorClient, decode_frame
from cobol_mesh.proto import pb
from test_mesh_pipeline import Mesh, read, read_topic, split, upload, wait_status, wait_until

pytestmark = pytest.mark.integration
COMPRESSORS = ("compressor-1", "compressor-2")


class FedMesh(Mesh):
    """test_mesh_pipeline's mesh (its own topics, group prefix, Redis prefix) plus a
    federator: its own PostgreSQL schema, versions topic and key directory."""

    def __init__(self, infra, tmp: Path) -> None:
        super().__init__(infra, tmp, shift=310, chunk=64 * 1024, archives=1, workers=len(COMPRESSORS))
        tag = uuid.uuid4().hex[:8]
        self.dsn = infra["postgres"]["dsn"]
        self.schema = f"fedit{tag}"
        self.versions = f"cobol.fed{tag}.dict.versions"
        self.env.update(COBOL_CHUNK_SIZE=str(64 * 1024), COBOL_METRICS_PORT="-1",
                        COBOL_FEDERATOR_ADDR=f"127.0.0.1:{free_port()}", COBOL_TOPIC_DICT_VERSIONS=self.versions,
                        COBOL_FED_PG_SCHEMA=self.schema, COBOL_FED_KEY_DIR=str(tmp / "keys"),
                        COBOL_FED_MIN_NODES="2", COBOL_FED_MAX_ROUNDS="3", COBOL_FED_STAGE_SECONDS="30",
                        COBOL_FED_JOIN_GRACE="1", COBOL_FED_ROUND_PAUSE="0.2", COBOL_FED_PROMOTE="auto",
                        COBOL_FED_TRAINING_INTERVAL="100000")

    def switched_to(self, instance: str, did: str) -> bool:
        lines = [ln for ln in (self.run / f"{instance}.log").read_text(errors="replace").splitlines()
                 if "dictionaries.switched" in ln]
        return bool(lines) and json.loads(lines[-1]).get("current") == did

    def close(self) -> None:
        super().close()
        from confluent_kafka.admin import AdminClient
        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).delete_topics([self.versions], operation_timeout=30)
        except Exception:
            pass
        with psycopg.connect(self.dsn, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def run_job(self, data: bytes, name: str) -> pb.UploadReply:
        reply = upload(self, split(data, 256 * 1024), name=name)
        wait_status(self, reply.job_id, "done", 300)
        return reply

    def frames(self, job_id: str, count: int) -> list:
        got: dict[int, pb.Frame] = {}
        for m in read_topic(self, self.topics["frames"], {}, timeout=120):
            if m.key() == job_id.encode():
                f = pb.Frame.FromString(m.value())
                got[f.seq] = f
        assert len(got) == count, f"{len(got)} frames of {job_id}, {count} expected"
        return [got[s] for s in sorted(got)]


def logs(*systems: str, part: int = 0) -> bytes:
    """Half of each system's lines: part 0 to train on, part 1 for the new jobs."""
    out = []
    for s in systems:
        lines = (LOGHUB / f"{s}_2k.log").read_bytes().split(b"\n")
        half = len(lines) // 2
        out.append(b"\n".join(lines[:half] if part == 0 else lines[half:]))
    return b"\n".join(out)


@pytest.fixture(scope="module")
def fedmesh(infra, tmp_path_factory):
    m = FedMesh(infra, tmp_path_factory.mktemp("fedmesh"))
    try:
        m.start_all()                     # coordinator, one archive, the two compressors, ingest
        yield m
    finally:
        m.close()


def check_job(m: FedMesh, data: bytes, name: str, want: str, cache: DictionaryCache) -> None:
    reply = m.run_job(data, name)
    frames = m.frames(reply.job_id, reply.chunk_count)
    assert {f.worker for f in frames} == set(COMPRESSORS), "both compressors must have compressed chunks"
    assert {f.dictionary_id for f in frames} == {want}, [(f.worker, f.dictionary_id) for f in frames]
    assert b"".join(decode_frame(f.frame, cache) for f in frames) == data
    from cobol_codec import decompress
    assert decompress(read(m, "ReadResult", reply.job_id), dictionary=cache.get(want)) == data


def test_compressors_train_switch_and_roll_back(fedmesh):
    m = fedmesh
    systems = ("HDFS", "Zookeeper", "OpenSSH", "Apache", "Hadoop", "Spark")
    first = m.run_job(logs(*systems), "before-federation")       # compressors sample these records
    before = m.frames(first.job_id, first.chunk_count)
    assert {f.dictionary_id for f in before} == {""}             # no dictionary yet
    m.start("federator-1", "services.federator", m.env["COBOL_FEDERATOR_ADDR"])
    fed = FederatorClient(m.env["COBOL_FEDERATOR_ADDR"])
    cache = DictionaryCache(fed)
    try:
        st = wait_until("a released, promoted dictionary", lambda: fed.state().current_id or None, 420, 1)
        released = [r for r in fed.rounds() if r.status == "released"]
        assert released and all(r.contributed == 2 for r in released)
        b = fed.budget()
        assert b.status == "finished" and 0 < b.epsilon_spent <= 1.0
        info = fed.get(st)
        assert info.status == "current" and info.training_id == b.training_id and info.epsilon_spent > 0
        assert info.estimated_bytes_saved > 0 and info.nodes == 2 and info.round > 0         # quality, statistics
        versions = {d.id: d for d in fed.list_dictionaries()}
        assert all(d.parent_id in versions for d in versions.values() if d.parent_id)   # lineage is whole
        assert any(d.parent_id for d in versions.values()) or len(versions) == 1
        assert fed.patterns(st, 5) and all(p.frequency > 0 and p.bytes_saved > 0 for p in fed.patterns(st, 5))
        for c in COMPRESSORS:
            wait_until(f"{c} switched to {st}", lambda c=c: m.switched_to(c, st), 60)
        check_job(m, logs(*systems, part=1), "after-federation", st, cache)

        # another version on every compressor, then rolled back: the previous one everywhere
        other = next(d.id for d in fed.list_dictionaries() if d.id != st)
        assert fed.promote(other).current_id == other
        for c in COMPRESSORS:
            wait_until(f"{c} switched to {other}", lambda c=c: m.switched_to(c, other), 60)
        check_job(m, logs(*reversed(systems), part=1), "promoted", other, cache)
        assert fed.rollback(other).current_id == st
        for c in COMPRESSORS:
            wait_until(f"{c} rolled back to {st}", lambda c=c: m.switched_to(c, st), 60)
        check_job(m, logs(*systems[::2], *systems[1::2], part=1), "rolled-back", st, cache)
        assert fed.get(other).status == "rejected" and fed.get(st).status == "current"
        with pytest.raises(grpc.RpcError) as exc:
            fed.rollback(other)                                  # not current any more
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        for bad in ("../../etc", "0" * 15, "ZZZZZZZZZZZZZZZZ", "\0" * 16):
            with pytest.raises(grpc.RpcError) as exc:
                fed.promote(bad)
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as exc:
            fed.get("0123456789abcdef")
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND
        # the store never deletes a version an archived frame may name
        with psycopg.connect(m.dsn, autocommit=True) as c, pytest.raises(psycopg.errors.RaiseException):
            c.execute(f"DELETE FROM {m.schema}.dictionaries WHERE id=%s", (other,))
        assert fed.fetch(other).id == int(other, 16)
    finally:
        fed.close()
