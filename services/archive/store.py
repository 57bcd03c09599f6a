"""The archive store: a key -> bytes map with two backends behind one small interface.

Keys look like `jobs/<job_id>/<seq:012d>.frame`. Writes are idempotent (a repeat overwrites
identical bytes) and atomic (a reader never sees half an object).

A stored frame is sealed with its own checksum: `CBAF` + sha256(frame) + frame (`seal` /
`unseal`), so a replica can tell a damaged frame from a good one without decoding it, and
fetch a good copy from a peer. Frames stored before the seal existed (no `CBAF`) still read.
Each store keeps a marker object (`replica.id`): a store without it is new or was wiped, and
the replica refills it from its peers. A deleted job leaves a tombstone `deleted/<job_id>`
(see deletes.py).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Protocol

SEAL = b"CBAF"
MARKER = "replica.id"


class DamagedFrame(Exception):
    """A stored frame whose bytes no longer match the checksum written with it."""


def seal(frame: bytes) -> bytes:
    return SEAL + hashlib.sha256(frame).digest() + frame


def unseal(stored: bytes) -> bytes:
    """The frame inside a stored object; raises DamagedFrame if its checksum fails."""
    if stored[:4] != SEAL:
        return stored                                   # stored before seals existed
    digest, frame = stored[4:36], stored[36:]
    if len(digest) != 32 or hashlib.sha256(frame).digest() != digest:
        raise DamagedFrame("stored frame fails its sha256 checksum")
    return frame


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def list(self, prefix: str) -> list[str]: ...
    def jobs(self) -> list[str]: ...
    def has_marker(self) -> bool: ...
    def put_marker(self, text: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def tombstones(self) -> list[str]: ...


def frame_key(job_id: str, seq: int) -> str:
    return f"jobs/{job_id}/{seq:012d}.frame"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


TOMBSTONES = "deleted/"


def tombstone_key(job_id: str) -> str:
    return f"{TOMBSTONES}{job_id}"


def job_seqs(store: "Store", job_id: str) -> list[int]:
    return [seq_of(k) for k in store.list(job_prefix(job_id))]


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

    def jobs(self) -> list[str]:
        d = self.root / "jobs"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def has_marker(self) -> bool:
        return (self.root / MARKER).exists()

    def put_marker(self, text: str) -> None:
        self.put(MARKER, text.encode())

    def delete(self, key: str) -> None:
        """Remove one object (absent is fine), and its job folder once that is empty."""
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        try:
            path.parent.rmdir()          # only succeeds when empty
        except OSError:
            pass

    def tombstones(self) -> list[str]:
        d = self.root / TOMBSTONES
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".tmp-")) if d.is_dir() else []


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
        except (self.s3.exceptions.NoSuchKey, self.s3.exceptions.ClientError) as exc:
            if isinstance(exc, self.s3.exceptions.NoSuchKey) or "404" in str(exc) or "NoSuchKey" in str(exc):
                raise FileNotFoundError(key) from None
            raise

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".frame"))
        return sorted(keys)

    def jobs(self) -> list[str]:
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="jobs/",
                                                                     Delimiter="/"):
            out.extend(p["Prefix"][5:-1] for p in page.get("CommonPrefixes", []))
        return sorted(out)

    def has_marker(self) -> bool:
        try:
            self.get(MARKER)
            return True
        except FileNotFoundError:
            return False

    def put_marker(self, text: str) -> None:
        self.put(MARKER, text.encode())

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def tombstones(self) -> list[str]:
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=TOMBSTONES):
            out.extend(o["Key"][len(TOMBSTONES):] for o in page.get("Contents", []))
        return sorted(out)


def open_store(settings) -> Store:
    if settings.archive_backend == "fs":
        return FsStore(settings.archive_dir)
    if settings.archive_backend == "s3":
        return S3Store(settings.s3_endpoint, settings.s3_bucket, settings.s3_region)
    raise SystemExit(f"COBOL_ARCHIVE_BACKEND must be fs or s3, not {settings.archive_backend!r}")


def iter_frames(store: Store, job_id: str) -> Iterator[tuple[int, bytes]]:
    """The job's frames in seq order (checksums verified); raises LookupError on a gap (an
    unfinished job) and DamagedFrame on a bad checksum."""
    keys = store.list(job_prefix(job_id))
    for expected, key in enumerate(keys):
        seq = seq_of(key)
        if seq != expected:
            raise LookupError(f"frame {expected} of job {job_id} is not archived (yet)")
        yield seq, unseal(store.get(key))
