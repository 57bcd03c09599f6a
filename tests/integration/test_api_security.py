"""The API's identity and safety against real PostgreSQL and Redis (no mesh needed): sessions
and revocation, API keys, password policy and hashing, rate limits and lockout, NUL bytes,
secrets never echoed or logged, the role × endpoint matrix, the audit log, the OpenAPI
document. Each defect of issue 9 has its own test here or in test_api.py."""
from __future__ import annotations

import json
import time
import uuid

import httpx
import psycopg
import pytest

try:
    from . import api_harness as h  # type: ignore
except ImportError:  # tests/integration is not a package
    import api_harness as h  # type: ignore

pytestmark = pytest.mark.integration
STRONG = "Gr33n-Tea-Kettle!"


@pytest.fixture(scope="module")
def env(infra) -> dict[str, str]:
    return {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
            # no mesh here: point the gRPC addresses at closed ports
            **{k: f"127.0.0.1:{h.free_port()}" for k in ("COBOL_INGEST_ADDR", "COBOL_COORDINATOR_ADDR",
                                                       "COBOL_ARCHIVE_ADDR", "COBOL_ANALYTICS_ADDR")}}


@pytest.fixture(scope="module")
def api(env, tmp_path_factory):
    proc = h.start_api(tmp_path_factory.mktemp("api-sec"), extra_env=env)
    yield proc
    h.stop_api(proc)


@pytest.fixture(scope="module")
def admin(api):
    with api.client(api.token()) as c:
        yield c


def new_user(admin: httpx.Client, role: str = "viewer", **extra) -> tuple[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    r = admin.post("/api/users", json={"name": name, "password": STRONG, "role": role, **extra})
    assert r.status_code == 201, r.text
    return name, STRONG


def wait_closed(sock, deadline: float = 10) -> tuple[list[dict], int | None]:
    """Read until the server closes the socket; returns the messages and the close code."""
    msgs = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            msgs.append(json.loads(sock.recv(timeout=max(0.1, end - time.monotonic()))))
        except TimeoutError:
            break
        except Exception:  # noqa: BLE001 - closed
            return msgs, sock.close_code
    raise AssertionError(f"socket still open after {deadline}s: {msgs}")


# ---- sessions: refresh rotation, logout, revocation ----------------------------------------------


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(api):
    t = api.login()
    r = httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t["refresh_token"]})
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_token"] != t["refresh_token"] and t2["access_token"] != t["access_token"]
    # the old refresh token again: refused, and the whole session (t2 too) is revoked
    again = httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t["refresh_token"]})
    assert again.status_code == 401
    assert httpx.get(f"{api.url}/api/me", headers={"Authorization": f"Bearer {t2['access_token']}"}).status_code == 401
    assert httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t2["refresh_token"]}).status_code == 401
    assert httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": "x" * 40}).status_code == 401


def test_logout_revokes_access_and_refresh_tokens(api):
    t = api.login()
    auth = {"Authorization": f"Bearer {t['access_token']}"}
    other = api.login()        # another session of the same user stays valid
    assert httpx.post(f"{api.url}/api/auth/logout", headers=auth).status_code == 204
    assert httpx.get(f"{api.url}/api/me", headers=auth).status_code == 401
    assert httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t["refresh_token"]}).status_code == 401
    assert httpx.get(f"{api.url}/api/me", headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 200


def test_password_change_needs_the_current_password_and_revokes_every_token(api, admin):
    name, pw = new_user(admin, "operator")
    t = api.login(name, pw)
    auth = {"Authorization": f"Bearer {t['access_token']}"}
    sock, snap = api.ws(t["access_token"])
    assert snap["type"] == "snapshot" and snap["user"] == name
    url = f"{api.url}/api/users/{name}/password"
    new = "Blue-Moon-Over-Kettle-9"
    r = httpx.put(url, json={"password": new}, headers=auth)
    assert r.status_code == 422 and "current_password" in r.json()["detail"]
    assert httpx.put(url, json={"password": new, "current_password": "wrong-password-x"}, headers=auth).status_code == 403
    r = httpx.put(url, json={"password": "12345678", "current_password": pw}, headers=auth)
    assert r.status_code == 422 and "12345678" not in r.text
    assert httpx.put(url, json={"password": new, "current_password": pw}, headers=auth).status_code == 204
    assert httpx.get(f"{api.url}/api/me", headers=auth).status_code == 401           # access token revoked
    assert httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t["refresh_token"]}).status_code == 401
    msgs, code = wait_closed(sock)                                                    # the socket closed
    assert code == 4401 and msgs[-1]["type"] == "error"
    with pytest.raises(httpx.HTTPStatusError):
        api.login(name, pw)
    assert api.login(name, new)["access_token"]


def test_a_deleted_users_websocket_is_closed(api, admin):
    name, pw = new_user(admin)
    sock, snap = api.ws(api.token(name, pw))
    assert snap["type"] == "snapshot"
    assert admin.delete(f"/api/users/{name}").status_code == 204
    msgs, code = wait_closed(sock)
    assert code == 4401, msgs


def test_role_change_revokes_tokens_and_new_tokens_carry_the_role(api, admin):
    name, pw = new_user(admin, "viewer")
    tok = api.token(name, pw)
    assert admin.patch(f"/api/users/{name}", json={"role": "operator"}).json()["role"] == "operator"
    assert httpx.get(f"{api.url}/api/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    with api.client(api.token(name, pw)) as c:
        assert c.get("/api/me").json()["role"] == "operator"
    assert admin.patch("/api/users/admin", json={"role": "viewer"}).status_code == 409
    assert admin.patch("/api/users/admin", json={"disabled": True}).status_code == 409


def test_websocket_token_only_in_the_first_message(api, admin):
    import websockets.sync.client as wsc

    token = api.token()
    # a token in the URL is not a credential: the socket waits for the auth message, then closes
    with wsc.connect(f"ws://127.0.0.1:{api.port}/api/ws?token={token}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello"}))
        msg = json.loads(ws.recv(timeout=15))
        assert msg["type"] == "error" and msg["status"] == 401
    with wsc.connect(f"ws://127.0.0.1:{api.port}/api/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert json.loads(ws.recv(timeout=15))["status"] == 401
    sock, snap = api.ws(token)
    with sock:
        assert snap["type"] == "snapshot" and snap["user"] == "admin"
        sock.send("ping")
        # cluster pushes (nodes, kafka, alerts) may come first: the pong is among the next few
        types = [json.loads(sock.recv(timeout=10))["type"]]
        while types[-1] != "pong" and len(types) < 10:
            types.append(json.loads(sock.recv(timeout=10))["type"])
        assert types[-1] == "pong" and set(types[:-1]) <= {"nodes", "kafka", "alert"}, types


def test_tokens_and_passwords_never_reach_the_log(api, admin):
    name, pw = new_user(admin, "operator")
    t = api.login(name, pw)
    sock, _ = api.ws(t["access_token"])
    sock.close()
    httpx.post(f"{api.url}/api/auth/token", data={"username": name, "password": "wrong-" + pw})
    httpx.post(f"{api.url}/api/auth/refresh", json={"refresh_token": t["refresh_token"]})
    key = admin.post("/api/api-keys", json={"name": "log-probe", "role": "viewer"}).json()["key"]
    httpx.get(f"{api.url}/api/me", headers={"X-API-Key": key})
    log = api.log()
    for secret in (t["access_token"], t["refresh_token"], pw, key, admin.headers["Authorization"].split()[1]):
        assert secret not in log


# ---- passwords, hashing, lockout ------------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "password1234", "short", "qwertyuiop"])
def test_weak_passwords_are_refused_and_never_echoed(admin, password):
    r = admin.post("/api/users", json={"name": f"weak-{uuid.uuid4().hex[:6]}", "password": password, "role": "viewer"})
    assert r.status_code == 422
    assert password not in r.text


def test_password_containing_the_user_name_is_refused(admin):
    name = f"carol{uuid.uuid4().hex[:4]}"
    r = admin.post("/api/users", json={"name": name, "password": f"my-{name}-secret", "role": "viewer"})
    assert r.status_code == 422 and "user name" in r.json()["detail"]


def test_a_422_never_echoes_the_submitted_password(api, admin):
    secret = "Sup3r-Secret-Value-" + uuid.uuid4().hex
    r = admin.post("/api/users", json={"name": "bad name!", "password": secret, "role": "emperor"})
    assert r.status_code == 422 and secret not in r.text and "errors" in r.json()
    r = httpx.post(f"{api.url}/api/auth/token", data={"username": "x" * 65, "password": secret})
    assert r.status_code == 422 and secret not in r.text
    r = httpx.post(f"{api.url}/api/auth/token", data={"username": "admin", "password": secret, "grant_type": "magic"})
    assert r.status_code == 422 and secret not in r.text


def test_legacy_pbkdf2_hash_is_rehashed_with_argon2_at_login(api, admin):
    from services.api.security import hash_pbkdf2

    name, _ = new_user(admin)
    legacy = "Legacy-Pass-Phrase-7"
    with psycopg.connect(api.env["COBOL_PG_DSN"], autocommit=True) as conn:
        conn.execute(f'UPDATE "{api.schema}".api_users SET pw_hash = %s WHERE name = %s',
                     (hash_pbkdf2(legacy, 1000), name))
        assert api.token(name, legacy)
        stored = conn.execute(f'SELECT pw_hash FROM "{api.schema}".api_users WHERE name = %s', (name,)).fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert api.token(name, legacy)


@pytest.fixture(scope="module")
def strict_api(env, tmp_path_factory):
    proc = h.start_api(tmp_path_factory.mktemp("api-strict"), extra_env={
        **env, "COBOL_API_LOGIN_RATE": "8", "COBOL_API_LOCKOUT_FAILURES": "3", "COBOL_API_LOCKOUT_SECONDS": "600",
        "COBOL_API_RATE_PER_USER": "30"})
    # tokens first: the login-rate test below uses up this address's logins for a minute
    proc.admin_token = proc.token()
    with proc.client(proc.admin_token) as admin:
        name, pw = new_user(admin)
    proc.user_token = proc.token(name, pw)
    yield proc
    h.stop_api(proc)


def test_failed_logins_lock_the_account_until_an_admin_unlocks(strict_api):
    with strict_api.client(strict_api.admin_token) as admin:
        name, pw = new_user(admin)
        url = f"{strict_api.url}/api/auth/token"
        codes = [httpx.post(url, data={"username": name, "password": f"wrong-{i}-password"}).status_code for i in range(3)]
        assert codes == [401, 401, 401]
        locked = httpx.post(url, data={"username": name, "password": pw})   # right password, locked account
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert admin.post(f"/api/users/{name}/unlock").status_code == 204
        assert httpx.post(url, data={"username": name, "password": pw}).status_code == 200


def test_login_rate_limit_per_address(strict_api):
    url = f"{strict_api.url}/api/auth/token"
    codes = [httpx.post(url, data={"username": f"nobody{i}", "password": "whatever-pass"}).status_code
             for i in range(10)]
    assert 429 in codes and codes[0] == 401
    r = httpx.post(url, data={"username": "nobody", "password": "whatever-pass"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_request_rate_limit_per_user(strict_api):
    with strict_api.client(strict_api.user_token) as c:
        # 70 requests against 30/min: whatever the minute boundary, one window sees more than 30
        replies = [c.get("/api/me") for _ in range(70)]
    codes = [r.status_code for r in replies]
    assert codes[0] == 200 and 429 in codes and codes.index(429) >= 15
    limited = replies[codes.index(429)]
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and "per user" in limited.json()["detail"]


# ---- NUL bytes and hostile parameters ---------------------------------------------------------------


@pytest.mark.parametrize("method,path,kw", [
    ("GET", "/api/audit?who=ad%00min", {}), ("GET", "/api/audit?action=%00", {}),
    ("GET", "/api/users/ad%00min", {}), ("DELETE", "/api/users/a%00b", {}),
    ("GET", "/api/jobs?q=%00", {}), ("GET", "/api/jobs/abc%00def", {}), ("GET", "/api/api-keys/%00", {}),
    ("GET", "/api/users?q=a%00b", {}), ("PUT", "/api/users/x%00/password", {"json": {"password": "x"}})])
def test_nul_in_path_or_query_is_400(admin, method, path, kw):
    r = admin.request(method, path, **kw)
    assert r.status_code == 400, r.text


def test_nul_in_form_and_json_is_422(api, admin):
    r = httpx.post(f"{api.url}/api/auth/token", data={"username": "ad\x00min", "password": "whatever-1234"})
    assert r.status_code == 422
    r = admin.post("/api/users", json={"name": "a\u0000b", "password": STRONG, "role": "viewer"})
    assert r.status_code == 422
    r = admin.post("/api/api-keys", json={"name": "k\u0000", "role": "viewer"})
    assert r.status_code == 422
    r = admin.post("/api/jobs", json={"data_file": "a\u0000b"})
    assert r.status_code == 422


def test_credentials_in_the_url_are_refused(api):
    r = httpx.post(f"{api.url}/api/auth/token?username=admin&password=x",
                   data={"username": "admin", "password": api.admin_password})
    assert r.status_code == 400


# ---- API keys ------------------------------------------------------------------------------------------


def test_api_keys_are_shown_once_hashed_role_bounded_and_revocable(api, admin):
    name, pw = new_user(admin, "operator")
    with api.client(api.token(name, pw)) as op:
        assert op.post("/api/api-keys", json={"name": "too-strong", "role": "admin"}).status_code == 403
        r = op.post("/api/api-keys", json={"name": "ci", "role": "viewer", "expires_in_days": 30})
        assert r.status_code == 201, r.text
        created = r.json()
        key = created["key"]
        listed = op.get("/api/api-keys").json()
        assert listed["total"] == 1 and "key" not in listed["items"][0]
        assert "key" not in op.get(f"/api/api-keys/{created['id']}").json()
    with psycopg.connect(api.env["COBOL_PG_DSN"], autocommit=True) as conn:
        stored = conn.execute(f'SELECT key_hash FROM "{api.schema}".api_keys WHERE id = %s', (created["id"],)).fetchone()[0]
    assert key not in stored and len(stored) == 64
    me = httpx.get(f"{api.url}/api/me", headers={"X-API-Key": key}).json()
    assert (me["name"], me["role"], me["auth"]) == (name, "viewer", "api_key")
    assert httpx.get(f"{api.url}/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # a key cannot mint keys, nor submit jobs beyond its role
    assert httpx.post(f"{api.url}/api/api-keys", json={"name": "x", "role": "viewer"},
                      headers={"X-API-Key": key}).status_code == 403
    assert httpx.post(f"{api.url}/api/jobs", json={"data_file": "x"}, headers={"X-API-Key": key}).status_code == 403
    assert httpx.delete(f"{api.url}/api/api-keys/{created['id']}", headers={"X-API-Key": key}).status_code == 204
    assert httpx.get(f"{api.url}/api/me", headers={"X-API-Key": key}).status_code == 401
    assert httpx.get(f"{api.url}/api/me", headers={"X-API-Key": key[:-1] + "A"}).status_code == 401


# ---- the role × endpoint matrix (docs/API.md) ------------------------------------------------------------

# (method, path, body, minimum role). "self" rows are allowed on one's own user for any role.
MATRIX = [
    ("GET", "/api/me", None, "viewer"), ("GET", "/api/roles", None, "viewer"),
    ("GET", "/api/profiles", None, "viewer"), ("GET", "/api/stats", None, "viewer"),
    ("GET", "/api/auth/whoami", None, "viewer"), ("GET", "/api/auth/sessions", None, "viewer"),
    ("GET", "/api/api-keys", None, "viewer"), ("POST", "/api/api-keys", {"name": "m", "role": "viewer"}, "viewer"),
    ("GET", "/api/jobs", None, "viewer"), ("GET", "/api/jobs/nope", None, "viewer"),
    ("GET", "/api/jobs/nope/progress", None, "viewer"), ("GET", "/api/jobs/nope/result", None, "viewer"),
    ("GET", "/api/jobs/nope/original", None, "viewer"), ("GET", "/api/jobs/nope/layers", None, "viewer"),
    ("GET", "/api/jobs/nope/history", None, "viewer"),
    ("POST", "/api/jobs", {"data_file": "none.log"}, "operator"), ("POST", "/api/jobs/nope/cancel", None, "operator"),
    ("DELETE", "/api/jobs/nope", None, "operator"),
    ("GET", "/api/users", None, "admin"), ("POST", "/api/users", {"name": "x", "password": "p"}, "admin"),
    ("GET", "/api/users/admin", None, "admin"), ("PATCH", "/api/users/nobody-here", {"role": "viewer"}, "admin"),
    ("DELETE", "/api/users/nobody-here", None, "admin"), ("POST", "/api/users/nobody-here/unlock", None, "admin"),
    ("PUT", "/api/users/admin/password", {"password": "x"}, "admin"),
    ("GET", "/api/audit", None, "admin"), ("GET", "/api/audit/1", None, "admin"),
    ("GET", "/api/cluster/nodes", None, "viewer"), ("GET", "/api/cluster/nodes/{instance}", None, "viewer"),
    ("GET", "/api/cluster/events", None, "viewer"), ("GET", "/api/cluster/replicas", None, "viewer"),
    ("GET", "/api/cluster/leader", None, "viewer"),
    ("GET", "/api/dictionaries", None, "viewer"), ("GET", "/api/dictionaries/0123456789abcdef", None, "viewer"),
    ("GET", "/api/dictionaries/0123456789abcdef/patterns", None, "viewer"),
    ("POST", "/api/dictionaries/0123456789abcdef/promote", None, "admin"),
    ("POST", "/api/dictionaries/0123456789abcdef/rollback", None, "admin"),
    ("GET", "/api/federation/rounds", None, "viewer"), ("GET", "/api/federation/budget", None, "viewer"),
    ("GET", "/api/analytics/summary", None, "viewer"), ("GET", "/api/analytics/series", None, "viewer"),
    ("GET", "/api/analytics/nodes", None, "viewer"), ("GET", "/api/analytics/layers", None, "viewer"),
    ("GET", "/api/analytics/profiles", None, "viewer"), ("GET", "/api/analytics/replicas", None, "viewer"),
]
PUBLIC = [("GET", "/api/health"), ("GET", "/api/live"), ("GET", "/api/ready"), ("GET", "/api/metrics"),
          ("GET", "/api/openapi.json")]
RANK = {"viewer": 1, "operator": 2, "admin": 3}


@pytest.fixture(scope="module")
def role_tokens(api, admin):
    return {role: api.token(*new_user(admin, role)) for role in ("viewer", "operator")} | {"admin": api.token()}


@pytest.mark.parametrize("method,path,body,minimum", MATRIX, ids=[f"{m} {p}" for m, p, _b, _r in MATRIX])
def test_role_matrix(api, role_tokens, method, path, body, minimum):
    anon = httpx.request(method, f"{api.url}{path}", json=body, timeout=30)
    assert anon.status_code == 401, anon.text
    for role, token in role_tokens.items():
        r = httpx.request(method, f"{api.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                          timeout=30)
        if RANK[role] < RANK[minimum]:
            assert r.status_code == 403, (role, r.text)
        else:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)


@pytest.mark.parametrize("method,path", PUBLIC)
def test_public_endpoints(api, method, path):
    assert httpx.request(method, f"{api.url}{path}", timeout=30).status_code in (200, 503)


def test_every_operation_is_in_the_matrix_or_public(api):
    spec = httpx.get(f"{api.url}/api/openapi.json").json()
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    covered = {(m, p) for m, p, _b, _r in MATRIX} | set(PUBLIC) | {("POST", "/api/auth/token"),
                                                                   ("POST", "/api/auth/refresh"),
                                                                   ("POST", "/api/auth/logout"),
                                                                   ("DELETE", "/api/auth/sessions/{sid}"),
                                                                   ("GET", "/api/api-keys/{key_id}"),
                                                                   ("DELETE", "/api/api-keys/{key_id}")}
    templated = {(m, p.replace("nope", "{job_id}").replace("admin", "{name}").replace("nobody-here", "{name}")
                  .replace("/1", "/{entry_id}").replace("0123456789abcdef", "{dictionary_id}")) for m, p in covered}
    missing = sorted(op for op in ops if op not in covered and op not in templated)
    assert not missing, missing
    assert len(ops) >= 30, len(ops)


# ---- the OpenAPI document ------------------------------------------------------------------------------------


def test_openapi_documents_every_error_response(api):
    spec = httpx.get(f"{api.url}/api/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "400" in codes, (method, path)                       # NUL bytes, conflicts
            if op.get("security"):
                assert {"401", "403", "429"} <= codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if op.get("parameters", []) and any(p["in"] == "path" for p in op["parameters"]) or \
                    path.startswith("/api/jobs"):
                assert "503" in codes or not path.startswith("/api/jobs"), (method, path)
    submit = spec["paths"]["/api/jobs"]["post"]
    assert {"409", "413"} <= set(submit["responses"])
    assert set(submit["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    profile = next(p for p in submit["parameters"] if p["name"] == "profile")
    assert "" in json.dumps(profile["schema"])   # an empty ?profile= is in the schema: it means the default


# ---- the audit log ----------------------------------------------------------------------------------------------


def test_audit_records_state_changes_with_who_what_where_outcome(api, admin):
    name, _ = new_user(admin)
    admin.patch(f"/api/users/{name}", json={"see_all_jobs": True})
    admin.delete(f"/api/users/{name}")
    admin.delete(f"/api/users/{name}")      # a second time: not found, recorded too
    r = admin.get("/api/audit", params={"who": "admin", "action": "user.delete", "limit": 10})
    assert r.status_code == 200
    rows = [e for e in r.json()["items"] if e["detail"].get("name") == name]
    assert [e["outcome"] for e in rows] == ["not_found", "ok"]
    assert all(e["client"] == "127.0.0.1" and e["method"] == "DELETE" and e["path"] == "/api/users/{name}"
               for e in rows)
    since = rows[-1]["at"]
    page = admin.get("/api/audit", params={"since": since, "limit": 2, "offset": 0}).json()
    assert page["limit"] == 2 and len(page["items"]) == 2 and page["total"] >= 2
    one = admin.get(f"/api/audit/{rows[0]['id']}").json()
    assert one["id"] == rows[0]["id"]
    denied = admin.get("/api/audit", params={"action": "auth.login", "outcome": "denied"}).json()
    assert all("password" not in json.dumps(e["detail"]) for e in denied["items"])


def test_lists_paginate_the_same_way(admin):
    for _ in range(3):
        new_user(admin)
    first = admin.get("/api/users", params={"limit": 2, "offset": 0}).json()
    second = admin.get("/api/users", params={"limit": 2, "offset": 2}).json()
    assert set(first) == set(second) == {"items", "total", "limit", "offset"}
    assert first["total"] == second["total"] >= 4 and len(first["items"]) == 2
    assert not {u["name"] for u in first["items"]} & {u["name"] for u in second["items"]}
    assert admin.get("/api/users", params={"limit": 0}).status_code == 422
    assert admin.get("/api/users", params={"limit": 1001}).status_code == 422
    assert admin.get("/api/users", params={"role": "viewer"}).json()["items"][0]["role"] == "viewer"
