"""gRPC Federator: the dictionary store for every service, the version controls (1:1 with
the API's REST routes) and the rounds' message endpoint for compressors."""
from __future__ import annotations

import grpc

from cobol_federation import ids
from cobol_federation.proto import fpb, fpb_grpc

from .rounds import Federation, Refused


def _info(d: dict, fed: Federation) -> fpb.DictionaryInfo:
    return fpb.DictionaryInfo(
        id=d["id"], parent_id=d["parent_id"] or "", training_id=d["training_id"], round=d["round_id"],
        status=d["status"], created_at=d["created_at"], size=d["size"], patterns=d["n_patterns"],
        epsilon_spent=d["epsilon_spent"], delta=d["delta"], nodes=d["nodes"], dropped=d["dropped"],
        ab_ratio=d["ab_bytes_in"] / d["ab_bytes_out"] if d["ab_bytes_out"] else 0.0, ab_chunks=d["ab_chunks"],
        agreement=d["agreement"], converged=d["converged"], estimated_bytes_saved=d["saved"])


def _limit(n: int, default: int = 100, cap: int = 10_000) -> int:
    return default if n == 0 else min(n, cap)


class FederatorServicer(fpb_grpc.FederatorServicer):
    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.store = fed.store

    def _call(self, context, fn, *args):
        try:
            return fn(*args)
        except Refused as exc:
            context.abort(getattr(grpc.StatusCode, exc.code), str(exc))

    def _dict(self, did: str, context) -> dict:
        return self._call(context, self.fed._known, did)

    def ListDictionaries(self, request, context):
        return fpb.DictionaryList(dictionaries=[_info(d, self.fed) for d in self.store.dictionaries(_limit(request.limit))])

    def GetDictionary(self, request, context):
        return _info(self._dict(request.id, context), self.fed)

    def GetPatterns(self, request, context):
        self._dict(request.id, context)
        pats = self.store.patterns(request.id)[:_limit(request.limit, 1000, 100_000)]
        return fpb.PatternList(id=request.id, patterns=[
            fpb.Pattern(text=bytes.fromhex(p), frequency=c, bytes_saved=s) for p, c, s in pats])

    def Promote(self, request, context):
        return self._call(context, self.fed.promote, request.id)

    def Rollback(self, request, context):
        return self._call(context, self.fed.rollback, request.id)

    def ListRounds(self, request, context):
        out = fpb.RoundList()
        for r in self.store.rounds(_limit(request.limit)):
            out.rounds.append(fpb.RoundInfo(
                round_id=r["id"], training_id=r["training_id"], level=r["level"], status=r["status"],
                opened_at=r["opened_at"], closed_at=r["closed_at"] or 0.0, invited=r["invited"],
                contributed=r["contributed"], dropped=r["dropped"], excluded=r["excluded"],
                dictionary_id=r["dictionary_id"], epsilon_spent=r["epsilon_spent"], reason=r["reason"],
                candidates=r["candidates"], seconds=(r["closed_at"] - r["opened_at"]) if r["closed_at"] else 0.0))
        return out

    def GetBudget(self, request, context):
        return self.fed.budget()

    def FetchDictionary(self, request, context):
        d = self._dict(request.id, context)
        return fpb.DictionaryBlob(info=_info(d, self.fed), content=self.store.content(request.id))

    def GetState(self, request, context):
        return self.fed.current_state()

    def ReportUsage(self, request, context):
        if any(u.dictionary_id and not ids.HEX_ID.fullmatch(u.dictionary_id) for u in request.usage):
            return fpb.Ack(accepted=False, reason="dictionary ids are 16 lower-case hex digits")
        if len(request.usage) > 1000 or any(max(u.chunks, u.bytes_in, u.bytes_out) >= 1 << 48 for u in request.usage):
            return fpb.Ack(accepted=False, reason="usage report out of range")
        self.fed.report_usage(request)
        return fpb.Ack(accepted=True)

    def GetRound(self, request, context):
        return self.fed.view(request.node_id[:64], request.known_round)

    def Submit(self, request, context):
        ok, reason = self.fed.submit(request)
        return fpb.Ack(accepted=ok, reason=reason)
