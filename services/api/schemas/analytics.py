"""Analytics answers: aggregates of bytes, ratio, MB/s and chunk latency (services/analytics)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Dimension = Literal["all", "node", "layer", "profile", "replica", "status"]
Metric = Literal["count", "bytes_in", "bytes_out", "codec_seconds", "ratio", "mb_per_s", "latency_mean",
                 "latency_p50", "latency_p99", "latency_max"]


class Aggregate(BaseModel):
    name: str = Field(description="the node, layer (L1..L7), profile, replica or status; `all` for everything")
    count: int = Field(description="frames (chunks for `replica`, jobs for `status`)")
    bytes_in: int
    bytes_out: int
    codec_seconds: float = Field(description="codec time summed over the frames")
    ratio: float = Field(description="bytes_in / bytes_out; 0 when nothing came out")
    mb_per_s: float = Field(description="bytes_in / 10^6 / codec_seconds; 0 when no time was spent")
    latency_mean: float = Field(description="codec seconds per chunk")
    latency_p50: float = Field(description="upper bound of the latency histogram bucket holding the median")
    latency_p99: float
    latency_max: float


class Range(BaseModel):
    start: float = Field(description="unix seconds, inclusive")
    end: float = Field(description="unix seconds, exclusive")
    step: int = Field(description="bucket size in seconds")


class Breakdown(BaseModel):
    by: Dimension
    range: Range | None = Field(None, description="the time range summed; null = all-time totals")
    items: list[Aggregate]


class Summary(BaseModel):
    all: Aggregate = Field(description="every frame")
    jobs: dict[str, int] = Field(description="jobs opened / done / failed / aborted")
    nodes: int = Field(description="compressor instances that produced frames")
    range: Range | None = None


class Point(BaseModel):
    t: float = Field(description="start of the bucket, unix seconds")
    value: float | None = Field(None, description="the requested metric of this bucket (with ?metric=)")
    aggregate: Aggregate


class Series(BaseModel):
    name: str
    points: list[Point]


class SeriesPage(BaseModel):
    by: Dimension
    metric: Metric | None = None
    range: Range
    window: int = Field(description="the tumbling window (s) the buckets were summed from")
    series: list[Series]
