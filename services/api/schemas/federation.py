"""Federated rounds and the privacy budget (from the federator)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .common import Page


class Round(BaseModel):
    id: int
    training_id: str
    level: int = Field(description="pattern length of its candidates = 2 << level")
    status: Literal["open", "released", "failed"]
    opened_at: str | None
    closed_at: str | None
    seconds: float | None = Field(description="open to close")
    participants: int = Field(description="nodes that advertised keys")
    contributed: int = Field(description="masked inputs summed")
    dropouts: int
    excluded: list[str] = Field(description="contributions left out, as `node: reason`")
    candidates: int
    dictionary_id: str | None = Field(description="the version this round released")
    epsilon_spent: float
    reason: str | None
    agreement: float | None = Field(description="convergence: how far the released version agrees with the "
                                                "previous one (0..1)")
    converged: bool


class RoundPage(Page[Round]):
    pass


class Budget(BaseModel):
    training_id: str | None = Field(description="the latest training (null = none yet)")
    epsilon: float = Field(description="the (ε, δ) budget of one training")
    delta: float
    epsilon_spent: float
    epsilon_remaining: float
    releases: int
    max_releases: int
    noise_multiplier: float
    accountant: str
    exhausted: bool
    status: Literal["running", "finished", "none"]
    reason: str | None
    dictionary_id: str | None = Field(description="the training's latest version")
