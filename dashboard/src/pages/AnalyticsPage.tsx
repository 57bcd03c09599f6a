import { useId, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useOptional } from "../api/endpoints";
import { Empty, ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { formatTime } from "../lib/format";

export const RANGES = [
  { value: "1h", label: "Last hour" },
  { value: "6h", label: "Last 6 hours" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
] as const;

/** One point of a series: a time and the measures the analytics service reports. */
export interface Point {
  t: string;
  ratio?: number;
  mbps?: number;
}

export function SeriesChart({ points }: { points: Point[] }) {
  if (!points.length) return <Empty title="No data in this range" />;
  const rows = points.map((p) => ({ ...p, time: formatTime(p.t) }));
  return (
    <div className="h-72 w-full" role="img" aria-label="Ratio and MB/s over time">
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="time" minTickGap={24} />
          <YAxis yAxisId="ratio" />
          <YAxis yAxisId="mbps" orientation="right" />
          <Tooltip />
          <Legend />
          <Line yAxisId="ratio" dataKey="ratio" name="ratio" stroke="#1e40af" dot={false} isAnimationActive={false} />
          <Line yAxisId="mbps" dataKey="mbps" name="MB/s" stroke="#b45309" dot={false} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

export default function AnalyticsPage() {
  const [range, setRange] = useState<string>("1h");
  const id = useId();
  const series = useOptional<Point[] | { points: Point[] }>("analytics", { range });
  const points = series.res.data ? (Array.isArray(series.res.data) ? series.res.data : series.res.data.points ?? []) : [];
  return (
    <div>
      <PageHeader title="Analytics">
        <label htmlFor={id} className="text-sm font-medium">Time range</label>
        <select id={id} value={range} onChange={(e) => setRange(e.target.value)}
          className="rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm">
          {RANGES.map((r) => <option key={r.value} value={r.value}>{r.label}</option>)}
        </select>
      </PageHeader>
      {series.missing ? <NotAvailable feature="Analytics" endpoint="GET /api/analytics/series" />
        : series.res.loading && !series.res.data ? <Loading what="Loading analytics" />
        : series.res.error ? <ErrorState message={series.res.error} onRetry={series.res.reload} />
        : <div className="rounded-lg border border-slate-200 bg-white p-4"><SeriesChart points={points} /></div>}
    </div>
  );
}
