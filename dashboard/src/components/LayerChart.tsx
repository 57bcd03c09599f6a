import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

/** One layer's share of a job: bytes into and out of it (names as the API reports them). */
export interface LayerStat {
  layer: string | number;
  bytes_in: number;
  bytes_out: number;
}

export default function LayerChart({ data }: { data: LayerStat[] }) {
  const rows = data.map((d) => ({ ...d, layer: typeof d.layer === "number" ? `L${d.layer}` : d.layer }));
  return (
    <div className="h-64 w-full" role="img" aria-label="Bytes into and out of each layer">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={rows}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="layer" />
          <YAxis />
          <Tooltip />
          <Legend />
          <Bar dataKey="bytes_in" name="bytes in" fill="#1e40af" />
          <Bar dataKey="bytes_out" name="bytes out" fill="#15803d" />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
