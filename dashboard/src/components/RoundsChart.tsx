import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { components } from "../api/schema";
import { Empty } from "./States";

type Round = components["schemas"]["Round"];

/** Rows for the chart, oldest round first: nodes per round, and the agreement of what it released. */
export function chartRows(rounds: Round[]) {
  return [...rounds].sort((a, b) => a.id - b.id).map((r) => ({
    round: `#${r.id}`,
    contributed: r.contributed,
    dropouts: r.dropouts,
    agreement: r.agreement ?? undefined,
  }));
}

/** Participants and dropouts per round (bars), convergence as the agreement line (0..1). */
export function RoundsChart({ rounds }: { rounds: Round[] }) {
  if (!rounds.length) return <Empty title="No rounds yet" />;
  return (
    <div className="h-72 w-full" role="img" aria-label="Nodes, dropouts and agreement per round">
      <ResponsiveContainer width="100%" height="100%">
        <ComposedChart data={chartRows(rounds)}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="round" />
          <YAxis yAxisId="nodes" allowDecimals={false} />
          <YAxis yAxisId="agreement" orientation="right" domain={[0, 1]} />
          <Tooltip />
          <Legend />
          <Bar yAxisId="nodes" dataKey="contributed" name="contributed" stackId="n" fill="#1e40af" isAnimationActive={false} />
          <Bar yAxisId="nodes" dataKey="dropouts" name="dropped out" stackId="n" fill="#b91c1c" isAnimationActive={false} />
          <Line yAxisId="agreement" dataKey="agreement" name="agreement" stroke="#047857" connectNulls
            isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
    </div>
  );
}
