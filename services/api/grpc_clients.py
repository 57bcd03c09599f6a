"""gRPC channels from the API to ingest, the coordinator, the archive and the federator (mTLS as `api`)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import grpc
from cobol_mesh import grpc_auth
from cobol_proto import federation_pb2_grpc, mesh_pb2, mesh_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

MAX_MSG = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MSG),
    ("grpc.max_send_message_length", MAX_MSG),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 1),
]
LIST_CAP = 1000     # the coordinator's own cap on ListJobs
LIST_TTL = 0.5      # seconds one ledger listing serves every caller (each filters its own view)


class MeshClients:
    def __init__(self, ingest_addr: str, coordinator_addr: str, archive_addr: str, timeout: float = 10.0,
                 federator_addr: str | None = None):
        self.addrs = {"ingest": ingest_addr, "coordinator": coordinator_addr, "archive": archive_addr}
        if federator_addr:
            self.addrs["federator"] = federator_addr
        self.timeout = timeout
        self.channels = {name: grpc_auth.aio_channel(addr, "api", CHANNEL_OPTIONS)
                         for name, addr in self.addrs.items()}
        self.ingest = mesh_pb2_grpc.IngestStub(self.channels["ingest"])
        self.coordinator = mesh_pb2_grpc.CoordinatorStub(self.channels["coordinator"])
        self.archive = mesh_pb2_grpc.ArchiveStub(self.channels["archive"])
        self.federator = (federation_pb2_grpc.FederatorStub(self.channels["federator"])
                          if federator_addr else None)
        self._listing: tuple[float, list] = (0.0, [])
        self._list_lock = asyncio.Lock()

    async def check(self, name: str, timeout: float = 1.0) -> str:
        """The service's own gRPC health status (grpc.health.v1)."""
        try:
            reply = await health_pb2_grpc.HealthStub(self.channels[name]).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            return f"unreachable ({self.addrs[name]}): {code.name if code else exc}"
        except asyncio.TimeoutError:
            return f"unreachable ({self.addrs[name]}): timeout"
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return "ok" if status == "SERVING" else status.lower()

    async def get_job(self, job_id: str) -> mesh_pb2.JobStatus:
        return await self.coordinator.GetJob(mesh_pb2.GetJobRequest(job_id=job_id), timeout=self.timeout)

    async def list_jobs(self) -> list[dict[str, Any]]:
        """The ledger's newest jobs (up to LIST_CAP) in their REST shape. Under load, concurrent
        callers share one ListJobs call and its answer for LIST_TTL seconds (fresher than any
        page a person reads). The dicts are shared: copy before changing one."""
        async with self._list_lock:
            at, jobs = self._listing
            if time.monotonic() - at < LIST_TTL:
                return jobs
            reply = await self.coordinator.ListJobs(mesh_pb2.ListJobsRequest(limit=LIST_CAP), timeout=self.timeout)
            self._listing = (time.monotonic(), [job_to_dict(j) for j in reply.jobs])
            return self._listing[1]

    async def close(self) -> None:
        for ch in self.channels.values():
            await ch.close()


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def job_to_dict(job: mesh_pb2.JobStatus) -> dict[str, Any]:
    """The REST shape of a job (also what the WebSocket pushes)."""
    return {
        "id": job.job_id,
        "status": job.status if job.status in ("queued", "running", "done", "failed") else "queued",
        "progress": round(min(max(job.progress, 0.0), 1.0), 4),
        "bytes_in": job.bytes_in,
        "bytes_out": job.bytes_out,
        "ratio": round(job.bytes_in / job.bytes_out, 4) if job.bytes_out else None,
        "name": job.name,
        "source": job.source,
        "profile": job.profile,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "reason": job.reason or None,
        "chunk_count": job.chunk_count,
        "chunks_archived": job.chunks_archived,
        "sha256": job.sha256 or None,
    }
