"""GET /api/analytics/*: the API in front of a real analytics worker on the real Kafka, fed
real records; every figure checked against totals computed independently by the feed.
Bad ranges are 422 (never 500), the worker stopped is 503."""
from __future__ import annotations

import time
import uuid

import httpx
import pytest

import api_harness as h  # noqa: E402
from analytics_harness import (AnalyticsProc, check_exact, make_feed, produce, producer,  # noqa: E402
                               wait_counted, wait_until)

pytestmark = pytest.mark.integration
STRONG = "Gr33n-Tea-Kettle!"
FIELDS = ("count", "bytes_in", "bytes_out")


@pytest.fixture(scope="module")
def world(infra, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analytics-api")
    kafka = infra["kafka"]["bootstrap_servers"]
    proc = AnalyticsProc(kafka, tmp, port=50170, metrics_port=9670)
    t0 = int(time.time()) // 60 * 60 - 600               # ten minutes ago, on a minute
    recs, exp = make_feed(n_jobs=12, frames_per_job=8, t0_ms=t0 * 1000, span_ms=150_000, seed=5)
    api = None
    try:
        api_port = h.free_port()
        proc.env["COBOL_API_URL"] = f"http://127.0.0.1:{api_port}"    # who gRPC callers' tokens belong to
        proc.start()
        proc.wait_ready()
        produce(producer(kafka), proc, recs)
        with proc.client() as c:
            wait_counted(c, exp, 180)
            check_exact(c, exp)
        env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
               "COBOL_ANALYTICS_ADDR": proc.addr,
               **{k: f"127.0.0.1:{h.free_port()}" for k in ("COBOL_INGEST_ADDR", "COBOL_COORDINATOR_ADDR",
                                                          "COBOL_ARCHIVE_ADDR")}}
        api = h.start_api(tmp, extra_env=env, port=api_port)
        with api.client(api.token()) as admin:
            name = f"viewer-{uuid.uuid4().hex[:8]}"
            assert admin.post("/api/users", json={"name": name, "password": STRONG, "role": "viewer"}).status_code == 201
        with api.client(api.token(name, STRONG)) as viewer:
            yield {"api": api, "proc": proc, "viewer": viewer, "exp": exp, "t0": t0}
    finally:
        if api is not None:
            h.stop_api(api)
        proc.stop()


def by_name(items: list[dict]) -> dict:
    return {i["name"]: tuple(i[f] for f in FIELDS) for i in items}


def expected(exp, dim: str) -> dict:
    return {name: (n, b_in, b_out) for name, (n, b_in, b_out, _us) in exp.by[dim].items()}


def test_summary_and_breakdowns_match_the_feed(world):
    v, exp = world["viewer"], world["exp"]
    s = v.get("/api/analytics/summary").json()
    assert (s["all"]["count"], s["all"]["bytes_in"], s["all"]["bytes_out"]) == expected(exp, "all")["all"]
    assert s["all"]["ratio"] == pytest.approx(s["all"]["bytes_in"] / s["all"]["bytes_out"])
    assert s["jobs"] == dict(exp.status) and s["nodes"] == len(exp.by["node"]) and s["range"] is None
    for path, dim in (("nodes", "node"), ("layers", "layer"), ("profiles", "profile"), ("replicas", "replica")):
        r = v.get(f"/api/analytics/{path}")
        assert r.status_code == 200, r.text
        assert r.json()["by"] == dim and by_name(r.json()["items"]) == expected(exp, dim), path


def test_ranges_and_series(world):
    v, exp, t0 = world["viewer"], world["exp"], world["t0"]
    rng = {"from": t0, "to": t0 + 300}
    nodes = v.get("/api/analytics/nodes", params=rng).json()
    assert by_name(nodes["items"]) == expected(exp, "node")          # every frame lies in the range
    assert nodes["range"]["start"] == t0 and nodes["range"]["end"] == t0 + 300
    early = v.get("/api/analytics/summary", params={"from": t0 + 60, "to": t0 + 120}).json()
    want = sum(n for (w, b), (n, _b_in) in exp.windows.items() if w == 10 and t0 + 60 <= b < t0 + 120)
    assert early["all"]["count"] == want
    iso = {"from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)), "to": t0 + 300}
    assert by_name(v.get("/api/analytics/nodes", params=iso).json()["items"]) == expected(exp, "node")
    for step, size in ((60, 60), (120, 60), (10, 10)):
        page = v.get("/api/analytics/series", params={**rng, "by": "all", "metric": "ratio", "step": step}).json()
        assert page["range"]["step"] == step and page["window"] == size
        points = page["series"][0]["points"]
        want = {}
        for (w, b), (n, _b_in) in exp.windows.items():
            if w == size and t0 <= b < t0 + 300:
                want[b // step * step] = want.get(b // step * step, 0) + n
        assert {p["t"]: p["aggregate"]["count"] for p in points} == want, step
        assert all(p["value"] == p["aggregate"]["ratio"] for p in points)
    per_profile = v.get("/api/analytics/series", params={**rng, "by": "profile", "step": 60}).json()
    assert {s["name"]: sum(p["aggregate"]["count"] for p in s["points"]) for s in per_profile["series"]} == \
        {k: n for k, (n, _i, _o) in expected(exp, "profile").items()}
    assert all(p["value"] is None for s in per_profile["series"] for p in s["points"])
    default = v.get("/api/analytics/series").json()                  # the last hour, automatic step
    assert default["range"]["end"] - default["range"]["start"] == 3600 and default["range"]["step"] == 10


@pytest.mark.parametrize("path,params,why", [
    ("series", {"from": 2000, "to": 1000}, "after"),
    ("series", {"window": "1w"}, "window must be"),
    ("series", {"window": "15m", "from": 1_700_000_000}, "either"),
    ("series", {"step": 7}, "step"),
    ("series", {"step": 0}, "step"),
    ("series", {"by": "nodes"}, "by"),
    ("series", {"by": "node\u0301"}, "by"),
    ("series", {"metric": "__class__"}, "metric"),
    ("series", {"from": "nan"}, "from"),
    ("series", {"from": "1e400"}, "from"),
    ("series", {"from": "2026-13-45T99:00:00Z"}, "from"),
    ("series", {"from": 946684000, "to": 946684800}, "between"),
    ("series", {"window": "30d", "step": 60}, "more than"),
    ("series", {"window": "2h", "step": 10}, "multiple of 60"),
    ("nodes", {"window": "x" * 9}, "window"),
    ("nodes", {"window": "40d"}, "31 days"),
    ("summary", {"to": "9999-01-01T00:00:00Z", "from": "2026-01-01T00:00:00Z"}, "between"),
])
def test_bad_ranges_are_422_with_a_clear_detail(world, path, params, why):
    r = world["viewer"].get(f"/api/analytics/{path}", params=params)
    assert r.status_code == 422, r.text
    assert why in r.json()["detail"]


def test_needs_a_token_and_refuses_nul(world):
    url = world["api"].url
    assert httpx.get(f"{url}/api/analytics/summary", timeout=30).status_code == 401
    assert world["viewer"].get("/api/analytics/series", params={"by": "all\x00"}).status_code == 400


def test_grpc_callers_need_a_viewer_token_and_a_mesh_certificate(world):
    from cobol_mesh.analytics_client import AnalyticsClient, AnalyticsError
    addr, token = world["proc"].addr, world["viewer"].headers["Authorization"].split()[1]
    with AnalyticsClient(addr, ident="client") as c:          # a certificate alone is not enough
        with pytest.raises(AnalyticsError) as err:
            c.totals("all")
        assert err.value.code.name == "UNAUTHENTICATED"
    with AnalyticsClient(addr, ident="client", metadata=[("authorization", f"Bearer {token}")]) as c:
        assert c.totals("all")["all"]["count"] == world["exp"].frames
    with AnalyticsClient(addr, ident="compressor") as c:      # a service that does not talk_to analytics
        with pytest.raises(AnalyticsError) as err:
            c.totals("all")
        assert err.value.code.name == "PERMISSION_DENIED"


def test_the_service_down_is_503_then_back(world):
    v, proc, exp = world["viewer"], world["proc"], world["exp"]
    assert proc.stop() == 0
    for path in ("summary", "nodes", "series"):
        r = v.get(f"/api/analytics/{path}")
        assert r.status_code == 503, r.text
        assert "analytics service is unavailable" in r.json()["detail"] and r.headers.get("retry-after")
    proc.start()                       # restored from its changelogs: the same totals
    proc.wait_ready()
    wait_until("analytics answers through the API again",
               lambda: v.get("/api/analytics/summary").status_code == 200, 120)
    assert v.get("/api/analytics/summary").json()["all"]["count"] == exp.frames
