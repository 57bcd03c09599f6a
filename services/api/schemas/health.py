from __future__ import annotations

from pydantic import BaseModel, Field

from .cluster import ClusterHealth


class Health(BaseModel):
    status: str
    instance: str


class Readiness(BaseModel):
    status: str = Field(description="ok | degraded | not ready | error")
    instance: str
    checks: dict[str, str]
    reasons: list[str] = Field(default_factory=list, description="why it is not ok, one sentence each")
    cluster: ClusterHealth | None = Field(None, description="the coordinator's Cluster.Health")
