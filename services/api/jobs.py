"""Job endpoints: submit (streamed to ingest), status and list (coordinator), downloads (archive)."""
from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse
from typing import Any, AsyncIterator

import grpc
import structlog
from cobol_proto import mesh_pb2
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from python_multipart.multipart import parse_options_header

from . import audit, metrics
from .auth import CurrentUser, current_user, require_role
from .grpc_clients import job_to_dict
from .state import state
from .upload import PROFILES, StreamingUpload, UploadError

log = structlog.get_logger("cobol.api.jobs")
router = APIRouter(prefix="/api", tags=["jobs"])

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MULTIPART_OVERHEAD = 64 * 1024   # headers, boundaries and small fields around the file
PENDING_GRACE_SECONDS = 900      # how long an accepted job may be unknown to the ledger


class JobAccepted(BaseModel):
    id: str
    status: str = "queued"
    name: str
    profile: str
    bytes_in: int
    sha256: str | None = None


class Job(BaseModel):
    id: str
    status: str
    progress: float
    bytes_in: int
    bytes_out: int
    ratio: float | None
    name: str
    source: str
    profile: str
    created_at: str | None
    finished_at: str | None
    reason: str | None
    chunk_count: int = 0
    chunks_archived: int = 0
    sha256: str | None = None


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "profile": {"type": "string", "enum": list(PROFILES), "default": "fast",
                            "description": "must come before the file part"},
                "file": {"type": "string", "format": "binary"},
            },
        }}},
    }
}


def _http_for_grpc(exc: grpc.RpcError, what: str) -> HTTPException:
    code = exc.code() if hasattr(exc, "code") else None
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return HTTPException(status.HTTP_404_NOT_FOUND, f"{what}: not found")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return HTTPException(status.HTTP_409_CONFLICT, f"{what}: {exc.details()}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: service unavailable ({code.name})")
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: {code.name if code else 'error'}: "
                                                      f"{exc.details() if hasattr(exc, 'details') else exc}")


async def load_job(job_id: str) -> dict[str, Any]:
    """The job as the REST API shows it; 404 if nobody knows it.

    Right after a submission the coordinator may not have consumed the job's events yet;
    the API's own audit record of the accepted upload then stands in (status ``queued``).
    """
    if not JOB_ID_RE.match(job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r}: not found")
    try:
        return job_to_dict(await state.mesh.get_job(job_id))
    except grpc.RpcError as exc:
        if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise _http_for_grpc(exc, f"job {job_id}") from None
    pending = await audit.accepted_submission(job_id)
    if pending is not None and time.time() - pending["at"].timestamp() < PENDING_GRACE_SECONDS:
        d = pending["detail"] or {}
        return {"id": job_id, "status": "queued", "progress": 0.0, "bytes_in": int(d.get("bytes_in", 0)),
                "bytes_out": 0, "ratio": None, "name": d.get("name", ""), "source": "rest",
                "profile": d.get("profile", ""),
                "created_at": pending["at"].astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
                "finished_at": None, "reason": None, "chunk_count": 0, "chunks_archived": 0,
                "sha256": d.get("sha256")}
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r}: not found")


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "over COBOL_MAX_UPLOAD_BYTES"},
                        422: {"description": "bad profile or malformed form"}})
async def submit_job(request: Request,
                     profile: str | None = Query(None, description="alternative to the form field"),
                     user: CurrentUser = Depends(require_role("operator"))):
    settings = state.settings
    client = request.client.host if request.client else None

    async def reject(code: int, detail: str, outcome: str, job_id: str | None = None, **extra) -> JSONResponse:
        metrics.UPLOADS.labels(outcome=outcome).inc()
        await audit.record(user.name, "job.submit", outcome=outcome, job_id=job_id, client=client,
                           detail={"status": code, "reason": detail, **extra})
        return JSONResponse({"detail": detail}, status_code=code)

    if profile is not None and profile not in PROFILES:
        return await reject(422, f"profile must be one of {', '.join(PROFILES)} (got {profile!r})", "rejected")
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        return await reject(422, "expected a multipart/form-data body with a 'file' part", "rejected")
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            return await reject(400, "bad Content-Length", "rejected")
        if n > settings.max_upload_bytes + MULTIPART_OVERHEAD:
            return await reject(413, f"upload exceeds the limit of {settings.max_upload_bytes} bytes",
                                "too_large", content_length=n)

    up = StreamingUpload(stub=state.mesh.ingest, boundary=boundary, max_bytes=settings.max_upload_bytes,
                         profile=profile, piece_bytes=settings.upload_piece_bytes,
                         queue_pieces=settings.upload_queue_pieces)
    started = time.monotonic()
    try:
        reply = await up.run(request)
    except UploadError as err:
        log.warning("upload.rejected", job_id=up.job_id, status=err.status, reason=err.detail,
                    bytes=up.file_bytes, user=user.name)
        return await reject(err.status, err.detail, err.outcome, job_id=up.job_id, name=up.name,
                            profile=up.profile, bytes_in=up.file_bytes)
    metrics.UPLOADS.labels(outcome="accepted").inc()
    detail = {"name": up.name, "profile": up.profile, "bytes_in": reply.bytes_in or up.file_bytes,
              "chunk_count": reply.chunk_count, "sha256": reply.sha256,
              "seconds": round(time.monotonic() - started, 3)}
    await audit.record(user.name, "job.submit", outcome="accepted", job_id=up.job_id, client=client, detail=detail)
    log.info("upload.accepted", job_id=up.job_id, user=user.name, **detail)
    state.hub.notify(up.job_id)
    return JobAccepted(id=up.job_id, name=up.name, profile=up.profile, bytes_in=detail["bytes_in"],
                       sha256=reply.sha256 or None)


@router.get("/jobs", response_model=list[Job])
async def list_jobs(limit: int = Query(50, ge=1, le=1000), user: CurrentUser = Depends(current_user)):
    try:
        jobs = await state.mesh.list_jobs(limit)
    except grpc.RpcError as exc:
        raise _http_for_grpc(exc, "job list") from None
    out = [job_to_dict(j) for j in jobs]
    out.sort(key=lambda j: j["created_at"] or "", reverse=True)
    return out[:limit]


@router.get("/jobs/{job_id}", response_model=Job, responses={404: {"description": "unknown job"}})
async def get_job(job_id: str, user: CurrentUser = Depends(current_user)):
    return await load_job(job_id)


def _disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", filename) or "download"
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{urllib.parse.quote(filename, safe="")}'


async def _archive_stream(kind: str, job: dict, user: CurrentUser, request: Request) -> StreamingResponse:
    if job["status"] != "done":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job {job['id']} is {job['status']}, not done" + (f": {job['reason']}" if job["reason"] else ""))
    rpc = state.mesh.archive.ReadResult if kind == "result" else state.mesh.archive.ReadOriginal
    call = rpc(mesh_pb2.ReadRequest(job_id=job["id"]))
    try:
        first = await call.read()
    except grpc.RpcError as exc:
        call.cancel()
        raise _http_for_grpc(exc, f"{kind} of job {job['id']}") from None
    name = job["name"] or job["id"]
    filename = f"{name}.cobol" if kind == "result" else name
    await audit.record(user.name, f"job.download.{kind}", outcome="ok", job_id=job["id"],
                       client=request.client.host if request.client else None)

    async def body() -> AsyncIterator[bytes]:
        try:
            chunk = first
            while chunk is not grpc.aio.EOF:
                if chunk.data:
                    metrics.DOWNLOAD_BYTES.labels(kind=kind).inc(len(chunk.data))
                    yield chunk.data
                chunk = await call.read()
        except grpc.RpcError as exc:
            # Headers are gone already: all we can do is cut the response short, so the client
            # sees a truncated transfer rather than a silently shorter file.
            log.error("download.failed", job_id=job["id"], kind=kind, code=str(exc.code()), details=exc.details())
            raise
        finally:
            if not call.done():
                call.cancel()

    headers = {"Content-Disposition": _disposition(filename), "X-Cobol-Job": job["id"],
               "Cache-Control": "no-store"}
    if kind == "original":
        headers["X-Cobol-Bytes"] = str(job["bytes_in"])
        if job.get("sha256"):
            headers["X-Cobol-Sha256"] = job["sha256"]
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


@router.get("/jobs/{job_id}/result", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the .cobol container"},
                       404: {"description": "unknown job"}, 409: {"description": "job not done"}})
async def get_result(job_id: str, request: Request, user: CurrentUser = Depends(current_user)):
    return await _archive_stream("result", await load_job(job_id), user, request)


@router.get("/jobs/{job_id}/original", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the original bytes"},
                       404: {"description": "unknown job"}, 409: {"description": "job not done"}})
async def get_original(job_id: str, request: Request, user: CurrentUser = Depends(current_user)):
    return await _archive_stream("original", await load_job(job_id), user, request)
