import { describe, expect, it, vi } from "vitest";
import { Session } from "../auth/session";
import { authFetch } from "./client";

const ok = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

function sessionWith(access: string, canRefresh: boolean, refreshTo: string | null) {
  const http = vi.fn(async () => (refreshTo ? ok({ access_token: refreshTo, expires_in: 60 }) : ok({ detail: "no" }, 401)));
  const storage = window.sessionStorage;
  storage.clear();
  storage.setItem("cobol.session", JSON.stringify({ access, refresh: "R", expiresAt: Date.now() + 60_000 }));
  return new Session({ storage, fetch: http as typeof fetch, canRefresh: () => canRefresh });
}

describe("authFetch", () => {
  it("sends the bearer token", async () => {
    const s = sessionWith("A1", false, null);
    const http = vi.fn(async (req: Request) => ok({ auth: req.headers.get("Authorization") }));
    const res = await authFetch(s, http as unknown as typeof fetch)("/api/me");
    expect(await res.json()).toEqual({ auth: "Bearer A1" });
  });

  it("refreshes once on a 401 and retries the request, body included", async () => {
    const s = sessionWith("old", true, "new");
    const seen: string[] = [];
    const http = vi.fn(async (req: Request) => {
      seen.push(`${req.headers.get("Authorization")} ${await req.text()}`);
      return req.headers.get("Authorization") === "Bearer new" ? ok({ fine: true }) : ok({ detail: "token expired" }, 401);
    });
    const res = await authFetch(s, http as unknown as typeof fetch)("/api/users", { method: "POST", body: "{\"a\":1}" });
    expect(res.status).toBe(200);
    expect(seen).toEqual(["Bearer old {\"a\":1}", "Bearer new {\"a\":1}"]);
    expect(s.loggedIn).toBe(true);
  });

  it("expires the session when the token is refused and cannot be refreshed", async () => {
    const s = sessionWith("old", false, null);
    const expired = vi.fn();
    s.on(expired);
    const http = vi.fn(async () => ok({ detail: "token expired" }, 401));
    const res = await authFetch(s, http as unknown as typeof fetch)("/api/jobs");
    expect(res.status).toBe(401);
    expect(expired).toHaveBeenCalledWith("expired");
    expect(s.loggedIn).toBe(false);
  });

  it("leaves the session alone on a 403 (a role, not a token, problem)", async () => {
    const s = sessionWith("A1", true, "A2");
    const http = vi.fn(async () => ok({ detail: "this needs the admin role" }, 403));
    const res = await authFetch(s, http as unknown as typeof fetch)("/api/users");
    expect(res.status).toBe(403);
    expect(http).toHaveBeenCalledTimes(1);
    expect(s.accessToken).toBe("A1");
  });
});
