"""The archive store: a key -> bytes map with two backends behind one small interface.

Keys look like `jobs/<job_id>/<seq:012d>.frame`. Writes are idempotent (a repeat overwrites
identical bytes) and atomic (a reader never sees half an object).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator, Protocol


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def list(self, prefix: str) -> list[str]: ...


def frame_key(job_id: str, seq: int) -> str:
    return f"jobs/{job_id}/{seq:012d}.frame"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def seq_of(key: str) -> int:
    return int(key.rsplit("/", 1)[1].split(".", 1)[0])


class FsStore:
    """A local directory: temp file + fsync + rename, then fsync of the directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"key escapes the archive: {key!r}")
        return p

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list(self, prefix: str) -> list[str]:
        d = self._path(prefix.rstrip("/"))
        if not d.is_dir():
            return []
        return sorted(prefix + p.name for p in d.iterdir() if p.name.endswith(".frame"))


class S3Store:
    """An S3-compatible bucket via boto3 (tested against moto's standalone server)."""

    def __init__(self, endpoint: str, bucket: str, region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.s3 = boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=region,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "cobol"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "cobol"),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"},
                          connect_timeout=5, read_timeout=30))
        try:
            self.s3.head_bucket(Bucket=bucket)
        except self.s3.exceptions.ClientError:
            self.s3.create_bucket(Bucket=bucket)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".frame"))
        return sorted(keys)


def open_store(settings) -> Store:
    if settings.archive_backend == "fs":
        return FsStore(settings.archive_dir)
    if settings.archive_backend == "s3":
        return S3Store(settings.s3_endpoint, settings.s3_bucket, settings.s3_region)
    raise SystemExit(f"COBOL_ARCHIVE_BACKEND must be fs or s3, not {settings.archive_backend!r}")


def iter_frames(store: Store, job_id: str) -> Iterator[tuple[int, bytes]]:
    """The job's frames in seq order; raises LookupError on a gap (an unfinished job)."""
    keys = store.list(job_prefix(job_id))
    for expected, key in enumerate(keys):
        seq = seq_of(key)
        if seq != expected:
            raise LookupError(f"frame {expected} of job {job_id} is not archived (yet)")
        yield seq, store.get(key)
