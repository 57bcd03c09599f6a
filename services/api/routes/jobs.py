"""Jobs: submit (upload, or a file/S3 reference), list, detail, progress, cancel, downloads
(with HTTP Range on the original), per-layer statistics, history, delete."""
from __future__ import annotations

import datetime as dt
import re
import time
import urllib.parse
import uuid
from typing import Annotated, AsyncIterator

import grpc
import structlog
from cobol_codec.errors import CorruptFrameError
from cobol_proto import mesh_pb2
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header

from .. import imports, metrics
from ..deps import Ctx, Operator, Principal, Viewer
from ..enums import DEFAULT_PROFILE, PROFILES, JobState, Profile, ProfileOrEmpty
from ..jobsvc import http_for_grpc, list_jobs, visible_job
from ..layerstats import LayerCounter
from ..schemas.audit import AuditEntry
from ..schemas.common import AUTHED, Page, error_responses
from ..schemas.job import Job, JobAccepted, JobReference, LayerStats, Progress
from ..upload import StreamingUpload, UploadError, check_field
from .common import Limit, Offset, utc

log = structlog.get_logger("cobol.api.jobs")
router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses={**AUTHED, **error_responses(502, 503)})

MULTIPART_OVERHEAD = 64 * 1024   # headers, boundaries and small fields around the file
MAX_JSON_BODY = 64 * 1024
NOT_FOUND = error_responses(404)
OCTETS = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}

SUBMIT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "profile": {"type": "string", "enum": ["", *PROFILES], "description": "before the file part; empty = fast"},
            "layers": {"type": "string", "maxLength": 64, "description": "e.g. 1-4 or 1,2,6-7"},
            "dictionary": {"type": "string", "maxLength": 16, "description": "16 hex digits, none, or empty"},
            "file": {"type": "string", "format": "binary"},
        }}},
    "application/json": {"schema": JobReference.model_json_schema(ref_template="#/components/schemas/{model}")},
}}}


def _audit(request: Request, outcome: str, job_id: str | None = None, **detail) -> None:
    request.state.audit = {"action": "job.submit", "outcome": outcome, "job_id": job_id, "detail": detail}


def _reject(request: Request, err: UploadError, job_id: str | None = None, **detail) -> JSONResponse:
    metrics.UPLOADS.labels(outcome=err.outcome).inc()
    _audit(request, err.outcome, job_id, status=err.status, reason=err.detail, **detail)
    return JSONResponse({"detail": err.detail}, status_code=err.status)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted, name="job.submit",
             openapi_extra=SUBMIT_BODY, responses=error_responses(400, 403, 404, 409, 413, 502, 503, 504))
async def submit_job(request: Request, ctx: Ctx, user: Operator,
                     profile: Annotated[ProfileOrEmpty | None, Query(description="or the form field; empty = fast")] = None,
                     layers: Annotated[str | None, Query(max_length=64, description="or the form field")] = None,
                     dictionary: Annotated[str | None, Query(max_length=16, description="or the form field")] = None):
    """Submit a job: a multipart upload (streamed to ingest as it arrives), or a JSON reference
    to a file under COBOL_API_IMPORT_ROOT or an S3 object. A query parameter and a form or
    JSON field of the same name must agree (400 otherwise)."""
    query = {k: v for k, v in (("profile", profile), ("layers", layers), ("dictionary", dictionary)) if v is not None}
    try:
        for k, v in query.items():
            check_field(k, v)
    except UploadError as err:
        return _reject(request, err)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/json":
        return await _submit_reference(request, ctx, user, query)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        return _reject(request, UploadError(422, "expected a multipart/form-data body with a 'file' part, "
                                                 "or a JSON body with data_file"))
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            return _reject(request, UploadError(400, "bad Content-Length"))
        if int(length) > ctx.settings.max_upload_bytes + MULTIPART_OVERHEAD:
            return _reject(request, UploadError(413, f"upload exceeds the limit of {ctx.settings.max_upload_bytes} bytes",
                                                "too_large"), content_length=int(length))

    up = StreamingUpload(stub=ctx.mesh.ingest, boundary=boundary, max_bytes=ctx.settings.max_upload_bytes,
                         query=query, piece_bytes=ctx.settings.upload_piece_bytes,
                         queue_pieces=ctx.settings.upload_queue_pieces)

    async def record(u: StreamingUpload) -> None:
        await ctx.jobs.record(u.job_id, user.name, u.name, u.profile, u.values["layers"], u.values["dictionary"],
                              "upload")
        ctx.running[u.job_id] = u

    up.on_start = record
    started = time.monotonic()
    try:
        reply = await up.run(request)
    except UploadError as err:
        log.warning("upload.rejected", job_id=up.job_id, status=err.status, reason=err.detail, bytes=up.file_bytes)
        if up.job_id:
            await ctx.jobs.mark(up.job_id, "cancelled_at")
        return _reject(request, err, up.job_id, name=up.name, profile=up.profile, bytes_in=up.file_bytes)
    finally:
        if up.job_id:
            ctx.running.pop(up.job_id, None)
    return await _accepted(request, ctx, up.job_id, up.name, up.values, reply, up.file_bytes, started)


async def _accepted(request: Request, ctx: Ctx, job_id: str, name: str, values: dict, reply, nbytes: int,
                    started: float) -> JobAccepted:
    bytes_in = reply.bytes_in or nbytes
    await ctx.jobs.accepted(job_id, bytes_in, reply.sha256 or None)
    metrics.UPLOADS.labels(outcome="accepted").inc()
    profile = values["profile"] or DEFAULT_PROFILE
    _audit(request, "accepted", job_id, name=name, profile=profile, layers=values["layers"],
           dictionary=values["dictionary"], bytes_in=bytes_in, chunk_count=reply.chunk_count, sha256=reply.sha256,
           seconds=round(time.monotonic() - started, 3))
    ctx.hub.notify(job_id)
    return JobAccepted(id=job_id, name=name, profile=profile, layers=values["layers"],
                       dictionary=values["dictionary"], bytes_in=bytes_in, sha256=reply.sha256 or None)


async def _submit_reference(request: Request, ctx: Ctx, user: Principal, query: dict):
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_JSON_BODY:
            return _reject(request, UploadError(413, "the JSON body is too large", "too_large"))
    try:
        ref = JobReference.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        return _reject(request, UploadError(422, f"invalid job reference: {problems}"))
    values = {"profile": ref.profile, "layers": ref.layers, "dictionary": ref.dictionary}
    try:
        for k, v in values.items():
            check_field(k, v)
            if k in query and v != "" and v != query[k]:
                raise UploadError(400, f"the body field {k!r} conflicts with the query parameter of the same name")
            values[k] = v or query.get(k, "")
        source = (await imports.open_s3(ref.data_file) if ref.data_file.startswith("s3://")
                  else imports.open_file(ctx.settings.import_root, ref.data_file))
    except UploadError as err:
        return _reject(request, err, data_file=ref.data_file)
    values["profile"] = values["profile"] or DEFAULT_PROFILE
    job_id, name, started = str(uuid.uuid4()), ref.name or source.name, time.monotonic()
    await ctx.jobs.record(job_id, user.name, name, values["profile"], values["layers"], values["dictionary"],
                          source.origin, {"data_file": ref.data_file})
    try:
        reply = await imports.send(ctx.mesh.ingest, source, job_id=job_id, name=name, values=values,
                                   max_bytes=ctx.settings.max_upload_bytes)
    except UploadError as err:
        await ctx.jobs.mark(job_id, "cancelled_at")
        return _reject(request, err, job_id, data_file=ref.data_file)
    except grpc.RpcError as exc:
        await ctx.jobs.mark(job_id, "cancelled_at")
        err = http_for_grpc(exc, "ingest")
        return _reject(request, UploadError(err.status_code, err.detail, "ingest_error"), job_id)
    return await _accepted(request, ctx, job_id, name, values, reply, source.size or 0, started)


@router.get("", response_model=Page[Job])
async def list_jobs_route(ctx: Ctx, user: Viewer, limit: Limit = 50, offset: Offset = 0,
                          status_: Annotated[JobState | None, Query(alias="status")] = None,
                          profile: Profile | None = None,
                          owner: Annotated[str | None, Query(max_length=64, description="user who submitted")] = None,
                          q: Annotated[str | None, Query(max_length=128, description="part of the job name")] = None,
                          since: Annotated[dt.datetime | None, Query(description="created at or after")] = None,
                          until: Annotated[dt.datetime | None, Query(description="created before")] = None,
                          min_bytes: Annotated[int | None, Query(ge=0)] = None,
                          max_bytes: Annotated[int | None, Query(ge=0)] = None):
    """Jobs you may see (yours; every job for admins and users granted see_all_jobs), newest
    first, among the ledger's newest 1,000."""
    jobs = await list_jobs(ctx, user, {"status": status_, "profile": profile, "owner": owner, "q": q,
                                       "since": utc(since), "until": utc(until), "min_bytes": min_bytes,
                                       "max_bytes": max_bytes})
    return {"items": jobs[offset:offset + limit], "total": len(jobs), "limit": limit, "offset": offset}




@router.get("/{job_id}", response_model=Job, responses=NOT_FOUND)
async def get_job(job_id: str, ctx: Ctx, user: Viewer):
    return await visible_job(ctx, user, job_id)


@router.get("/{job_id}/progress", response_model=Progress, responses=NOT_FOUND)
async def get_progress(job_id: str, ctx: Ctx, user: Viewer):
    j = await visible_job(ctx, user, job_id)
    return {k: j[k] for k in Progress.model_fields}


@router.post("/{job_id}/cancel", response_model=Job, name="job.cancel",
             responses=error_responses(404, 409, 503))
async def cancel_job(job_id: str, request: Request, ctx: Ctx, user: Operator):
    """Stop a job: an upload still streaming is cut off; a job in the mesh is aborted (it ends
    failed). A job already done or failed cannot be cancelled (409)."""
    job = await visible_job(ctx, user, job_id)
    request.state.audit = {"job_id": job_id}
    if job["status"] in ("done", "failed"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is already {job['status']}")
    running = ctx.running.get(job_id)
    if running is not None:
        await running.abort()
    try:
        await ctx.events.abort(job_id, f"cancelled by {user.name}")
    except Exception as exc:  # noqa: BLE001 - Kafka unreachable
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot reach the job ledger: {exc}") from None
    await ctx.jobs.mark(job_id, "cancelled_at")
    job["reason"] = job["reason"] or "cancelled"
    return job


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT, name="job.delete",
               responses=error_responses(404, 409, 502, 503))
async def delete_job(job_id: str, request: Request, ctx: Ctx, user: Operator):
    """Delete a finished job: the archive removes its frames from every replica (a replica
    that is down now is cleaned by its repair later, and never brings the job back), then it no
    longer shows nor downloads (404). When the archive cannot be reached nothing changes (503)."""
    job = await visible_job(ctx, user, job_id)
    request.state.audit = {"job_id": job_id}
    if job["status"] not in ("done", "failed"):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is {job['status']}: cancel it first")
    try:
        reply = await ctx.mesh.archive.DeleteJob(mesh_pb2.DeleteJobRequest(job_id=job_id), timeout=ctx.mesh.timeout * 6)
    except grpc.RpcError as exc:
        raise http_for_grpc(exc, f"archive delete of job {job_id}") from None
    request.state.audit["detail"] = {"deleted_on": list(reply.deleted_on), "pending": list(reply.pending),
                                     "frames_removed": reply.frames_removed}
    if job["owner"] is None:
        await ctx.jobs.record(job_id, "", job["name"], job["profile"], "", "", "mesh")
    await ctx.jobs.mark(job_id, "deleted_at")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{job_id}/history", response_model=Page[AuditEntry], responses=NOT_FOUND)
async def job_history(job_id: str, ctx: Ctx, user: Viewer, limit: Limit = 50, offset: Offset = 0):
    """The audit entries of this job (submission, downloads, cancel, delete)."""
    await visible_job(ctx, user, job_id)
    rows, total = await ctx.audit.page({"job_id": job_id}, limit, offset)
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


def _disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", filename) or "download"
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{urllib.parse.quote(filename, safe="")}'


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range; None = serve everything.
    Raises ValueError when the range cannot be satisfied."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None                      # malformed or multi-range: ignored, as RFC 9110 allows
    if not m.group(1):                   # suffix: the last n bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, min(end, size - 1)


async def _archive_stream(kind: str, job: dict, ctx: Ctx, request: Request,
                          window: tuple[int, int] | None = None) -> StreamingResponse:
    if job["status"] != "done":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"job {job['id']} is {job['status']}, not done" + (f": {job['reason']}" if job["reason"] else ""))
    rpc = ctx.mesh.archive.ReadResult if kind == "result" else ctx.mesh.archive.ReadOriginal
    call = rpc(mesh_pb2.ReadRequest(job_id=job["id"]))
    try:
        first = await call.read()
    except grpc.RpcError as exc:
        call.cancel()
        raise http_for_grpc(exc, f"{kind} of job {job['id']}") from None
    request.state.audit = {"action": f"job.download.{kind}", "job_id": job["id"],
                           "detail": {"range": list(window)} if window else {}}
    lo, hi = window if window else (0, None)

    async def body() -> AsyncIterator[bytes]:
        pos = 0
        try:
            chunk = first
            while chunk is not grpc.aio.EOF:
                data = chunk.data
                if data:
                    a, b = pos, pos + len(data)
                    pos = b
                    if hi is not None:
                        if b <= lo:
                            chunk = await call.read()
                            continue
                        data = data[max(0, lo - a):min(len(data), hi + 1 - a)]
                    metrics.DOWNLOAD_BYTES.labels(kind=kind).inc(len(data))
                    yield data
                    if hi is not None and b > hi:
                        return
                chunk = await call.read()
        except grpc.RpcError as exc:
            # The headers are gone: cut the response short so the client sees a truncated transfer.
            log.error("download.failed", job_id=job["id"], kind=kind, code=str(exc.code()))
            raise
        finally:
            if not call.done():
                call.cancel()

    name = job["name"] or job["id"]
    headers = {"Content-Disposition": _disposition(f"{name}.cobol" if kind == "result" else name),
               "X-Cobol-Job": job["id"], "Cache-Control": "no-store"}
    if kind == "original":
        headers["Accept-Ranges"] = "bytes"
        headers["X-Cobol-Bytes"] = str(job["bytes_in"])
        if job.get("sha256"):
            headers["X-Cobol-Sha256"] = job["sha256"]
        if window:
            headers["Content-Range"] = f"bytes {lo}-{hi}/{job['bytes_in']}"
            headers["Content-Length"] = str(hi - lo + 1)
        else:
            headers["Content-Length"] = str(job["bytes_in"])
    return StreamingResponse(body(), status_code=206 if window else 200, media_type="application/octet-stream",
                             headers=headers)


@router.get("/{job_id}/result", response_class=StreamingResponse,
            responses={200: {**OCTETS, "description": "the .cobol container"}, **error_responses(404, 409, 502, 503)})
async def get_result(job_id: str, request: Request, ctx: Ctx, user: Viewer):
    return await _archive_stream("result", await visible_job(ctx, user, job_id), ctx, request)


@router.get("/{job_id}/original", response_class=StreamingResponse,
            responses={200: {**OCTETS, "description": "the original bytes"},
                       206: {**OCTETS, "description": "the requested byte range (HTTP Range: bytes=a-b)"},
                       **error_responses(404, 409, 416, 502, 503)})
async def get_original(job_id: str, request: Request, ctx: Ctx, user: Viewer):
    job = await visible_job(ctx, user, job_id)
    try:
        window = parse_range(request.headers.get("range"), job["bytes_in"])
    except ValueError:
        raise HTTPException(status.HTTP_416_RANGE_NOT_SATISFIABLE, "range not satisfiable",
                            headers={"Content-Range": f"bytes */{job['bytes_in']}"}) from None
    return await _archive_stream("original", job, ctx, request, window)


@router.get("/{job_id}/layers", response_model=LayerStats, responses=error_responses(404, 409, 502, 503))
async def get_layer_stats(job_id: str, ctx: Ctx, user: Viewer):
    """What each codec layer took in and gave out over the job's frames (read from the result)."""
    job = await visible_job(ctx, user, job_id)
    if job["status"] != "done":
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is {job['status']}, not done")
    counter = LayerCounter()
    try:
        async for chunk in ctx.mesh.archive.ReadResult(mesh_pb2.ReadRequest(job_id=job_id)):
            counter.feed(chunk.data)
        result = counter.finish()
    except grpc.RpcError as exc:
        raise http_for_grpc(exc, f"result of job {job_id}") from None
    except CorruptFrameError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the stored result does not parse: {exc}") from None
    return {"id": job_id, **result}
