export function ProgressBar({ value, label, tone = "blue" }: { value: number; label: string; tone?: "blue" | "green" | "red" }) {
  const pct = Math.round(Math.min(100, Math.max(0, value)));
  const color = tone === "green" ? "bg-green-700" : tone === "red" ? "bg-red-700" : "bg-blue-700";
  return (
    <div className="flex items-center gap-2">
      <div role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}
        className="h-2 w-full min-w-16 overflow-hidden rounded-full bg-slate-200">
        <div className={`h-full ${color} transition-[width] duration-200 motion-reduce:transition-none`} style={{ width: `${pct}%` }} />
      </div>
      <span className="w-10 text-right text-xs tabular-nums text-slate-700">{pct}%</span>
    </div>
  );
}
