"""The dictionary and federation routes of the REST API against a real federator (its own
PostgreSQL schema, seeded with two trained versions and their rounds), and the read path of
dictionary-coded jobs: a job compressed with a named dictionary by the real compressors comes
back byte for byte through REST (whole and by range), the archive fetching the dictionary
from the federator. The federator is stopped last: every route then answers 503."""
from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from corpora import CORPORA
from federation_seed import seeded_stack
from waiting import wait_until

pytestmark = pytest.mark.integration
JOB_DEADLINE = float(os.environ.get("COBOL_TEST_JOB_DEADLINE", "180"))
HOSTILE_IDS = ("ABCDEF0123456789", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg", "é" * 16,
               "0123456789abcdef%0A", " 123456789abcdef", "0x23456789abcdef", "state", "a" * 5000)


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    with seeded_stack(infra, tmp_path_factory.mktemp("dictapi")) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack):
    _, api, _ = stack
    with api.client() as c:
        yield c


def _as(stack, admin, role: str) -> httpx.Client:
    _, api, _ = stack
    name = f"dict-{role}"
    if admin.get(f"/api/users/{name}").status_code == 404:
        r = admin.post("/api/users", json={"name": name, "password": "quartz-Heron-7141", "role": role})
        assert r.status_code == 201, r.text
    return api.client(api.token(name, "quartz-Heron-7141"))


def test_versions_lineage_quality_and_state(stack, admin):
    _, _, s = stack
    r = admin.get("/api/dictionaries", params={"limit": 1000})
    assert r.status_code == 200, r.text
    page = r.json()
    by_id = {d["id"]: d for d in page["items"]}
    assert {s["first"], s["second"]} <= set(by_id) and page["total"] == len(page["items"])
    second = by_id[s["second"]]
    assert second["parent_id"] == s["first"] and by_id[s["first"]]["parent_id"] is None     # lineage
    assert second["training_id"] == s["training_id"] and second["status"] == "candidate"
    assert second["epsilon_spent"] == pytest.approx(0.8) and second["converged"] is True
    assert second["size"] == len(s["dicts"][s["second"]].content) and second["patterns"] == 41
    assert second["estimated_bytes_saved"] > 0 and second["ab_ratio"] is None
    assert set(page["state"]) == {"current_id", "candidate_id", "candidate_share", "seq", "at"}
    # paged like every list, and filtered
    one = admin.get("/api/dictionaries", params={"limit": 1, "offset": 1}).json()
    assert one["limit"] == 1 and one["offset"] == 1 and one["items"] == page["items"][1:2]
    mine = admin.get("/api/dictionaries", params={"training_id": s["training_id"], "status": "candidate"}).json()
    assert {d["id"] for d in mine["items"]} == {s["first"], s["second"]} and mine["total"] == 2
    assert admin.get("/api/dictionaries", params={"status": "bogus"}).status_code == 422
    got = admin.get(f"/api/dictionaries/{s['first']}")
    assert got.status_code == 200 and got.json() == by_id[s["first"]]


def test_patterns_sort_search_and_page(stack, admin):
    _, _, s = stack
    url = f"/api/dictionaries/{s['second']}/patterns"
    every = admin.get(url, params={"limit": 1000}).json()
    assert every["id"] == s["second"] and every["total"] == 41 == len(every["items"])
    saved = [p["bytes_saved"] for p in every["items"]]
    assert saved == sorted(saved, reverse=True) and all(p["frequency"] > 0 for p in every["items"])
    for p in every["items"]:
        assert bytes.fromhex(p["hex"]) and p["length"] == len(bytes.fromhex(p["hex"]))
        assert p["bytes_saved"] == pytest.approx(p["frequency"] * (p["length"] - 3))
        assert bytes.fromhex(p["hex"]) in s["dicts"][s["second"]].content or p["hex"].startswith("fffe")
    freq = admin.get(url, params={"sort": "frequency", "order": "asc", "limit": 1000}).json()["items"]
    assert [p["frequency"] for p in freq] == sorted(p["frequency"] for p in every["items"])
    odd = admin.get(url, params={"q": "CAFé"}).json()       # case-insensitive, unicode, bytes escaped
    assert odd["total"] == 1 and odd["items"][0]["text"] == "\\xff\\xfeERROR café"
    assert admin.get(url, params={"q": "fffe45"}).json()["total"] == 1                       # by hex
    assert admin.get(url, params={"q": "no such pattern anywhere"}).json() == {
        "id": s["second"], "items": [], "total": 0, "limit": 50, "offset": 0}
    page = admin.get(url, params={"limit": 5, "offset": 5}).json()
    assert page["items"] == every["items"][5:10] and page["total"] == 41
    for bad in ({"sort": "id"}, {"order": "up"}, {"limit": 0}, {"limit": 1001}, {"offset": -1}, {"q": "x" * 129}):
        assert admin.get(url, params=bad).status_code == 422, bad


def test_hostile_ids_are_refused_never_500(stack, admin):
    _, _, s = stack
    for bad in HOSTILE_IDS:
        for path in (f"/api/dictionaries/{bad}", f"/api/dictionaries/{bad}/patterns"):
            r = admin.get(path)
            assert r.status_code in (404, 422), (path, r.status_code, r.text)
        r = admin.post(f"/api/dictionaries/{bad}/promote")
        assert r.status_code in (404, 405, 422), (bad, r.status_code)
    for raw in ("%2e%2e", "..%2F..%2Fetc%2Fpasswd", "a/b", "a%2Fb", "%E2%80%AE" * 8):   # sent as is
        assert admin.get(f"/api/dictionaries/{raw}").status_code in (404, 422), raw
    assert admin.get("/api/dictionaries/0123456789abcdef%00").status_code == 400
    r = admin.get("/api/dictionaries/0123456789abcdef")                 # well-formed, unknown
    assert r.status_code == 404 and "not found" in r.json()["detail"]
    assert admin.post("/api/dictionaries/0123456789abcdef/promote").status_code == 404
    assert admin.get(f"/api/dictionaries/{s['first']}").status_code == 200   # nothing changed


def test_promote_and_rollback_are_admin_only_and_audited(stack, admin):
    _, _, s = stack
    first, second = s["first"], s["second"]
    for role in ("viewer", "operator"):
        with _as(stack, admin, role) as c:
            assert c.get("/api/dictionaries").status_code == 200
            assert c.get("/api/federation/budget").status_code == 200
            for action in ("promote", "rollback"):
                r = c.post(f"/api/dictionaries/{first}/{action}")
                assert r.status_code == 403 and "admin" in r.json()["detail"], (role, action, r.text)
    with httpx.Client(base_url=admin.base_url) as anon:
        assert anon.post(f"/api/dictionaries/{first}/promote").status_code == 401
    assert admin.get("/api/dictionaries").json()["state"]["current_id"] is None       # refused = unchanged

    st = admin.post(f"/api/dictionaries/{first}/promote")
    assert st.status_code == 200 and st.json()["current_id"] == first, st.text
    st2 = admin.post(f"/api/dictionaries/{second}/promote").json()
    assert st2["current_id"] == second and st2["seq"] > st.json()["seq"]
    assert admin.get(f"/api/dictionaries/{first}").json()["status"] == "retired"
    r = admin.post(f"/api/dictionaries/{first}/rollback")               # not the current one
    assert r.status_code == 409 and "not the current version" in r.json()["detail"]
    back = admin.post(f"/api/dictionaries/{second}/rollback")
    assert back.status_code == 200 and back.json()["current_id"] == first
    assert admin.get(f"/api/dictionaries/{second}").json()["status"] == "rejected"
    assert admin.get("/api/dictionaries").json()["state"]["current_id"] == first

    rows = admin.get("/api/audit", params={"limit": 200}).json()["items"]
    mine = [(e["action"], e["outcome"], e["detail"].get("dictionary_id")) for e in rows
            if e["action"].startswith("dictionary.")]
    assert ("dictionary.promote", "ok", first) in mine and ("dictionary.promote", "ok", second) in mine
    assert ("dictionary.rollback", "ok", second) in mine and ("dictionary.rollback", "conflict", first) in mine
    assert {(e["action"], e["who"]) for e in rows if e["outcome"] == "forbidden"} >= {
        ("dictionary.promote", "dict-viewer"), ("dictionary.rollback", "dict-operator")}
    ok = next(e for e in rows if e["action"] == "dictionary.rollback" and e["outcome"] == "ok")
    assert ok["who"] == "admin" and ok["detail"]["current_id"] == first and ok["client"]


def test_federator_grpc_needs_the_role_of_the_rest_call(stack, admin):
    """External gRPC callers (the `client` certificate) present a token; reading is viewer,
    promote is admin, the rounds' protocol is for compressors (admin for anyone else)."""
    import grpc
    from cobol_mesh import grpc_auth
    from cobol_proto import federation_pb2 as fpb, federation_pb2_grpc as fgrpc

    mesh, api, s = stack
    _as(stack, admin, "viewer").close()
    stub = fgrpc.FederatorStub(grpc_auth.channel(mesh.env["COBOL_FEDERATOR_ADDR"], "client"))
    viewer = grpc_auth.bearer(api.token("dict-viewer", "quartz-Heron-7141"))
    with pytest.raises(grpc.RpcError) as exc:
        stub.ListDictionaries(fpb.ListDictionariesRequest(), timeout=30)
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    got = stub.ListDictionaries(fpb.ListDictionariesRequest(), timeout=30, metadata=viewer)
    assert {s["first"], s["second"]} <= {d.id for d in got.dictionaries}
    assert stub.FetchDictionary(fpb.DictionaryId(id=s["first"]), timeout=30, metadata=viewer).content == \
        s["dicts"][s["first"]].content
    assert stub.GetBudget(fpb.BudgetRequest(), timeout=30, metadata=viewer).epsilon == 1.0
    for call, req in ((stub.Promote, fpb.DictionaryId(id=s["first"])), (stub.Rollback, fpb.DictionaryId(id=s["first"])),
                      (stub.Submit, fpb.SignedEnvelope(node_id="intruder")), (stub.ReportUsage, fpb.UsageReport())):
        with pytest.raises(grpc.RpcError) as exc:
            call(req, timeout=30, metadata=viewer)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
    current = admin.get("/api/dictionaries").json()["state"]["current_id"]
    st = stub.Promote(fpb.DictionaryId(id=current), timeout=30, metadata=grpc_auth.bearer(api.token()))
    assert st.current_id == current                       # promoting the current version changes nothing


def test_rounds_and_budget(stack, admin):
    _, _, s = stack
    r = admin.get("/api/federation/rounds", params={"training_id": s["training_id"]})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 3 and [x["id"] for x in page["items"]] == sorted(s["rounds"], reverse=True)
    failed, second, first = page["items"]
    assert failed["status"] == "failed" and failed["reason"].startswith("quorum") and failed["dictionary_id"] is None
    assert first["participants"] == 5 and first["contributed"] == 4 and first["dropouts"] == 1
    assert first["excluded"] == ["node-9 (masked): vector length 3 != 500"]
    assert first["dictionary_id"] == s["first"] and first["converged"] is False
    assert second["agreement"] == pytest.approx(0.97) and second["converged"] is True
    assert second["seconds"] > 0 and second["closed_at"].endswith("Z")
    assert admin.get("/api/federation/rounds", params={"status": "failed", "training_id": s["training_id"]}
                     ).json()["total"] == 1
    everything = admin.get("/api/federation/rounds", params={"limit": 1000}).json()
    assert everything["total"] >= 3
    b = admin.get("/api/federation/budget").json()
    assert b["epsilon"] == 1.0 and b["delta"] == 1e-6 and 0 <= b["epsilon_spent"] <= b["epsilon"]
    assert b["epsilon_remaining"] == pytest.approx(b["epsilon"] - b["epsilon_spent"])
    assert b["noise_multiplier"] > 0 and b["accountant"] and b["status"] in ("running", "finished")


def _loghub(*systems: str) -> bytes:
    return b"".join((CORPORA / "loghub" / f"{x}_2k.log").read_bytes() for x in systems)


def test_dictionary_coded_job_comes_back_byte_exact(stack, admin):
    from cobol_codec import decompress
    from cobol_codec.errors import DictionaryError

    _, _, s = stack
    data = _loghub("Zookeeper", "HDFS")
    files = {"file": ("with-dict.log", data, "application/octet-stream")}
    r = admin.post("/api/jobs", data={"profile": "fast", "dictionary": s["second"]}, files=files)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["dictionary"] == s["second"]
    job = wait_until("the dictionary job done", lambda: (j := admin.get(f"/api/jobs/{job_id}").json())["status"]
                     in ("done", "failed") and j, JOB_DEADLINE)
    assert job["status"] == "done", job
    result = admin.get(f"/api/jobs/{job_id}/result").content
    with pytest.raises(DictionaryError):
        decompress(result)                                   # the frames name the dictionary ...
    assert decompress(result, dictionary=s["dicts"][s["second"]]) == data   # ... and only it decodes them
    orig = admin.get(f"/api/jobs/{job_id}/original")
    assert orig.status_code == 200 and orig.content == data
    assert orig.headers["x-cobol-sha256"] == hashlib.sha256(data).hexdigest()
    lo, hi = len(data) // 3, len(data) // 3 + 70_000
    part = admin.get(f"/api/jobs/{job_id}/original", headers={"Range": f"bytes={lo}-{hi}"})
    assert part.status_code == 206 and part.content == data[lo:hi + 1]
    tail = admin.get(f"/api/jobs/{job_id}/original", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]


def test_federator_down_is_503_with_a_clear_detail(stack, admin):
    """Last in this module: it stops the federator."""
    mesh, _, s = stack
    p = mesh.procs.pop("federator-1")
    p.terminate()
    p.wait(30)
    for path in ("/api/dictionaries", f"/api/dictionaries/{s['first']}", f"/api/dictionaries/{s['first']}/patterns",
                 "/api/federation/rounds", "/api/federation/budget"):
        r = admin.get(path)
        assert r.status_code == 503 and "federator is unavailable" in r.json()["detail"], (path, r.text)
        assert r.headers.get("retry-after")
    r = admin.post(f"/api/dictionaries/{s['first']}/promote")
    assert r.status_code == 503 and "federator" in r.json()["detail"]
