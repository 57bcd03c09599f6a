/**
 * The typed API client: openapi-fetch over the types generated from the API's OpenAPI
 * document (src/api/schema.d.ts, made by scripts/gen-api.mjs), with the session's bearer
 * token, one quiet refresh-and-retry on a 401, and session expiry when that fails.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { ApiError, detailOf } from "./errors";
import type { Session } from "../auth/session";

export type Paths = paths;

/** Requests need absolute URLs outside a page (tests); in the page this is the page's origin. */
export function absolute(path: string): string {
  return /^[a-z]+:/i.test(path) ? path : new URL(path, globalThis.location?.origin ?? "http://localhost").toString();
}

export function authorized(req: Request, token: string | null): Request {
  const r = new Request(req);
  if (token) r.headers.set("Authorization", `Bearer ${token}`);
  return r;
}

/** fetch with the session's token: on 401, refresh once and retry, else expire the session. */
export function authFetch(session: Session, http: typeof fetch = (...a) => fetch(...a)) {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(typeof input === "string" ? absolute(input) : input, init);
    const retry = req.clone();
    const hadToken = session.accessToken !== null;
    let res = await http(authorized(req, session.accessToken));
    if (res.status !== 401 || !hadToken) return res;
    if (await session.refresh()) {
      res = await http(authorized(retry, session.accessToken));
      if (res.status !== 401) return res;
    }
    session.expire();
    return res;
  };
}

export function makeClient(session: Session) {
  return createClient<paths>({ baseUrl: globalThis.location?.origin ?? "", fetch: authFetch(session) });
}

export type Client = ReturnType<typeof makeClient>;

/** Unwrap an openapi-fetch result: the data, or an ApiError with the server's reason. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.error === undefined) return r.data as T;
  throw new ApiError(r.response.status, detailOf(r.error, r.response.status));
}

/**
 * A call to a path the generated types do not know yet (endpoints that appear on newer
 * servers: cluster, analytics, dictionaries, federation). Same auth and errors as the client.
 */
export async function getJson<T>(session: Session, path: string, query?: Record<string, string>): Promise<T> {
  const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query)}` : "";
  const res = await authFetch(session)(path + qs);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, detailOf(body, res.status));
  return body as T;
}

export async function sendJson<T>(session: Session, method: string, path: string, body?: unknown): Promise<T | null> {
  const res = await authFetch(session)(path, {
    method,
    headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, detailOf(data, res.status));
  return data as T | null;
}
