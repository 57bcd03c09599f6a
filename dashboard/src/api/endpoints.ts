/**
 * Endpoints that newer servers add (cluster, analytics, dictionaries, federation), with the
 * paths they may take. A page uses the first one the server's OpenAPI document declares, and
 * shows "not available on this server" when there is none. When the API settles a path,
 * put it first here (and the regenerated client will type it).
 */
import { getJson } from "./client";
import type { Capabilities } from "./capabilities";
import { useServices } from "../context";
import { useResource, type Resource } from "../lib/useResource";

export const OPTIONAL = {
  nodes: ["/api/cluster/nodes", "/api/nodes"],
  topology: ["/api/topology", "/api/cluster/topology"],
  alerts: ["/api/cluster/alerts", "/api/alerts"],
  analytics: ["/api/analytics/series", "/api/analytics"],
  dictionaries: ["/api/dictionaries", "/api/dictionary/versions"],
  rounds: ["/api/federation/rounds", "/api/rounds"],
} as const;

export type OptionalKey = keyof typeof OPTIONAL;

/** The path to use, or null when the server's document says it has none of them. */
export function pickPath(caps: Capabilities, key: OptionalKey): string | null {
  const candidates = OPTIONAL[key];
  if (!caps.known) return candidates[0]; // no document: try, and let a 404 decide
  return caps.first("get", candidates);
}

export interface Optional<T> {
  path: string | null;
  /** true when the server has no such endpoint (by its document, or by a 404) */
  missing: boolean;
  res: Resource<T>;
}

export function useOptional<T>(key: OptionalKey, query: Record<string, string> = {}): Optional<T> {
  const { caps, session } = useServices();
  const path = pickPath(caps, key);
  const res = useResource<T>(() => getJson<T>(session, path ?? "", query), `${path}?${new URLSearchParams(query)}`,
    path !== null);
  return { path, missing: path === null || res.status === 404 || res.status === 405, res };
}
