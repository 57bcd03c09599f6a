/**
 * The session: the access token (and a refresh token when the API offers one), kept in
 * sessionStorage so a reload keeps the user logged in but a closed tab does not.
 *
 * One object owns the tokens. Requests ask it for the token; a 401 asks it to refresh once
 * (single flight: concurrent 401s share one refresh); when that is impossible the session
 * expires, and listeners (the router) send the user to the login page.
 */
import { detailOf, ApiError } from "../api/errors";

export interface Tokens {
  access: string;
  refresh?: string;
  /** epoch ms when the access token expires */
  expiresAt: number;
}

export interface TokenReply {
  access_token: string;
  refresh_token?: string | null;
  expires_in?: number | null;
}

const KEY = "cobol.session";
/** Refresh this long before the access token expires. */
const REFRESH_EARLY_MS = 60_000;

export type SessionEvent = "changed" | "expired";

export interface SessionOptions {
  storage?: Storage;
  fetch?: typeof fetch;
  /** does the server offer POST /api/auth/refresh? (asked lazily: the capabilities load later) */
  canRefresh?: () => boolean;
  canLogout?: () => boolean;
  now?: () => number;
}

export class Session {
  private tokens: Tokens | null;
  private listeners = new Set<(e: SessionEvent) => void>();
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private storage: Storage | undefined;
  private http: typeof fetch;
  private now: () => number;
  canRefresh: () => boolean;
  canLogout: () => boolean;
  /** why the last session ended: the login page says "your session expired" */
  endedBy: "expired" | "logout" | null = null;

  constructor(opts: SessionOptions = {}) {
    this.storage = opts.storage ?? (typeof sessionStorage !== "undefined" ? sessionStorage : undefined);
    this.http = opts.fetch ?? ((...a) => fetch(...a));
    this.now = opts.now ?? Date.now;
    this.canRefresh = opts.canRefresh ?? (() => false);
    this.canLogout = opts.canLogout ?? (() => false);
    this.tokens = this.read();
    this.schedule();
  }

  get accessToken(): string | null {
    return this.tokens?.access ?? null;
  }

  get loggedIn(): boolean {
    return this.tokens !== null;
  }

  on(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** OAuth2 password login (POST /api/auth/token, form-encoded). Throws ApiError. */
  async login(username: string, password: string): Promise<void> {
    const body = new URLSearchParams({ username, password });
    const res = await this.http("/api/auth/token", { method: "POST", body });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, detailOf(data, res.status));
    this.accept(data as TokenReply);
  }

  /** Store a token reply (from login or refresh). */
  accept(reply: TokenReply): void {
    if (!reply || typeof reply.access_token !== "string" || !reply.access_token) {
      throw new ApiError(502, "the server sent no access token");
    }
    const ttl = typeof reply.expires_in === "number" && reply.expires_in > 0 ? reply.expires_in : 3600;
    this.tokens = {
      access: reply.access_token,
      refresh: reply.refresh_token ?? this.tokens?.refresh ?? undefined,
      expiresAt: this.now() + ttl * 1000,
    };
    this.endedBy = null;
    this.write();
    this.schedule();
    this.emit("changed");
  }

  /**
   * Get a new access token with the refresh token. Resolves false when the server offers no
   * refresh or refuses it. Concurrent callers share one request.
   */
  refresh(): Promise<boolean> {
    if (!this.tokens?.refresh || !this.canRefresh()) return Promise.resolve(false);
    if (!this.refreshing) {
      const token = this.tokens.refresh;
      this.refreshing = (async () => {
        try {
          const res = await this.http("/api/auth/refresh", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ refresh_token: token }),
          });
          if (!res.ok) return false;
          this.accept(await res.json());
          return true;
        } catch {
          return false;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  /** The server refused our token and it could not be refreshed. */
  expire(): void {
    if (!this.tokens) return;
    this.clear();
    this.endedBy = "expired";
    this.emit("expired");
  }

  async logout(): Promise<void> {
    const tokens = this.tokens;
    this.clear();
    this.endedBy = "logout";
    this.emit("changed");
    if (tokens && this.canLogout()) {
      // best effort: revoke on the server; the local session is gone either way
      await this.http("/api/auth/logout", {
        method: "POST",
        headers: { Authorization: `Bearer ${tokens.access}`, "Content-Type": "application/json" },
        body: JSON.stringify(tokens.refresh ? { refresh_token: tokens.refresh } : {}),
      }).catch(() => undefined);
    }
  }

  private clear(): void {
    this.tokens = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.storage?.removeItem(KEY);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.tokens?.refresh) return;
    const wait = Math.max(this.tokens.expiresAt - REFRESH_EARLY_MS - this.now(), 1000);
    this.timer = setTimeout(() => void this.refresh(), wait);
  }

  private emit(e: SessionEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private read(): Tokens | null {
    try {
      const raw = this.storage?.getItem(KEY);
      if (!raw) return null;
      const t = JSON.parse(raw) as Tokens;
      if (typeof t.access !== "string" || typeof t.expiresAt !== "number") return null;
      // an expired access token without a way to refresh it is no session
      if (t.expiresAt <= this.now() && !t.refresh) return null;
      return t;
    } catch {
      return null;
    }
  }

  private write(): void {
    try {
      this.storage?.setItem(KEY, JSON.stringify(this.tokens));
    } catch {
      /* storage full or disabled: the session lives in memory only */
    }
  }
}
