"""The federator's gRPC answers in their REST shapes, and its errors as HTTP errors."""
from __future__ import annotations

import datetime as dt

import grpc
from fastapi import HTTPException, status

RETRY = {"Retry-After": "2"}


def http_for_federator(exc: grpc.RpcError, what: str) -> HTTPException:
    code = exc.code() if hasattr(exc, "code") else None
    detail = exc.details() if hasattr(exc, "details") else ""
    if code == grpc.StatusCode.NOT_FOUND:
        return HTTPException(status.HTTP_404_NOT_FOUND, f"{what}: not found")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return HTTPException(422, f"{what}: {detail}")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return HTTPException(status.HTTP_409_CONFLICT, f"{what}: {detail}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                             f"{what}: the federator is unavailable ({code.name}); retry", headers=RETRY)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"{what}: the federator failed ({code.name if code else 'error'})")


async def call(ctx, method, request, what: str):
    """One unary call to the federator, its failure as an HTTP error."""
    try:
        return await method(request, timeout=ctx.settings.grpc_timeout)
    except grpc.RpcError as exc:
        raise http_for_federator(exc, what) from None


def iso(ts: float) -> str | None:
    if not ts:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def dictionary(d) -> dict:
    return {"id": d.id, "parent_id": d.parent_id or None, "training_id": d.training_id, "round": d.round,
            "status": d.status,
            "created_at": iso(d.created_at), "size": d.size, "patterns": d.patterns,
            "epsilon_spent": d.epsilon_spent, "delta": d.delta, "nodes": d.nodes, "dropped": d.dropped,
            "ab_ratio": round(d.ab_ratio, 4) if d.ab_ratio else None, "ab_chunks": d.ab_chunks,
            "agreement": d.agreement, "converged": d.converged, "estimated_bytes_saved": d.estimated_bytes_saved}


def state(s) -> dict:
    return {"current_id": s.current_id or None, "candidate_id": s.candidate_id or None,
            "candidate_share": s.candidate_share, "seq": s.seq, "at": iso(s.at)}


def pattern(p) -> dict:
    text = bytes(p.text)
    return {"text": text.decode("utf-8", "backslashreplace"), "hex": text.hex(), "length": len(text),
            "frequency": p.frequency, "bytes_saved": p.bytes_saved}


def round_(r, versions: dict) -> dict:
    v = versions.get(r.dictionary_id) if r.dictionary_id else None
    return {"id": r.round_id, "training_id": r.training_id, "level": r.level,
            "status": r.status if r.status in ("open", "released", "failed") else "failed",
            "opened_at": iso(r.opened_at), "closed_at": iso(r.closed_at), "seconds": r.seconds or None,
            "participants": r.invited, "contributed": r.contributed, "dropouts": r.dropped,
            "excluded": list(r.excluded), "candidates": r.candidates, "dictionary_id": r.dictionary_id or None,
            "epsilon_spent": r.epsilon_spent, "reason": r.reason or None,
            "agreement": v.agreement if v is not None else None, "converged": bool(v is not None and v.converged)}


def budget(b) -> dict:
    return {"training_id": b.training_id or None, "epsilon": b.epsilon, "delta": b.delta,
            "epsilon_spent": b.epsilon_spent, "epsilon_remaining": max(0.0, b.epsilon - b.epsilon_spent),
            "releases": b.releases, "max_releases": b.max_releases, "noise_multiplier": b.noise_multiplier,
            "accountant": b.accountant, "exhausted": b.exhausted,
            "status": b.status if b.status in ("running", "finished") else "none", "reason": b.reason or None,
            "dictionary_id": b.dictionary_id or None}
