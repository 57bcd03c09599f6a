"""Federated rounds (participants, dropouts, convergence) and the privacy budget, from the
federator over gRPC."""
from __future__ import annotations

from typing import Annotated, Literal

from cobol_proto import federation_pb2 as fpb
from fastapi import APIRouter, Query

from .. import fedsvc
from ..deps import Ctx, FederatorStub, Viewer
from ..schemas.common import AUTHED, error_responses
from ..schemas.federation import Budget, RoundPage
from .common import Limit, Offset
from .dictionaries import VERSIONS_CAP

router = APIRouter(prefix="/api/federation", tags=["federation"], responses={**AUTHED, **error_responses(502, 503)})
ROUNDS_CAP = 10_000


@router.get("/rounds", response_model=RoundPage)
async def list_rounds(ctx: Ctx, _user: Viewer, fed: FederatorStub, limit: Limit = 50, offset: Offset = 0,
                      status_: Annotated[Literal["open", "released", "failed"] | None, Query(alias="status")] = None,
                      training_id: Annotated[str | None, Query(max_length=64)] = None):
    """Rounds, newest first: who took part, who dropped out, what was left out and why, and
    the convergence of the version each released."""
    rounds = await fedsvc.call(ctx, fed.ListRounds, fpb.ListRoundsRequest(limit=ROUNDS_CAP), "rounds")
    versions = await fedsvc.call(ctx, fed.ListDictionaries, fpb.ListDictionariesRequest(limit=VERSIONS_CAP), "dictionaries")
    by_id = {d.id: d for d in versions.dictionaries}
    rows = [fedsvc.round_(r, by_id) for r in rounds.rounds]
    rows = [r for r in rows if (status_ is None or r["status"] == status_)
            and (training_id is None or r["training_id"] == training_id)]
    return {"items": rows[offset:offset + limit], "total": len(rows), "limit": limit, "offset": offset}


@router.get("/budget", response_model=Budget)
async def get_budget(ctx: Ctx, _user: Viewer, fed: FederatorStub):
    """The (ε, δ) budget of the latest training and how much of it its releases spent (the
    federator's privacy accountant; it refuses a release past the budget)."""
    return fedsvc.budget(await fedsvc.call(ctx, fed.GetBudget, fpb.BudgetRequest(), "budget"))
