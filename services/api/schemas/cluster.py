"""The cluster as REST sees it: nodes (the proto Node's fields, same names), node events, replica
health (archives, jobs, Kafka's in-sync replicas) and the coordinator leader."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

class PartitionLoad(BaseModel):
    topic: str
    partition: int = Field(description="-1: only the count of assigned partitions is known")
    lag: int = Field(description="high watermark - position; -1 unknown")
    count: int = Field(description="with partition -1: how many partitions of the topic are assigned")


class Node(BaseModel):
    instance: str
    role: str
    host: str
    pid: int
    version: str
    status: str = Field(description="alive | suspect | down | left")
    last_heartbeat: str | None = Field(description="ISO 8601, the coordinator's clock at receipt")
    status_since: str | None
    cpu_percent: float = Field(description="of one core, over the last beat interval")
    rss_bytes: int
    partitions: list[PartitionLoad]
    started_at: str | None
    beats: int
    reason: str | None = Field(description="why the status last changed")
    lag: int | None = Field(description="total of the known partition lags (null: none known)")


class NodeEvent(BaseModel):
    seq: int
    at: str | None
    instance: str
    role: str
    kind: str = Field(description="joined | suspect | down | alive | left | restarted")
    status: str
    reason: str | None
    pid: int


class NodeEventPage(BaseModel):
    items: list[NodeEvent] = Field(description="newest first")
    total: int = Field(description="events on this page (the history is paged by sequence number)")
    limit: int
    offset: int = Field(0, description="always 0: page with next_before_seq")
    next_before_seq: int | None = Field(description="pass as before_seq for the next page; null: no more")


class ArchiveReplica(BaseModel):
    replica: str
    status: str = Field(description="alive | suspect | down | left | unknown")
    chunks: int = Field(description="chunks of the listed jobs it holds")


class JobReplicas(BaseModel):
    job_id: str
    status: str
    chunk_count: int
    min_replicas: int
    chunks_at_min: int
    chunks_under: int
    per_replica: dict[str, int]
    healthy: bool


class KafkaPartition(BaseModel):
    topic: str
    partition: int
    leader: int = Field(description="broker id; -1: offline")
    replicas: list[int]
    isr: list[int]


class KafkaTopic(BaseModel):
    topic: str
    partitions: int
    replication_factor: int
    min_isr: int = Field(description="the smallest in-sync replica set among its partitions")
    under_replicated: int
    offline: int


class KafkaReplicas(BaseModel):
    available: bool
    error: str | None
    brokers: int
    topics: list[KafkaTopic]
    under_replicated: list[KafkaPartition]
    offline: list[KafkaPartition]


class ReplicaReport(BaseModel):
    min_replicas: int
    archives: list[ArchiveReplica]
    jobs: list[JobReplicas]
    kafka: KafkaReplicas


class Leader(BaseModel):
    leader: str | None = Field(description="the coordinator instance holding the lease (null: none)")
    fencing_token: int
    answered_by: str
    answered_by_leader: bool


class ClusterHealth(BaseModel):
    status: Literal["ok", "degraded", "unknown"]
    reasons: list[str]
    alive: dict[str, int] = Field(description="role -> live instances")
    down: dict[str, int] = Field(description="role -> suspect or down instances")
    leader: str | None
    fencing_token: int
