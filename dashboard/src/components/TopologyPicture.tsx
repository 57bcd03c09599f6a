/**
 * The mesh as a picture: services and the Kafka topics between them, laid out left to right
 * along the data flow (ingest → cobol.chunks → compressor → cobol.frames → archive, analytics),
 * with the services that call into it before it and the services only called (coordinator,
 * federator) in a row underneath. Solid arrows are data through topics, labelled with their
 * live rate or with "no data"; dashed arrows are gRPC calls (talks_to), which nothing meters.
 */
import type { FlowEdge, TopoEdgeRate } from "../lib/edgeRates";

export interface TopoService {
  name: string;
  instances?: number;
  uses?: string[];
  talks_to?: string[];
  status?: string;
}

interface Box {
  name: string;
  col: number;
  row: number;
  topic: boolean;
}

const W = 150;
const H = 58;
const GAP_X = 104;
const GAP_Y = 34;
/** room above the boxes for calls that arc over them */
const TOP = 40;

/** Column of each node: 0 for those nobody points at, else one right of its deepest predecessor. */
export function layoutColumns(nodes: { name: string; talks_to?: string[] }[]): Map<string, number> {
  const names = new Set(nodes.map((s) => s.name));
  const col = new Map<string, number>();
  const visit = (name: string, depth: number, seen: Set<string>) => {
    if (seen.has(name)) return; // a cycle: keep the first placement
    if ((col.get(name) ?? -1) >= depth) return;
    col.set(name, depth);
    const s = nodes.find((x) => x.name === name);
    for (const t of s?.talks_to ?? []) if (names.has(t)) visit(t, depth + 1, new Set([...seen, name]));
  };
  const called = new Set(nodes.flatMap((s) => (s.talks_to ?? []).filter((t) => t !== s.name)));
  for (const s of nodes) if (!called.has(s.name)) visit(s.name, 0, new Set());
  for (const s of nodes) if (!col.has(s.name)) visit(s.name, 0, new Set());
  return col;
}

/** Where each service and topic goes. Without a flow: columns by talks_to alone. */
export function layout(services: TopoService[], flow: FlowEdge[]): Box[] {
  const serviceNames = new Set(services.map((s) => s.name));
  const inFlow = new Set(flow.flatMap((e) => [e.from, e.to]));
  const topics = [...inFlow].filter((n) => !serviceNames.has(n));
  const isTopic = new Set(topics);
  // services outside the flow that call nothing in it sit underneath (only when there is a flow)
  const below = flow.length ? services.filter((s) => !inFlow.has(s.name) && !(s.talks_to ?? []).some((t) => inFlow.has(t))) : [];
  const belowNames = new Set(below.map((s) => s.name));
  const graph = [
    ...services.filter((s) => !belowNames.has(s.name)).map((s) => ({
      name: s.name,
      talks_to: [
        ...(inFlow.has(s.name) && flow.length ? [] : (s.talks_to ?? []).filter((t) => !belowNames.has(t))),
        ...flow.filter((e) => e.from === s.name).map((e) => e.to),
      ],
    })),
    ...topics.map((t) => ({ name: t, talks_to: flow.filter((e) => e.from === t).map((e) => e.to) })),
  ];
  const cols = layoutColumns(graph);
  const rowsUsed = new Map<number, number>();
  const boxes: Box[] = graph.map((g) => {
    const col = cols.get(g.name) ?? 0;
    const row = rowsUsed.get(col) ?? 0;
    rowsUsed.set(col, row + 1);
    return { name: g.name, col, row, topic: isTopic.has(g.name) };
  });
  const lastCol = Math.max(0, ...boxes.map((b) => b.col));
  const bottom = Math.max(0, ...rowsUsed.values());
  const start = Math.max(0, Math.floor((lastCol + 1 - below.length) / 2));
  below.forEach((s, i) => boxes.push({ name: s.name, col: start + i, row: bottom, topic: false }));
  return boxes;
}

export function TopologyPicture({ services, flow = [], rates = [] }: {
  services: TopoService[]; flow?: FlowEdge[]; rates?: TopoEdgeRate[];
}) {
  if (!services.length) return <p className="text-sm text-slate-600">No topology description is available.</p>;
  const boxes = layout(services, flow);
  const box = new Map(boxes.map((b) => [b.name, b]));
  const at = (b: Box) => ({ x: 10 + b.col * (W + GAP_X), y: TOP + b.row * (H + GAP_Y) });
  const cols = Math.max(...boxes.map((b) => b.col)) + 1;
  const rows = Math.max(...boxes.map((b) => b.row)) + 1;
  const width = 20 + cols * (W + GAP_X) - GAP_X;
  const height = TOP + rows * (H + GAP_Y) - GAP_Y + 16;
  const byName = new Map(services.map((s) => [s.name, s]));
  const rateOf = (a: string, b: string) => rates.find((r) => r.from === a && r.to === b);
  const edges = [
    ...flow.filter((e) => box.has(e.from) && box.has(e.to)).map((e) => ({ a: e.from, b: e.to, data: true })),
    ...services.flatMap((s) => (s.talks_to ?? []).filter((t) => box.has(t)).map((t) => ({ a: s.name, b: t, data: false }))),
  ];

  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${height}`} className="h-auto w-full min-w-[48rem]" role="img"
        aria-labelledby="topo-title topo-desc" data-testid="topology">
        <title id="topo-title">Mesh topology</title>
        <desc id="topo-desc">
          {[...flow.map((e) => {
            const r = rateOf(e.from, e.to);
            return `${e.from} to ${e.to}: ${r ? r.lines.join(", ") : "no data"}`;
          }), ...services.map((s) => `${s.name} calls ${(s.talks_to ?? []).join(", ") || "nobody"} and uses ${(s.uses ?? []).join(", ") || "nothing"}`)].join(". ")}
        </desc>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#334155" />
          </marker>
          <marker id="arrow-call" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
          </marker>
        </defs>
        {edges.map(({ a, b, data }, i) => {
          const A = box.get(a)!;
          const B = box.get(b)!;
          const p = at(A);
          const q = at(B);
          let d: string;
          let mid: { x: number; y: number };
          if (B.col === A.col + 1) {
            // neighbours: right side to left side; the label sits in the gap between them
            const [x1, y1, x2, y2] = [p.x + W, p.y + H / 2, q.x, q.y + H / 2];
            d = `M ${x1} ${y1} C ${x1 + GAP_X / 2} ${y1}, ${x2 - GAP_X / 2} ${y2}, ${x2} ${y2}`;
            mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6 };
          } else if (B.row > A.row) {
            // down to a row below: bottom to top
            const [x1, y1, x2, y2] = [p.x + W / 2 + (i % 5) * 6 - 12, p.y + H, q.x + W / 2 + (i % 5) * 6 - 12, q.y];
            d = `M ${x1} ${y1} C ${x1} ${y1 + GAP_Y}, ${x2} ${y2 - GAP_Y}, ${x2} ${y2}`;
            mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
          } else {
            // skipping columns, going back or to itself: arc over the top row, top to top
            const lift = 8 + (i % 3) * 6;
            const [x1, x2] = [p.x + W / 2 + 10, q.x + W / 2 - 10];
            d = `M ${x1} ${p.y} C ${x1} ${lift}, ${x2} ${lift}, ${x2} ${q.y}`;
            mid = { x: (x1 + x2) / 2, y: lift + 10 };
          }
          const rate = data ? rateOf(a, b) : undefined;
          const lines = data ? rate?.lines ?? ["no data"] : [];
          return (
            <g key={`${data ? "flow" : "call"}-${a}-${b}`} data-edge={`${a}->${b}`} data-kind={data ? "data" : "call"}>
              <title>{data ? rate?.title ?? `${a} → ${b}: no data` : `${a} calls ${b} over gRPC (not metered)`}</title>
              <path d={d} fill="none" stroke={data ? "#334155" : "#94a3b8"} strokeWidth={data ? 2 : 1}
                strokeDasharray={data ? undefined : "4 3"} markerEnd={data ? "url(#arrow)" : "url(#arrow-call)"} />
              {lines.length > 0 && (
                <text x={mid.x} y={mid.y - (lines.length - 1) * 12} fontSize="10.5" textAnchor="middle"
                  fill={rate?.measured ? "#0f172a" : "#64748b"} fontStyle={rate?.measured ? undefined : "italic"}
                  data-testid="edge-rate" data-edge={`${a}->${b}`} data-measured={rate?.measured ? "yes" : "no"}>
                  {lines.map((l, k) => <tspan key={k} x={mid.x} dy={k ? 12 : 0}>{l}</tspan>)}
                </text>
              )}
            </g>
          );
        })}
        {boxes.map((b) => {
          const p = at(b);
          if (b.topic) {
            return (
              <g key={b.name} data-topic={b.name}>
                <rect x={p.x} y={p.y + 8} width={W} height={H - 16} rx={H / 2 - 8} fill="#f1f5f9" stroke="#475569" />
                <text x={p.x + W / 2} y={p.y + 27} textAnchor="middle" fontSize="12" fontWeight={600} fill="#0f172a">{b.name}</text>
                <text x={p.x + W / 2} y={p.y + 41} textAnchor="middle" fontSize="10" fill="#475569">Kafka topic</text>
              </g>
            );
          }
          const s = byName.get(b.name)!;
          const down = s.status === "down";
          const n = s.instances ?? 1;
          return (
            <g key={b.name} data-node={b.name}>
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
        Solid arrows: data through Kafka topics, labelled with bytes and records per second over the last minute
        (from the analytics service) and the compressors' lag; &ldquo;no data&rdquo; where nothing measures the flow.
        Dashed arrows: gRPC calls (talks_to), not metered. Each box names the engines it uses.
      </figcaption>
    </figure>
  );
}
