import type { components } from "./schema";

export type Job = components["schemas"]["Job"];
export type JobAccepted = components["schemas"]["JobAccepted"];
export type User = components["schemas"]["User"];
export type AuditEntry = components["schemas"]["AuditEntry"];
export type LayerStats = components["schemas"]["LayerStats"];

/** Every list endpoint answers one page: `{items, total, limit, offset}`. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** A cancelled job ends `failed` (reason "cancelled by …"); "cancelled" stays for older servers. */
export const TERMINAL = new Set<string>(["done", "failed", "cancelled"]);
export const STATUSES: readonly Job["status"][] = ["queued", "running", "done", "failed"];
