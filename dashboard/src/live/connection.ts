/**
 * The live connection: one WebSocket to the API, shared by every page, that reconnects with
 * backoff and dispatches messages by their `type` ("snapshot", "job", ...).
 *
 * How the socket authenticates is a Strategy (the API's /api/ws takes the token in the first
 * message; it ignores a token in the URL, which would also leak it into logs). Strategies in
 * LIVE_STRATEGIES are tried in order until one gets a message through; the one that worked
 * is kept for reconnects.
 */
export interface Strategy {
  name: string;
  url(origin: string, token: string): string;
  /** called when the socket opens, e.g. to send the auth message */
  onOpen(ws: WebSocketLike, token: string): void;
}

export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
}

export type LiveState = "idle" | "connecting" | "open" | "reconnecting" | "unauthorized";
export type LiveMessage = { type: string; [k: string]: unknown };

/** Connect without credentials, send `{"type": "auth", "token"}` first (4401 on a bad token). */
export const firstMessage = (path: string): Strategy => ({
  name: `first-message:${path}`,
  url: (origin) => `${origin}${path}`,
  onOpen: (ws, token) => ws.send(JSON.stringify({ type: "auth", token })),
});

export const LIVE_STRATEGIES: Strategy[] = [firstMessage("/api/ws")];

/** Close codes that mean "your credentials were refused". */
const UNAUTHORIZED = new Set([4401, 4403, 1008]);
const PING_MS = 25_000;

export interface LiveOptions {
  strategies?: Strategy[];
  origin?: string;
  getToken(): string | null;
  /** a 4401: refresh the token if possible; resolve false to give up (the session expires) */
  onUnauthorized(): Promise<boolean>;
  createSocket?: (url: string) => WebSocketLike;
  backoff?: { firstMs: number; maxMs: number };
}

export class LiveConnection {
  state: LiveState = "idle";
  private ws: WebSocketLike | null = null;
  private strategyIndex = 0;
  private confirmed = false;
  private gotMessage = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private handlers = new Map<string, Set<(m: LiveMessage) => void>>();
  private stateListeners = new Set<(s: LiveState) => void>();
  private strategies: Strategy[];
  private stopped = true;

  constructor(private opts: LiveOptions) {
    this.strategies = opts.strategies ?? LIVE_STRATEGIES;
  }

  /** Receive messages of one type ("*" for all). Returns the unsubscribe function. */
  subscribe(type: string, handler: (m: LiveMessage) => void): () => void {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type)!.add(handler);
    return () => this.handlers.get(type)?.delete(handler);
  }

  onState(listener: (s: LiveState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  get strategy(): string {
    return this.strategies[this.strategyIndex]?.name ?? "";
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "bye");
    }
    this.setState("idle");
  }

  /** Drop the socket and connect again now (after a new login, for instance). */
  restart(): void {
    this.stop();
    this.attempt = 0;
    this.start();
  }

  private connect(): void {
    const token = this.opts.getToken();
    if (!token) {
      this.setState("unauthorized");
      return;
    }
    const strategy = this.strategies[this.strategyIndex];
    const origin = this.opts.origin ?? defaultOrigin();
    const create = this.opts.createSocket ?? ((url: string) => new WebSocket(url) as unknown as WebSocketLike);
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    this.gotMessage = false;
    const ws = create(strategy.url(origin, token));
    this.ws = ws;
    ws.onopen = () => {
      strategy.onOpen(ws, token);
      this.pingTimer = setInterval(() => {
        if (ws.readyState === 1) ws.send("ping");
      }, PING_MS);
    };
    ws.onmessage = (ev) => this.dispatch(ev.data);
    ws.onerror = () => undefined; // onclose follows and decides
    ws.onclose = (ev) => this.closed(ev.code);
  }

  private dispatch(data: unknown): void {
    let msg: LiveMessage;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return; // not ours: ignore rather than break the page
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    if (msg.type === "error" && (msg.status === 401 || msg.status === 403)) return; // the close follows
    if (!this.gotMessage) {
      this.gotMessage = true;
      this.confirmed = true;
      this.attempt = 0;
      this.setState("open");
    }
    for (const h of [...(this.handlers.get(msg.type) ?? []), ...(this.handlers.get("*") ?? [])]) h(msg);
  }

  private async closed(code: number): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.ws = null;
    if (this.stopped) return;
    if (UNAUTHORIZED.has(code)) {
      this.setState("unauthorized");
      if (await this.opts.onUnauthorized()) {
        this.attempt = 0;
        if (!this.stopped) this.connect();
      }
      return;
    }
    // A strategy that never got a message through (the endpoint does not exist on this
    // server) gives way to the next one, until one has worked.
    if (!this.confirmed && !this.gotMessage && this.strategyIndex < this.strategies.length - 1) {
      this.strategyIndex += 1;
      this.connect();
      return;
    }
    if (!this.confirmed && !this.gotMessage) this.strategyIndex = 0;
    this.attempt += 1;
    const { firstMs, maxMs } = this.opts.backoff ?? { firstMs: 500, maxMs: 10_000 };
    const wait = Math.min(maxMs, firstMs * 2 ** Math.min(this.attempt - 1, 10)) * (0.8 + 0.4 * Math.random());
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = this.pingTimer = null;
  }

  private setState(s: LiveState): void {
    if (this.state === s) return;
    this.state = s;
    for (const l of [...this.stateListeners]) l(s);
  }
}

function defaultOrigin(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}`;
}
