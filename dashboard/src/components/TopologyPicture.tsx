/**
 * The mesh as a picture: services in columns by who calls whom (talks_to), arrows for calls
 * (arcing over the boxes when they skip a column), the engines each uses written in its box.
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

const W = 160;
const H = 58;
const GAP_X = 70;
const GAP_Y = 20;
/** room above the boxes for calls that arc over a column */
const TOP = 40;

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
  const pos = new Map<string, { x: number; y: number }>();
  const byCol = new Map<number, string[]>();
  for (const s of services) {
    const c = cols.get(s.name) ?? 0;
    byCol.set(c, [...(byCol.get(c) ?? []), s.name]);
  }
  let rows = 0;
  for (const [c, list] of byCol) {
    list.forEach((n, i) => pos.set(n, { x: 10 + c * (W + GAP_X), y: TOP + i * (H + GAP_Y) }));
    rows = Math.max(rows, list.length);
  }
  const width = 20 + (Math.max(...byCol.keys()) + 1) * (W + GAP_X) - GAP_X;
  const boxesBottom = TOP + rows * (H + GAP_Y) - GAP_Y;
  const height = boxesBottom + TOP;
  const rateOf = (a: string, b: string) => rates.find((r) => r.from === a && r.to === b)?.label;
  const edges = services.flatMap((s) => (s.talks_to ?? []).filter((t) => pos.has(t)).map((t) => ({ a: s.name, b: t })));

  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${height}`} className="h-auto w-full min-w-[36rem] max-w-4xl" role="img"
        aria-labelledby="topo-title topo-desc" data-testid="topology">
        <title id="topo-title">Mesh topology</title>
        <desc id="topo-desc">
          {services.map((s) => `${s.name} calls ${(s.talks_to ?? []).join(", ") || "nobody"} and uses ${(s.uses ?? []).join(", ") || "nothing"}`).join(". ")}
        </desc>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#334155" />
          </marker>
        </defs>
        {edges.map(({ a, b }, i) => {
          const p = pos.get(a)!;
          const q = pos.get(b)!;
          const span = (cols.get(b) ?? 0) - (cols.get(a) ?? 0);
          let d: string;
          let mid: { x: number; y: number };
          if (span === 1) {
            // neighbours: right side to left side
            const [x1, y1, x2, y2] = [p.x + W, p.y + H / 2, q.x, q.y + H / 2];
            d = `M ${x1} ${y1} C ${x1 + GAP_X / 2} ${y1}, ${x2 - GAP_X / 2} ${y2}, ${x2} ${y2}`;
            mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4 };
          } else if (p.y === TOP) {
            // a call that skips columns (or goes back) from the top row arcs over the boxes, top to top
            const lift = 8 + (i % 3) * 6;
            const [x1, x2] = [p.x + W / 2 + 10, q.x + W / 2 - 10];
            d = `M ${x1} ${p.y} C ${x1} ${lift}, ${x2} ${lift}, ${x2} ${q.y}`;
            mid = { x: (x1 + x2) / 2, y: lift + 10 };
          } else {
            // from a lower row it passes under the boxes, bottom to bottom
            const drop = height - 8 - (i % 3) * 6;
            const [x1, x2] = [p.x + W / 2 + 10, q.x + W / 2 - 10];
            d = `M ${x1} ${p.y + H} C ${x1} ${drop}, ${x2} ${drop}, ${x2} ${q.y + H}`;
            mid = { x: (x1 + x2) / 2, y: drop - 14 };
          }
          const label = rateOf(a, b);
          return (
            <g key={`${a}-${b}`}>
              <path d={d} fill="none" stroke="#334155" strokeWidth={1.5} markerEnd="url(#arrow)" />
              {label && <text x={mid.x} y={mid.y} fontSize="11" textAnchor="middle" fill="#0f172a">{label}</text>}
            </g>
          );
        })}
        {services.map((s) => {
          const p = pos.get(s.name)!;
          const down = s.status === "down";
          const n = s.instances ?? 1;
          return (
            <g key={s.name} data-node={s.name}>
              <rect x={p.x} y={p.y} width={W} height={H} rx={6} fill={down ? "#fee2e2" : "#eff6ff"}
                stroke={down ? "#b91c1c" : "#1e40af"} />
              <text x={p.x + W / 2} y={p.y + 18} textAnchor="middle" fontSize="13" fontWeight={600} fill="#0f172a">{s.name}</text>
              <text x={p.x + W / 2} y={p.y + 34} textAnchor="middle" fontSize="11" fill="#334155">
                {`${n} instance${n === 1 ? "" : "s"}${s.status ? ` · ${s.status}` : ""}`}
              </text>
              <text x={p.x + W / 2} y={p.y + 49} textAnchor="middle" fontSize="10.5" fill="#475569">
                {(s.uses ?? []).length ? `uses ${(s.uses ?? []).join(", ")}` : ""}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="mt-2 text-xs text-slate-600">
        Arrows: gRPC calls (talks_to). Each box names the engines it uses; data between services flows through Kafka topics.
      </figcaption>
    </figure>
  );
}
