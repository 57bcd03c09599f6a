import { describe, expect, it, vi } from "vitest";
import { Session } from "./session";

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() { return m.size; },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

const reply = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("Session", () => {
  it("logs in with the OAuth2 form and keeps the token across a reload", async () => {
    const storage = memoryStorage();
    const http = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      expect(String(init?.body)).toBe("username=ann&password=p%40ss+word");
      return reply({ access_token: "A1", token_type: "bearer", expires_in: 60 });
    });
    const s = new Session({ storage, fetch: http as typeof fetch });
    await s.login("ann", "p@ss word");
    expect(s.accessToken).toBe("A1");
    expect(new Session({ storage }).accessToken).toBe("A1");
  });

  it("reports the server's reason when the login is refused", async () => {
    const s = new Session({ storage: memoryStorage(), fetch: (async () => reply({ detail: "wrong user name or password" }, 401)) as typeof fetch });
    await expect(s.login("x", "y")).rejects.toThrow("wrong user name or password");
    expect(s.loggedIn).toBe(false);
  });

  it("shares one refresh between concurrent callers and stores the new tokens", async () => {
    let calls = 0;
    const http = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      if (String(url).endsWith("/api/auth/token")) return reply({ access_token: "A1", refresh_token: "R1", expires_in: 60 });
      calls += 1;
      expect(JSON.parse(String(init?.body))).toEqual({ refresh_token: "R1" });
      return reply({ access_token: "A2", refresh_token: "R2", expires_in: 60 });
    });
    const s = new Session({ storage: memoryStorage(), fetch: http as typeof fetch, canRefresh: () => true });
    await s.login("ann", "pw");
    const results = await Promise.all([s.refresh(), s.refresh(), s.refresh()]);
    expect(results).toEqual([true, true, true]);
    expect(calls).toBe(1);
    expect(s.accessToken).toBe("A2");
  });

  it("does not try to refresh when the server offers no refresh endpoint", async () => {
    const http = vi.fn(async () => reply({ access_token: "A1", refresh_token: "R1", expires_in: 60 }));
    const s = new Session({ storage: memoryStorage(), fetch: http as typeof fetch, canRefresh: () => false });
    await s.login("ann", "pw");
    expect(await s.refresh()).toBe(false);
    expect(http).toHaveBeenCalledTimes(1);
  });

  it("expiring clears the tokens and tells the listeners once", async () => {
    const storage = memoryStorage();
    const s = new Session({ storage, fetch: (async () => reply({ access_token: "A1", expires_in: 60 })) as typeof fetch });
    await s.login("ann", "pw");
    const events: string[] = [];
    s.on((e) => events.push(e));
    s.expire();
    s.expire();
    expect(events).toEqual(["expired"]);
    expect(s.loggedIn).toBe(false);
    expect(storage.getItem("cobol.session")).toBeNull();
  });

  it("ignores a stored session whose token has expired and cannot be refreshed", () => {
    const storage = memoryStorage();
    storage.setItem("cobol.session", JSON.stringify({ access: "old", expiresAt: 1000 }));
    expect(new Session({ storage, now: () => 5000 }).loggedIn).toBe(false);
    storage.setItem("cobol.session", "{not json");
    expect(new Session({ storage }).loggedIn).toBe(false);
  });
});
