"""Jobs by reference: a file under COBOL_API_IMPORT_ROOT, or an S3 object, streamed to ingest.

A path must stay inside the import root after every symlink is resolved (``..``, absolute
paths and links out of the root are refused), and must be a regular file. S3 objects come
from the endpoint the mesh already uses (COBOL_S3_ENDPOINT); the archive's own bucket is
never readable this way, and COBOL_API_S3_BUCKETS (comma-separated) restricts the buckets.
"""
from __future__ import annotations

import asyncio
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig
from cobol_mesh import settings as mesh_settings
from cobol_proto import mesh_pb2

from .upload import UploadError, safe_name

PIECE = 1 << 20
S3_RE = re.compile(r"\As3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)\Z")


@dataclass
class Source:
    name: str
    origin: str                      # file | s3
    size: int | None
    pieces: AsyncIterator[bytes]


def _file_pieces(fd: int) -> AsyncIterator[bytes]:
    async def gen():
        try:
            while True:
                piece = await asyncio.to_thread(os.read, fd, PIECE)
                if not piece:
                    return
                yield piece
        finally:
            os.close(fd)
    return gen()


def open_file(root: Path | None, ref: str) -> Source:
    if root is None:
        raise UploadError(422, "file references are disabled: COBOL_API_IMPORT_ROOT is not set")
    if ref.startswith("/") or "\\" in ref or any(p == ".." for p in ref.split("/")):
        raise UploadError(422, "data_file must be a path relative to the import root, without '..'")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, ref))
    if os.path.commonpath([real_root, real]) != real_root:
        raise UploadError(403, "data_file leads out of the import root (a symlink?)", outcome="forbidden")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UploadError(404, "data_file: no such file under the import root", outcome="not_found") from None
    except OSError as exc:
        raise UploadError(403 if exc.errno in (13, 40) else 422, f"data_file cannot be opened: {exc.strerror}",
                          outcome="forbidden") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UploadError(422, "data_file is not a regular file")
    return Source(safe_name(ref), "file", st.st_size, _file_pieces(fd))


def _s3_client():
    s = mesh_settings.load()
    # the same credentials as the archive's S3 store (AWS_* variables, local defaults otherwise)
    return boto3.client("s3", endpoint_url=s.s3_endpoint, region_name=s.s3_region,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "cobol"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "cobol"),
                        config=BotoConfig(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))


async def open_s3(ref: str) -> Source:
    m = S3_RE.match(ref)
    if not m:
        raise UploadError(422, "data_file must be s3://bucket/key")
    bucket, key = m.group(1), m.group(2)
    allowed = [b.strip() for b in os.environ.get("COBOL_API_S3_BUCKETS", "").split(",") if b.strip()]
    if bucket == mesh_settings.load().s3_bucket or (allowed and bucket not in allowed):
        raise UploadError(403, f"bucket {bucket} may not be read through the API", outcome="forbidden")
    client = _s3_client()
    try:
        obj = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise UploadError(404, f"s3://{bucket}/{key}: no such object", outcome="not_found") from None
        if code in ("AccessDenied", "403"):
            raise UploadError(403, f"s3://{bucket}/{key}: access denied", outcome="forbidden") from None
        raise UploadError(502, f"s3://{bucket}/{key}: {code or 'error'}", outcome="s3_error") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UploadError(502, f"S3 is unreachable: {type(exc).__name__}", outcome="s3_error") from None
    body = obj["Body"]

    async def gen():
        try:
            while True:
                piece = await asyncio.to_thread(body.read, PIECE)
                if not piece:
                    return
                yield piece
        finally:
            body.close()
    return Source(safe_name(key), "s3", int(obj.get("ContentLength") or 0), gen())


async def send(stub, source: Source, *, job_id: str, name: str, values: dict, max_bytes: int,
               timeout: float = 600) -> mesh_pb2.UploadReply:
    """Stream a source to Ingest.Upload; anything but a complete read cancels the call (ingest aborts)."""
    if source.size is not None and source.size > max_bytes:
        raise UploadError(413, f"data_file exceeds the limit of {max_bytes} bytes", outcome="too_large")
    call = stub.Upload(timeout=timeout)
    sent = 0
    try:
        await call.write(mesh_pb2.UploadRequest(start=mesh_pb2.UploadStart(
            name=name, profile=values["profile"], source="rest", job_id=job_id, layers=values["layers"],
            dictionary=values["dictionary"])))
        async for piece in source.pieces:
            sent += len(piece)
            if sent > max_bytes:
                raise UploadError(413, f"data_file exceeds the limit of {max_bytes} bytes", outcome="too_large")
            await call.write(mesh_pb2.UploadRequest(data=piece))
        await call.write(mesh_pb2.UploadRequest(end=mesh_pb2.UploadEnd(bytes=sent)))
        await call.done_writing()
        return await call
    except BaseException:
        call.cancel()
        raise
