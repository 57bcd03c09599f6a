import type { components } from "./schema";

export type Job = components["schemas"]["Job"];
export type JobAccepted = components["schemas"]["JobAccepted"];
export type UserOut = components["schemas"]["UserOut"];
export type AuditEntry = components["schemas"]["AuditEntry"];

export const TERMINAL = new Set(["done", "failed", "cancelled"]);
export const STATUSES = ["queued", "running", "done", "failed", "cancelled"] as const;
