/**
 * The mesh as a picture: services in columns by who calls whom (talks_to), the engines they
 * use (Kafka, Redis, PostgreSQL) in the last column, arrows for calls and dashed lines for use.
 * Edge labels show live rates when the source provides them.
 */
export interface TopoService {
  name: string;
  instances?: number;
  uses?: string[];
  talks_to?: string[];
  status?: string;
}

export interface TopoEdgeRate {
  from: string;
  to: string;
  label: string;
}

const W = 150;
const H = 44;
const GAP_X = 70;
const GAP_Y = 22;

/** Column of each service: 0 for those nobody calls, else one right of its deepest caller. */
export function layoutColumns(services: TopoService[]): Map<string, number> {
  const names = new Set(services.map((s) => s.name));
  const col = new Map<string, number>();
  const visit = (name: string, depth: number, seen: Set<string>) => {
    if (seen.has(name)) return; // a cycle: keep the first placement
    if ((col.get(name) ?? -1) >= depth) return;
    col.set(name, depth);
    const s = services.find((x) => x.name === name);
    for (const t of s?.talks_to ?? []) if (names.has(t)) visit(t, depth + 1, new Set([...seen, name]));
  };
  const called = new Set(services.flatMap((s) => s.talks_to ?? []));
  for (const s of services) if (!called.has(s.name)) visit(s.name, 0, new Set());
  for (const s of services) if (!col.has(s.name)) visit(s.name, 0, new Set());
  return col;
}

export function TopologyPicture({ services, rates = [] }: { services: TopoService[]; rates?: TopoEdgeRate[] }) {
  if (!services.length) return <p className="text-sm text-slate-600">No topology description is available.</p>;
  const cols = layoutColumns(services);
  const infra = [...new Set(services.flatMap((s) => s.uses ?? []))].sort();
  const lastCol = Math.max(0, ...cols.values()) + 1;
  const pos = new Map<string, { x: number; y: number }>();
  const byCol = new Map<number, string[]>();
  for (const s of services) {
    const c = cols.get(s.name) ?? 0;
    byCol.set(c, [...(byCol.get(c) ?? []), s.name]);
  }
  if (infra.length) byCol.set(lastCol, infra);
  let rows = 0;
  for (const [c, list] of byCol) {
    list.forEach((n, i) => pos.set(n, { x: 10 + c * (W + GAP_X), y: 10 + i * (H + GAP_Y) }));
    rows = Math.max(rows, list.length);
  }
  const width = 20 + (Math.max(...byCol.keys()) + 1) * (W + GAP_X) - GAP_X;
  const height = 20 + rows * (H + GAP_Y) - GAP_Y;
  const rateOf = (a: string, b: string) => rates.find((r) => r.from === a && r.to === b)?.label;
  const edges: { a: string; b: string; kind: "call" | "use" }[] = [];
  for (const s of services) {
    for (const t of s.talks_to ?? []) if (pos.has(t)) edges.push({ a: s.name, b: t, kind: "call" });
    for (const u of s.uses ?? []) edges.push({ a: s.name, b: u, kind: "use" });
  }
  const svc = new Map(services.map((s) => [s.name, s]));

  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${height}`} className="h-auto w-full max-w-4xl" role="img"
        aria-labelledby="topo-title topo-desc" data-testid="topology">
        <title id="topo-title">Mesh topology</title>
        <desc id="topo-desc">
          {services.map((s) => `${s.name} talks to ${(s.talks_to ?? []).join(", ") || "nobody"} and uses ${(s.uses ?? []).join(", ") || "nothing"}`).join(". ")}
        </desc>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#334155" />
          </marker>
        </defs>
        {edges.map(({ a, b, kind }) => {
          const p = pos.get(a)!;
          const q = pos.get(b)!;
          const x1 = p.x + W;
          const y1 = p.y + H / 2;
          const x2 = q.x;
          const y2 = q.y + H / 2;
          const back = x2 <= x1;
          const d = back
            ? `M ${p.x + W / 2} ${p.y + H} C ${p.x + W / 2} ${p.y + H + 30}, ${q.x + W / 2} ${q.y + H + 30}, ${q.x + W / 2} ${q.y + H}`
            : `M ${x1} ${y1} C ${x1 + GAP_X / 2} ${y1}, ${x2 - GAP_X / 2} ${y2}, ${x2} ${y2}`;
          const label = rateOf(a, b);
          return (
            <g key={`${a}-${b}-${kind}`}>
              <path d={d} fill="none" stroke={kind === "call" ? "#334155" : "#94a3b8"} strokeWidth={1.5}
                strokeDasharray={kind === "use" ? "4 3" : undefined} markerEnd={kind === "call" ? "url(#arrow)" : undefined} />
              {label && <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 4} fontSize="11" textAnchor="middle" fill="#0f172a">{label}</text>}
            </g>
          );
        })}
        {[...pos.entries()].map(([name, p]) => {
          const s = svc.get(name);
          const isInfra = !s;
          const down = s?.status === "down";
          return (
            <g key={name} data-node={name}>
              <rect x={p.x} y={p.y} width={W} height={H} rx={6}
                fill={isInfra ? "#f1f5f9" : down ? "#fee2e2" : "#eff6ff"} stroke={down ? "#b91c1c" : isInfra ? "#64748b" : "#1e40af"} />
              <text x={p.x + W / 2} y={p.y + 19} textAnchor="middle" fontSize="13" fontWeight={600} fill="#0f172a">{name}</text>
              <text x={p.x + W / 2} y={p.y + 35} textAnchor="middle" fontSize="11" fill="#334155">
                {isInfra ? "engine" : `${s?.instances ?? 1} instance${(s?.instances ?? 1) === 1 ? "" : "s"}${s?.status ? ` · ${s.status}` : ""}`}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="mt-2 text-xs text-slate-600">
        Arrows: gRPC calls (talks_to). Dashed: engines a service uses. Topics flow through Kafka.
      </figcaption>
    </figure>
  );
}
