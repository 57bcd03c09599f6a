/**
 * Test doubles for the component tests: a scripted HTTP server behind `fetch` (the API's
 * answers per "METHOD /path"), a controllable WebSocket, and services wired like the app's.
 */
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router";
import { vi } from "vitest";
import openapi from "../api/openapi.json";
import { Capabilities, type OpenApiDoc } from "../api/capabilities";
import { makeClient } from "../api/client";
import { Session } from "../auth/session";
import { TestProvider, type Me, type Services } from "../context";
import { LiveConnection, type WebSocketLike } from "../live/connection";

export const realDoc = openapi as unknown as OpenApiDoc;

export type Handler = (req: Request) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Install a fetch that answers from `routes` ("GET /api/jobs" -> handler); records every request. */
/** A list answer of the API: one page `{items, total, limit, offset}`. */
export function page<T>(items: T[], total = items.length, limit = 100, offset = 0) {
  return { items, total, limit, offset };
}

export function fakeFetch(routes: Record<string, Handler>) {
  const calls: Request[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost:3000"), init);
    calls.push(req);
    const url = new URL(req.url);
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) return json({ detail: "Not Found" }, 404);
    return handler(req);
  });
  vi.stubGlobal("fetch", fn);
  return { fn, calls };
}

export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }
  serverClose(code: number) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
}

export function makeServices(opts: { doc?: OpenApiDoc | null; token?: string | null } = {}): Services {
  const storage = window.sessionStorage;
  storage.clear();
  if (opts.token !== null) {
    storage.setItem("cobol.session", JSON.stringify({ access: opts.token ?? "tok-1", expiresAt: Date.now() + 3_600_000 }));
  }
  const caps = new Capabilities(opts.doc === undefined ? realDoc : opts.doc);
  const session = new Session({ storage, canRefresh: () => caps.has("post", "/api/auth/refresh") });
  FakeSocket.all = [];
  const live = new LiveConnection({
    getToken: () => session.accessToken,
    onUnauthorized: async () => false,
    origin: "ws://test",
    createSocket: (url) => new FakeSocket(url),
  });
  return { session, client: makeClient(session), caps, live };
}

export function renderWith(node: ReactNode, { services, me, path = "/" }: { services: Services; me: Me | null; path?: string }) {
  return render(
    <TestProvider services={services} me={me}>
      <MemoryRouter initialEntries={[path]}>{node}</MemoryRouter>
    </TestProvider>,
  );
}

export const ADMIN: Me = { name: "admin", role: "admin" };
export const OPERATOR: Me = { name: "olga", role: "operator" };
export const VIEWER: Me = { name: "vic", role: "viewer" };

export function job(over: Partial<Record<string, unknown>> = {}) {
  return {
    id: "job-1", status: "running", progress: 0.25, bytes_in: 4096, bytes_out: 0, ratio: null, name: "a.log",
    source: "rest", profile: "fast", created_at: "2026-11-29T10:00:00Z", finished_at: null, reason: null,
    chunk_count: 4, chunks_archived: 1, sha256: null, ...over,
  };
}

/** A node as GET /api/cluster/nodes lists it. */
export function clusterNode(over: Partial<Record<string, unknown>> = {}) {
  return {
    instance: "compressor-1", role: "compressor", host: "vm", pid: 4242, version: "0.1.0", status: "alive",
    last_heartbeat: "2026-11-29T10:00:00Z", status_since: "2026-11-29T09:00:00Z", cpu_percent: 12.5,
    rss_bytes: 104857600, partitions: [{ topic: "cobol.chunks", partition: 0, lag: 3, count: 0 },
      { topic: "cobol.chunks", partition: 1, lag: 4, count: 0 }],
    started_at: "2026-11-29T09:00:00Z", beats: 100, reason: null, lag: 7, ...over,
  };
}
