"""Dictionaries: the federator's versions (lineage, ε spent, quality, A/B), their patterns,
and promote / roll back (admins; audited). Everything comes from the federator over gRPC."""
from __future__ import annotations

from typing import Annotated, Literal

import grpc
from cobol_proto import federation_pb2 as fpb
from fastapi import APIRouter, Path, Query, Request

from .. import fedsvc
from ..deps import Admin, Ctx, FederatorStub, Viewer
from ..schemas.common import AUTHED, error_responses
from ..schemas.dictionary import HEX_ID_PATTERN, DictionaryPage, DictionaryState, DictionaryStatus, PatternPage
from ..schemas.dictionary import Dictionary as DictionaryModel
from .common import Limit, Offset

router = APIRouter(prefix="/api/dictionaries", tags=["dictionaries"],
                   responses={**AUTHED, **error_responses(502, 503)})

VERSIONS_CAP = 10_000       # the federator's own cap on one listing
PATTERNS_CAP = 100_000
DictId = Annotated[str, Path(pattern=HEX_ID_PATTERN, description="16 lower-case hex digits")]
NOT_FOUND = error_responses(404)
PATTERN_KEYS = {"bytes_saved": lambda p: p["bytes_saved"], "frequency": lambda p: p["frequency"],
                "length": lambda p: p["length"], "text": lambda p: p["hex"]}


@router.get("", response_model=DictionaryPage)
async def list_dictionaries(ctx: Ctx, _user: Viewer, fed: FederatorStub, limit: Limit = 50, offset: Offset = 0,
                            status_: Annotated[DictionaryStatus | None, Query(alias="status")] = None,
                            training_id: Annotated[str | None, Query(max_length=64)] = None):
    """Every version, newest first, with the state the compressors use (current, A/B candidate)."""
    reply = await fedsvc.call(ctx, fed.ListDictionaries, fpb.ListDictionariesRequest(limit=VERSIONS_CAP), "dictionaries")
    st = await fedsvc.call(ctx, fed.GetState, fpb.StateRequest(), "dictionary state")
    rows = [fedsvc.dictionary(d) for d in reply.dictionaries]
    rows = [r for r in rows if (status_ is None or r["status"] == status_)
            and (training_id is None or r["training_id"] == training_id)]
    return {"items": rows[offset:offset + limit], "total": len(rows), "limit": limit, "offset": offset,
            "state": fedsvc.state(st)}


@router.get("/{dictionary_id}", response_model=DictionaryModel, responses={**NOT_FOUND, **error_responses(422)})
async def get_dictionary(dictionary_id: DictId, ctx: Ctx, _user: Viewer, fed: FederatorStub):
    d = await fedsvc.call(ctx, fed.GetDictionary, fpb.DictionaryId(id=dictionary_id), f"dictionary {dictionary_id}")
    return fedsvc.dictionary(d)


@router.get("/{dictionary_id}/patterns", response_model=PatternPage, responses=NOT_FOUND)
async def get_patterns(dictionary_id: DictId, ctx: Ctx, _user: Viewer, fed: FederatorStub,
                       limit: Limit = 50, offset: Offset = 0,
                       sort: Literal["bytes_saved", "frequency", "length", "text"] = "bytes_saved",
                       order: Literal["desc", "asc"] = "desc",
                       q: Annotated[str | None, Query(max_length=128, description="part of the pattern "
                                                      "(case-insensitive), or of its hex")] = None):
    """The version's patterns with their frequency (the DP release) and the bytes each saves."""
    reply = await fedsvc.call(ctx, fed.GetPatterns, fpb.PatternsRequest(id=dictionary_id, limit=PATTERNS_CAP),
                        f"patterns of {dictionary_id}")
    rows = select_patterns([fedsvc.pattern(p) for p in reply.patterns], sort, order, q)
    return {"id": dictionary_id, "items": rows[offset:offset + limit], "total": len(rows),
            "limit": limit, "offset": offset}


def select_patterns(rows: list[dict], sort: str, order: str, q: str | None) -> list[dict]:
    """Filter by `q` (in the text, case-insensitive, or in the hex) and sort; ties by bytes."""
    if q:
        needle = q.casefold()
        rows = [r for r in rows if needle in r["text"].casefold() or needle in r["hex"]]
    key = PATTERN_KEYS[sort]
    return sorted(rows, key=lambda r: (key(r), r["hex"]), reverse=order == "desc")


async def _change(action: str, dictionary_id: str, request: Request, ctx: Ctx, fed: FederatorStub) -> dict:
    request.state.audit = {"action": f"dictionary.{action}", "detail": {"dictionary_id": dictionary_id}}
    method = fed.Promote if action == "promote" else fed.Rollback
    try:
        st = await method(fpb.DictionaryId(id=dictionary_id), timeout=ctx.settings.grpc_timeout)
    except grpc.RpcError as exc:
        err = fedsvc.http_for_federator(exc, f"{action} {dictionary_id}")
        request.state.audit["detail"]["reason"] = str(err.detail)[:500]
        raise err from None
    out = fedsvc.state(st)
    request.state.audit["detail"].update(current_id=out["current_id"], candidate_id=out["candidate_id"])
    return out


@router.post("/{dictionary_id}/promote", response_model=DictionaryState, name="dictionary.promote",
             responses=NOT_FOUND)
async def promote(dictionary_id: DictId, request: Request, ctx: Ctx, _user: Admin, fed: FederatorStub):
    """Make this version current on every compressor (they switch without a restart); the
    previous one is retired. Promoting the current version changes nothing."""
    return await _change("promote", dictionary_id, request, ctx, fed)


@router.post("/{dictionary_id}/rollback", response_model=DictionaryState, name="dictionary.rollback",
             responses={**NOT_FOUND, **error_responses(409)})
async def rollback(dictionary_id: DictId, request: Request, ctx: Ctx, _user: Admin, fed: FederatorStub):
    """Reject the current version and restore the one it was promoted over (or none); only the
    current version can be rolled back (409 otherwise)."""
    return await _change("rollback", dictionary_id, request, ctx, fed)
