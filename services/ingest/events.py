"""Building the Kafka payloads ingest emits."""
from __future__ import annotations

import time

from cobol_mesh.proto import pb
from cobol_mesh.settings import settings


def opened(job_id: str, source: str, name: str, profile: str, layers: str = "") -> bytes:
    return pb.JobEvent(job_id=job_id, at=time.time(), opened=pb.JobOpened(
        source=source, name=name, profile=profile, layers=layers)).SerializeToString()


def sealed(job_id: str, chunk_count: int, bytes_in: int, sha256: str) -> bytes:
    return pb.JobEvent(job_id=job_id, at=time.time(), sealed=pb.JobSealed(
        chunk_count=chunk_count, bytes_in=bytes_in, sha256=sha256)).SerializeToString()


def aborted(job_id: str, reason: str) -> bytes:
    return pb.JobEvent(job_id=job_id, at=time.time(),
                       aborted=pb.JobAborted(reason=reason[:1000])).SerializeToString()


def chunk(job_id: str, seq: int, data: bytes, profile: str, offset: int, layers: str = "",
          dictionary_id: str = "") -> bytes:
    return pb.Chunk(job_id=job_id, seq=seq, data=data, profile=profile, offset=offset,
                    layers=layers, dictionary_id=dictionary_id).SerializeToString()


def chunk_key(job_id: str, seq: int) -> str:
    """cobol.chunks key: the job id (its chunks in one partition, in order) or, with
    COBOL_CHUNK_KEY=seq, job id and seq (spread: frames carry their seq, order is not needed)."""
    return f"{job_id}:{seq}" if settings.chunk_key == "seq" else job_id
