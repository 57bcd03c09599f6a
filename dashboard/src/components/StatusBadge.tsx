const TONES: Record<string, string> = {
  done: "bg-green-100 text-green-900 ring-green-700/30",
  up: "bg-green-100 text-green-900 ring-green-700/30",
  alive: "bg-green-100 text-green-900 ring-green-700/30",
  failed: "bg-red-100 text-red-900 ring-red-700/30",
  down: "bg-red-100 text-red-900 ring-red-700/30",
  cancelled: "bg-slate-200 text-slate-900 ring-slate-600/30",
  running: "bg-blue-100 text-blue-900 ring-blue-700/30",
  queued: "bg-amber-100 text-amber-950 ring-amber-700/30",
  suspect: "bg-amber-100 text-amber-950 ring-amber-700/30",
};

export function StatusBadge({ status }: { status: string }) {
  const tone = TONES[status] ?? "bg-slate-100 text-slate-900 ring-slate-600/30";
  return (
    <span className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${tone}`}>
      {status}
    </span>
  );
}
