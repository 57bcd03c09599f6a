import { useEffect, useId, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { ErrorState, Empty, Loading, NotAvailable, PageHeader } from "../components/States";
import { Table } from "../components/Table";
import { useServices } from "../context";
import { formatBytes, formatRatio } from "../lib/format";
import { useResource } from "../lib/useResource";

type Aggregate = components["schemas"]["Aggregate"];
type SeriesPage = components["schemas"]["SeriesPage"];
type Split = "all" | "node" | "layer" | "profile";

export const RANGES = [
  { value: "15m", label: "Last 15 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "6h", label: "Last 6 hours" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
] as const;
const SPLITS: { value: Split; label: string }[] = [
  { value: "all", label: "Everything" }, { value: "node", label: "Node" },
  { value: "layer", label: "Layer" }, { value: "profile", label: "Profile" },
];
/** Polite refresh: the figures are re-read this often while the page is visible. */
export const REFRESH_MS = 10_000;
const COLORS = ["#1e40af", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#a16207"];

const clock = (t: number) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
/** MB/s with two decimals below 10 (a slow link or a small feed is not "0.0"). */
export const rate = (x: number) => x.toFixed(x < 10 ? 2 : 1);
const mbps = (x: number) => `${rate(x)} MB/s`;

/** Rows for a chart: one per bucket time, one column per series name. */
export function chartRows(page: SeriesPage, metric: "ratio" | "mb_per_s" | "bytes_in" | "bytes_out"): Record<string, number>[] {
  const byT = new Map<number, Record<string, number>>();
  for (const s of page.series) {
    for (const p of s.points) {
      const row = byT.get(p.t) ?? { t: p.t };
      row[s.name] = p.aggregate[metric];
      byT.set(p.t, row);
    }
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}

function OverTime({ page, metric, title, format }: {
  page: SeriesPage; metric: "ratio" | "mb_per_s"; title: string; format: (x: number) => string;
}) {
  const rows = chartRows(page, metric);
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" aria-label={title}>
      <h2 className="mb-2 text-base font-semibold">{title}</h2>
      {rows.length === 0 ? <Empty title="No data in this range" /> : (
        <div className="h-64 w-full" role="img" aria-label={`${title}, ${page.series.length} series`}>
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={rows}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="t" tickFormatter={clock} minTickGap={24} />
              <YAxis tickFormatter={format} width={80} />
              <Tooltip labelFormatter={(t) => clock(Number(t))} formatter={(v) => format(Number(v))} />
              <Legend />
              {page.series.map((s, i) => (
                <Line key={s.name} dataKey={s.name} name={s.name} stroke={COLORS[i % COLORS.length]}
                  dot={false} isAnimationActive={false} connectNulls />
              ))}
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
    </section>
  );
}

function BytesOverTime({ page }: { page: SeriesPage }) {
  const rows = page.series.flatMap((s) => s.points.map((p) => ({ t: p.t, in: p.aggregate.bytes_in, out: p.aggregate.bytes_out })));
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" aria-label="Bytes over time">
      <h2 className="mb-2 text-base font-semibold">Bytes in and out</h2>
      {rows.length === 0 ? <Empty title="No data in this range" /> : (
        <div className="h-56 w-full" role="img" aria-label="Bytes in and out over time">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={rows}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="t" tickFormatter={clock} minTickGap={24} />
              <YAxis tickFormatter={(v) => formatBytes(Number(v))} width={80} />
              <Tooltip labelFormatter={(t) => clock(Number(t))} formatter={(v) => formatBytes(Number(v))} />
              <Legend />
              <Bar dataKey="in" name="bytes in" fill="#1e40af" isAnimationActive={false} />
              <Bar dataKey="out" name="bytes out" fill="#b45309" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
    </section>
  );
}

function Card({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-3">
      <div className="text-xs uppercase tracking-wide text-slate-600">{label}</div>
      <div className="mt-1 text-lg font-semibold" data-testid={`card-${label}`}>{value}</div>
    </div>
  );
}

function Breakdown({ title, items }: { title: string; items: Aggregate[] | undefined }) {
  return (
    <section aria-label={`Per ${title}`} className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-2 text-base font-semibold">Per {title}</h2>
      {!items ? <Loading what={`Loading per ${title}`} /> : items.length === 0 ? <Empty title="Nothing counted in this range" /> : (
        <Table caption={`Per ${title}`} headers={[
          { label: title }, { label: "frames", className: "text-right" }, { label: "bytes in", className: "text-right" },
          { label: "bytes out", className: "text-right" }, { label: "ratio", className: "text-right" },
          { label: "MB/s", className: "text-right" }, { label: "p99 latency", className: "text-right" }]}>
          {items.map((a) => (
            <tr key={a.name} className="border-t border-slate-100" data-testid={`${title}-row`} data-name={a.name}>
              <th scope="row" className="px-3 py-2 font-medium">{a.name}</th>
              <td className="px-3 py-2 text-right">{a.count.toLocaleString()}</td>
              <td className="px-3 py-2 text-right">{formatBytes(a.bytes_in)}</td>
              <td className="px-3 py-2 text-right">{formatBytes(a.bytes_out)}</td>
              <td className="px-3 py-2 text-right">{formatRatio(a.ratio)}</td>
              <td className="px-3 py-2 text-right">{rate(a.mb_per_s)}</td>
              <td className="px-3 py-2 text-right">{(a.latency_p99 * 1000).toFixed(0)} ms</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** Re-read every REFRESH_MS while the page is visible (no refresh in a hidden tab). */
function usePoliteRefresh(reload: () => void) {
  useEffect(() => {
    const timer = setInterval(() => {
      if (typeof document === "undefined" || document.visibilityState !== "hidden") reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
}

export default function AnalyticsPage() {
  const { client, caps } = useServices();
  const [span, setSpan] = useState<string>("1h");
  const [split, setSplit] = useState<Split>("all");
  const [tick, setTick] = useState(0);
  const ids = { range: useId(), split: useId() };
  const key = `${span}|${tick}`;
  const summary = useResource(async () => unwrap(await client.GET("/api/analytics/summary", { params: { query: { window: span } } })), key);
  const series = useResource(async () => unwrap(await client.GET("/api/analytics/series",
    { params: { query: { window: span, by: split } } })), `${key}|${split}`);
  const total = useResource(async () => unwrap(await client.GET("/api/analytics/series",
    { params: { query: { window: span, by: "all" } } })), key);
  const nodes = useResource(async () => unwrap(await client.GET("/api/analytics/nodes", { params: { query: { window: span } } })), key);
  const layers = useResource(async () => unwrap(await client.GET("/api/analytics/layers", { params: { query: { window: span } } })), key);
  const profiles = useResource(async () => unwrap(await client.GET("/api/analytics/profiles", { params: { query: { window: span } } })), key);
  const [refresh] = useState(() => () => setTick((t) => t + 1));
  usePoliteRefresh(refresh);

  // an older server without the routes: say so rather than fail
  const missing = (caps.known && !caps.has("get", "/api/analytics/summary")) || summary.status === 404;
  const first = [summary, series, total].find((r) => r.error && !r.data);
  const s = summary.data;
  return (
    <div className="space-y-4">
      <PageHeader title="Analytics">
        <label htmlFor={ids.range} className="text-sm font-medium">Time range</label>
        <select id={ids.range} value={span} onChange={(e) => setSpan(e.target.value)}
          className="rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm">
          {RANGES.map((r) => <option key={r.value} value={r.value}>{r.label}</option>)}
        </select>
        <label htmlFor={ids.split} className="text-sm font-medium">Split by</label>
        <select id={ids.split} value={split} onChange={(e) => setSplit(e.target.value as Split)}
          className="rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm">
          {SPLITS.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
        </select>
      </PageHeader>
      {missing ? <NotAvailable feature="Analytics" endpoint="GET /api/analytics/summary" />
        : first ? <ErrorState message={first.error ?? ""} onRetry={refresh} />
        : !s || !series.data || !total.data ? <Loading what="Loading analytics" />
        : (
          <>
            <div className="grid grid-cols-2 gap-3 md:grid-cols-6">
              <Card label="ratio" value={formatRatio(s.all.ratio)} />
              <Card label="MB/s" value={rate(s.all.mb_per_s)} />
              <Card label="bytes in" value={formatBytes(s.all.bytes_in)} />
              <Card label="bytes out" value={formatBytes(s.all.bytes_out)} />
              <Card label="frames" value={s.all.count.toLocaleString()} />
              <Card label="jobs done" value={`${s.jobs.done ?? 0} (${s.jobs.failed ?? 0} failed)`} />
            </div>
            <div className="grid gap-4 lg:grid-cols-2">
              <OverTime page={series.data} metric="ratio" title="Ratio over time" format={formatRatio} />
              <OverTime page={series.data} metric="mb_per_s" title="MB/s over time" format={mbps} />
            </div>
            <BytesOverTime page={total.data} />
            <div className="grid gap-4 xl:grid-cols-3">
              <Breakdown title="node" items={nodes.data?.items} />
              <Breakdown title="layer" items={layers.data?.items} />
              <Breakdown title="profile" items={profiles.data?.items} />
            </div>
          </>
        )}
    </div>
  );
}
