"""Dictionary versions, their patterns and the served state (from the federator)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .common import Page

# interim: released by a round of a training still running; imported: added by an operator
DictionaryStatus = Literal["interim", "candidate", "current", "retired", "rejected", "imported"]
HEX_ID_PATTERN = r"^[0-9a-f]{16}$"


class Dictionary(BaseModel):
    id: str = Field(description="16 lower-case hex digits (the content hash)")
    parent_id: str | None = Field(description="lineage: the version it was trained after")
    training_id: str
    round: int = Field(description="the federated round that released it")
    status: DictionaryStatus
    created_at: str | None
    size: int = Field(description="bytes of content")
    patterns: int
    epsilon_spent: float = Field(description="ε of its training spent when it was released")
    delta: float
    nodes: int = Field(description="nodes whose input was in the releasing round")
    dropped: int
    ab_ratio: float | None = Field(description="compression ratio of the chunks it coded (A/B); null = none yet")
    ab_chunks: int
    agreement: float = Field(description="similarity with the previous version of its training (0..1)")
    converged: bool
    estimated_bytes_saved: float = Field(description="quality: sum over its patterns of noisy count × (length − 3)")


class DictionaryState(BaseModel):
    """What the compressors use: the current version and the A/B candidate."""
    current_id: str | None
    candidate_id: str | None
    candidate_share: float = Field(description="share of live chunks sent through the candidate")
    seq: int
    at: str | None


class DictionaryPage(Page[Dictionary]):
    state: DictionaryState


class Pattern(BaseModel):
    text: str = Field(description="the pattern as UTF-8 (undecodable bytes as \\xNN escapes)")
    hex: str = Field(description="the pattern's exact bytes")
    length: int
    frequency: float = Field(description="noisy count of records containing it (the DP release)")
    bytes_saved: float = Field(description="estimate: frequency × (length − 3)")


class PatternPage(Page[Pattern]):
    id: str
