"""Pure parts of the dictionary and federation routes: the federator's messages in their REST
shapes, its gRPC errors as HTTP errors, and the patterns' search and sort (no services)."""
from __future__ import annotations

import grpc
import pytest

import services  # noqa: F401  (library paths)
from cobol_proto import federation_pb2 as fpb
from services.api import fedsvc
from services.api.routes.dictionaries import select_patterns


def _err(code: grpc.StatusCode, details: str = "why") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize("code, http, text", [
    (grpc.StatusCode.NOT_FOUND, 404, "not found"),
    (grpc.StatusCode.INVALID_ARGUMENT, 422, "why"),
    (grpc.StatusCode.FAILED_PRECONDITION, 409, "why"),
    (grpc.StatusCode.UNAVAILABLE, 503, "federator is unavailable (UNAVAILABLE)"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 503, "federator is unavailable"),
    (grpc.StatusCode.INTERNAL, 502, "federator failed (INTERNAL)"),
    (grpc.StatusCode.PERMISSION_DENIED, 502, "PERMISSION_DENIED"),
])
def test_grpc_errors_become_clear_http_errors(code, http, text):
    e = fedsvc.http_for_federator(_err(code), "dictionary 0123456789abcdef")
    assert e.status_code == http and text in e.detail and e.detail.startswith("dictionary 0123456789abcdef")
    assert (e.headers or {}).get("Retry-After") == ("2" if http == 503 else None)


def test_pattern_bytes_are_exact_in_hex_and_readable_in_text():
    p = fedsvc.pattern(fpb.Pattern(text=b"\xff GET caf\xc3\xa9\x00", frequency=10.5, bytes_saved=94.5))
    assert bytes.fromhex(p["hex"]) == b"\xff GET caf\xc3\xa9\x00" and p["length"] == 12
    assert (p["frequency"], p["bytes_saved"]) == (10.5, 94.5)
    assert p["text"] == "\\xff GET café\x00"


def test_dictionary_and_state_shapes():
    d = fedsvc.dictionary(fpb.DictionaryInfo(id="00000000000000aa", parent_id="", training_id="t1", round=3,
                                             status="current", created_at=0, size=100, patterns=4, ab_ratio=0.0))
    assert d["parent_id"] is None and d["created_at"] is None and d["ab_ratio"] is None and d["status"] == "current"
    st = fedsvc.state(fpb.DictionaryState(current_id="00000000000000aa", candidate_id="", candidate_share=0.1,
                                          seq=7, at=1.7e9))
    assert st == {"current_id": "00000000000000aa", "candidate_id": None, "candidate_share": 0.1, "seq": 7,
                  "at": "2023-11-14T22:13:20Z"}


def test_rounds_carry_the_convergence_of_the_version_they_released():
    versions = {"00000000000000aa": fpb.DictionaryInfo(id="00000000000000aa", agreement=0.96, converged=True)}
    released = fedsvc.round_(fpb.RoundInfo(round_id=4, status="released", invited=5, contributed=4, dropped=1,
                                           excluded=["n9: bad length"], dictionary_id="00000000000000aa"), versions)
    assert (released["participants"], released["contributed"], released["dropouts"]) == (5, 4, 1)
    assert released["agreement"] == 0.96 and released["converged"] is True and released["excluded"] == ["n9: bad length"]
    open_ = fedsvc.round_(fpb.RoundInfo(round_id=5, status="open", opened_at=1.0), versions)
    assert open_["agreement"] is None and open_["converged"] is False and open_["closed_at"] is None
    assert open_["dictionary_id"] is None and open_["seconds"] is None


def test_budget_remaining_never_negative():
    b = fedsvc.budget(fpb.Budget(epsilon=1.0, delta=1e-6, epsilon_spent=1.0000001, status="finished"))
    assert b["epsilon_remaining"] == 0.0 and b["status"] == "finished" and b["training_id"] is None
    assert fedsvc.budget(fpb.Budget(epsilon=1.0, epsilon_spent=0.25))["epsilon_remaining"] == 0.75
    assert fedsvc.budget(fpb.Budget())["status"] == "none"


ROWS = [fedsvc.pattern(fpb.Pattern(text=t, frequency=f, bytes_saved=f * (len(t) - 3)))
        for t, f in ((b"ERROR block", 10), (b"INFO dfs.DataNode", 50), (b"error: \xff", 30), (b"WARN x", 50))]


def test_patterns_search_is_case_insensitive_on_text_and_matches_hex():
    assert [r["text"] for r in select_patterns(ROWS, "frequency", "desc", "error")] == ["error: \\xff", "ERROR block"]
    assert len(select_patterns(ROWS, "bytes_saved", "desc", "ff")) == 1          # the hex of \xff
    assert select_patterns(ROWS, "bytes_saved", "desc", "nothing") == []


@pytest.mark.parametrize("sort", ["bytes_saved", "frequency", "length", "text"])
def test_patterns_sort_both_ways_with_a_stable_tie_break(sort):
    desc = select_patterns(ROWS, sort, "desc", None)
    asc = select_patterns(ROWS, sort, "asc", None)
    assert desc == asc[::-1] and len(desc) == 4
    key = {"text": "hex"}.get(sort, sort)
    assert [r[key] for r in asc] == sorted(r[key] for r in ROWS)
