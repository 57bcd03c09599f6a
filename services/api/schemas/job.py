from __future__ import annotations

from pydantic import BaseModel, Field

from ..enums import JobState, Profile, ProfileOrEmpty


class JobReference(BaseModel):
    """A job from a file the API can read: under COBOL_API_IMPORT_ROOT, or an S3 object."""
    data_file: str = Field(min_length=1, max_length=1024, pattern=r"^[^\x00]+$",
                           description="a path relative to COBOL_API_IMPORT_ROOT, or s3://bucket/key")
    profile: ProfileOrEmpty = Field("", description="empty: the default (fast)")
    layers: str = Field("", max_length=64, description="layers the codec may run, e.g. 1-4 or 1,2,6-7; empty = all")
    dictionary: str = Field("", max_length=16, description="a dictionary id (16 hex digits), none, or empty = current")
    name: str | None = Field(None, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")


class JobAccepted(BaseModel):
    id: str
    status: JobState = "queued"
    name: str
    profile: Profile
    layers: str = ""
    dictionary: str = ""
    bytes_in: int
    sha256: str | None = None


class Job(BaseModel):
    id: str
    status: JobState
    progress: float
    bytes_in: int
    bytes_out: int
    ratio: float | None
    name: str
    source: str
    profile: str
    owner: str | None = None
    layers: str = ""
    dictionary: str = ""
    created_at: str | None
    finished_at: str | None
    reason: str | None
    chunk_count: int = 0
    chunks_archived: int = 0
    sha256: str | None = None


class Progress(BaseModel):
    id: str
    status: JobState
    progress: float
    chunks_archived: int
    chunk_count: int
    bytes_in: int
    bytes_out: int


class LayerStat(BaseModel):
    layer: str = Field(description="L1..L7 (coding stages) or the structure split of a frame")
    streams: int = Field(description="streams the layer ran on")
    bytes_in: int
    bytes_out: int


class LayerStats(BaseModel):
    id: str
    frames: int
    bytes_in: int
    bytes_out: int
    layers: list[LayerStat]
