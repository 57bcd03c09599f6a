/**
 * What this server offers, read from its own OpenAPI document (/api/openapi.json) at start.
 * Pages for endpoints a server lacks show "not available on this server" instead of failing;
 * optional query parameters and form fields are used only when the server declares them.
 */
export type Method = "get" | "post" | "put" | "patch" | "delete";

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, { enum?: unknown[] }> } }> };
}

export interface OpenApiDoc {
  info?: { title?: string; version?: string };
  paths: Record<string, Partial<Record<Method, Operation>>>;
}

export class Capabilities {
  constructor(private doc: OpenApiDoc | null) {}

  get known(): boolean {
    return this.doc !== null;
  }

  get version(): string {
    return this.doc?.info?.version ?? "";
  }

  /** Does the server declare METHOD PATH (path as in the document, e.g. /api/jobs/{job_id})? */
  has(method: Method, path: string): boolean {
    return Boolean(this.operation(method, path));
  }

  /** The first of several candidate paths the server declares, if any. */
  first(method: Method, candidates: readonly string[]): string | null {
    return candidates.find((p) => this.has(method, p)) ?? null;
  }

  /** Names of the query parameters of an operation. */
  queryParams(method: Method, path: string): Set<string> {
    const op = this.operation(method, path);
    return new Set((op?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name));
  }

  /** Names of the fields of a form or JSON request body. */
  bodyFields(method: Method, path: string): Set<string> {
    const content = this.operation(method, path)?.requestBody?.content ?? {};
    const names = new Set<string>();
    for (const media of Object.values(content)) {
      for (const k of Object.keys(media.schema?.properties ?? {})) names.add(k);
    }
    return names;
  }

  /** The allowed values of a body field, when the server declares an enum for it. */
  bodyEnum(method: Method, path: string, field: string): string[] | null {
    const content = this.operation(method, path)?.requestBody?.content ?? {};
    for (const media of Object.values(content)) {
      const e = media.schema?.properties?.[field]?.enum;
      if (Array.isArray(e) && e.length) return e.map(String);
    }
    return null;
  }

  /** Paths whose template matches a concrete-looking path, e.g. for a per-job endpoint. */
  findPath(method: Method, test: (path: string) => boolean): string | null {
    return Object.keys(this.doc?.paths ?? {}).find((p) => test(p) && this.has(method, p)) ?? null;
  }

  private operation(method: Method, path: string): Operation | undefined {
    return this.doc?.paths?.[path]?.[method];
  }
}

export async function loadCapabilities(http: typeof fetch = fetch): Promise<Capabilities> {
  try {
    const res = await http("/api/openapi.json");
    if (!res.ok) return new Capabilities(null);
    const doc = (await res.json()) as OpenApiDoc;
    return new Capabilities(doc && typeof doc.paths === "object" ? doc : null);
  } catch {
    return new Capabilities(null);
  }
}

/** Fill a path template: fillPath("/api/jobs/{job_id}", {job_id: "a b"}) -> "/api/jobs/a%20b". */
export function fillPath(template: string, params: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, k: string) => {
    const v = params[k] ?? Object.values(params)[0];
    if (v === undefined) throw new Error(`no value for {${k}} in ${template}`);
    return encodeURIComponent(v);
  });
}
