"""gRPC Coordinator: GetJob / ListJobs from the Redis ledger."""
from __future__ import annotations

import grpc

from cobol_mesh.proto import pb, pb_grpc

from .ledger import Ledger


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def GetJob(self, request, context):
        if not request.job_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_id is required")
        job = self.ledger.get(request.job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} is unknown")
        return job

    def ListJobs(self, request, context):
        limit = min(request.limit or 50, 1000)
        return pb.JobList(jobs=self.ledger.list(limit))
