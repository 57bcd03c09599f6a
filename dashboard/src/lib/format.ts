export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? "—" : `${r.toFixed(2)}×`;
}

// Dates are written by hand, ISO-like in local time ("2026-11-30 00:45:35"): unambiguous for
// operators, and free — the first Intl.DateTimeFormat costs 100-200 ms in Chromium (ICU data),
// which was most of the time to draw the jobs table on a first load.
const pad = (n: number) => String(n).padStart(2, "0");

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(d)}`;
}

function formatClock(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : formatClock(d);
}

export function percent(p: number | null | undefined): number {
  if (p === null || p === undefined || !Number.isFinite(p)) return 0;
  // the API reports progress as a fraction 0..1
  return Math.round(Math.min(1, Math.max(0, p)) * 100);
}
