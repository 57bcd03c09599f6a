import { useCallback, useId, useState } from "react";
import { Link } from "react-router";
import { unwrap } from "../api/client";
import { STATUSES, TERMINAL, type Job, type Page } from "../api/types";
import { Pagination } from "../components/Pagination";
import { ProgressBar } from "../components/ProgressBar";
import { Empty, ErrorState, Loading, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { atLeast, useMe, useServices } from "../context";
import { formatBytes, formatDate, formatRatio, percent } from "../lib/format";
import { useResource } from "../lib/useResource";
import { useJobUpdates } from "../live/useLiveJobs";
import { declaredProfiles, NewJobForm } from "./NewJobForm";

const PAGE_SIZE = 20;

export interface JobFilters {
  status: string;
  profile: string;
  text: string;
  since: string; // yyyy-mm-dd, local midnight
  minBytes: string; // MiB
}

const NO_FILTERS: JobFilters = { status: "", profile: "", text: "", since: "", minBytes: "" };

function sinceMs(f: JobFilters): number | null {
  const t = f.since ? new Date(`${f.since}T00:00:00`).getTime() : NaN;
  return Number.isFinite(t) ? t : null;
}

function minBytes(f: JobFilters): number | null {
  const n = f.minBytes.trim() ? Number(f.minBytes) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n * 1024 * 1024) : null;
}

/** The query of GET /api/jobs for these filters and this page (the server filters and pages). */
export function jobsQuery(f: JobFilters, page: number): Record<string, string | number> {
  const q: Record<string, string | number> = { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE };
  if (f.status) q.status = f.status;
  if (f.profile) q.profile = f.profile;
  if (f.text.trim()) q.q = f.text.trim();
  const since = sinceMs(f);
  if (since !== null) q.since = new Date(since).toISOString();
  const min = minBytes(f);
  if (min !== null) q.min_bytes = min;
  return q;
}

/** Whether a job (from a live update) matches the filters, by the server's rules. */
export function matches(j: Job, f: JobFilters): boolean {
  const text = f.text.trim().toLowerCase();
  const since = sinceMs(f);
  const min = minBytes(f);
  return (!f.status || j.status === f.status)
    && (!f.profile || j.profile === f.profile)
    && (!text || j.name.toLowerCase().includes(text))
    && (since === null || (j.created_at != null && new Date(j.created_at).getTime() >= since))
    && (min === null || j.bytes_in >= min);
}

/**
 * A live update on the page shown: a job already there is updated in place; a new job that
 * matches the filters goes on top of the first page (the newest), and the total grows.
 */
export function applyUpdate(old: Page<Job> | undefined, j: Job, f: JobFilters, page: number): Page<Job> | undefined {
  if (!old) return old;
  const i = old.items.findIndex((x) => x.id === j.id);
  if (i !== -1) {
    const items = old.items.slice();
    items[i] = { ...old.items[i], ...j };
    return { ...old, items };
  }
  if (page !== 1 || !matches(j, f)) return old;
  return { ...old, items: [j, ...old.items].slice(0, PAGE_SIZE), total: old.total + 1 };
}

export function JobRow({ job }: { job: Job }) {
  const pct = job.status === "done" ? 100 : percent(job.progress);
  return (
    <tr className="border-t border-slate-200" data-testid="job-row" data-job-id={job.id} data-status={job.status}>
      <td className="max-w-[16rem] truncate px-3 py-2">
        <Link to={`/jobs/${encodeURIComponent(job.id)}`} className="font-medium text-blue-800 underline">
          {job.name || job.id}
        </Link>
      </td>
      <td className="px-3 py-2"><StatusBadge status={job.status} /></td>
      <td className="w-40 px-3 py-2">
        <ProgressBar value={pct} label={`Progress of ${job.name || job.id}`}
          tone={job.status === "failed" ? "red" : job.status === "done" ? "green" : "blue"} />
      </td>
      <td className="hidden px-3 py-2 md:table-cell">{job.profile}</td>
      <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell">{formatBytes(job.bytes_in)}</td>
      <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell">{formatRatio(job.ratio)}</td>
      <td className="hidden px-3 py-2 text-slate-700 lg:table-cell">{formatDate(job.created_at)}</td>
    </tr>
  );
}

export function JobsPage() {
  const { client, caps } = useServices();
  const { me } = useMe();
  const [filters, setFilters] = useState<JobFilters>(NO_FILTERS);
  const [page, setPage] = useState(1);
  const ids = { status: useId(), profile: useId(), text: useId(), since: useId(), size: useId() };

  const query = jobsQuery(filters, page);
  const jobs = useResource<Page<Job>>(async () => unwrap(await client.GET("/api/jobs", {
    params: { query },
  })), JSON.stringify(query));

  const setData = jobs.setData;
  const onJob = useCallback((j: Job) => setData((old) => applyUpdate(old, j, filters, page)), [setData, filters, page]);
  useJobUpdates(onJob);

  const slice = jobs.data?.items ?? [];
  const total = jobs.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const active = slice.filter((j) => !TERMINAL.has(j.status)).length;
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);
  const set = (k: keyof JobFilters) => (v: string) => {
    setFilters((f) => ({ ...f, [k]: v }));
    setPage(1);
  };
  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";
  const profiles = declaredProfiles(caps);

  return (
    <div>
      <PageHeader title="Jobs">
        <span className="text-sm text-slate-700" aria-live="polite">{active} in progress on this page</span>
        <button type="button" onClick={jobs.reload}
          className="rounded-md border border-slate-400 bg-white px-3 py-1.5 text-sm hover:bg-slate-100">
          Refresh
        </button>
      </PageHeader>

      {atLeast(me, "operator") && (
        <div className="mb-6">
          <NewJobForm onAccepted={(a) => onJob({
            id: a.id, status: a.status, progress: 0, bytes_in: a.bytes_in, bytes_out: 0, ratio: null,
            name: a.name, source: "rest", profile: a.profile, created_at: new Date().toISOString(),
            finished_at: null, reason: null, chunk_count: 0, chunks_archived: 0, sha256: a.sha256 ?? null,
            layers: a.layers, dictionary: a.dictionary,
          })} />
        </div>
      )}

      <section aria-labelledby="history-title">
        <h2 id="history-title" className="mb-2 text-base font-semibold">History</h2>
        <div className="mb-3 grid grid-cols-2 gap-3 md:grid-cols-5" role="search" aria-label="Filter jobs">
          <div>
            <label htmlFor={ids.text} className="text-xs font-medium text-slate-700">Name contains</label>
            <input id={ids.text} className={input} maxLength={128} value={filters.text} onChange={(e) => set("text")(e.target.value)} />
          </div>
          <div>
            <label htmlFor={ids.status} className="text-xs font-medium text-slate-700">Status</label>
            <select id={ids.status} className={input} value={filters.status} onChange={(e) => set("status")(e.target.value)}>
              <option value="">any</option>
              {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor={ids.profile} className="text-xs font-medium text-slate-700">Profile</label>
            <select id={ids.profile} className={input} value={filters.profile} onChange={(e) => set("profile")(e.target.value)}>
              <option value="">any</option>
              {profiles.map((p) => <option key={p} value={p}>{p}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor={ids.since} className="text-xs font-medium text-slate-700">Since</label>
            <input id={ids.since} type="date" className={input} value={filters.since} onChange={(e) => set("since")(e.target.value)} />
          </div>
          <div>
            <label htmlFor={ids.size} className="text-xs font-medium text-slate-700">At least (MiB)</label>
            <input id={ids.size} type="number" min={0} step="any" className={input} value={filters.minBytes}
              onChange={(e) => set("minBytes")(e.target.value)} />
          </div>
        </div>

        {jobs.loading && !jobs.data && <Loading what="Loading jobs" />}
        {jobs.error && <ErrorState message={jobs.error} onRetry={jobs.reload} />}
        {jobs.data && slice.length === 0 && (
          <Empty title={filtered ? "No job matches these filters" : "No jobs yet"}>
            {filtered ? "Clear a filter to see more." : atLeast(me, "operator") ? "Drop a file above to start one." : "Jobs appear here as operators submit them."}
          </Empty>
        )}
        {slice.length > 0 && (
          <Table caption="Jobs, newest first" headers={[
            { label: "Name" }, { label: "Status" }, { label: "Progress" },
            { label: "Profile", className: "hidden md:table-cell" },
            { label: "Size", className: "hidden text-right sm:table-cell" },
            { label: "Ratio", className: "hidden text-right sm:table-cell" },
            { label: "Created", className: "hidden lg:table-cell" },
          ]}>
            {slice.map((j) => <JobRow key={j.id} job={j} />)}
          </Table>
        )}
        {jobs.data && total > 0 && <p className="mt-2 text-sm text-slate-700">{total} job{total === 1 ? "" : "s"}</p>}
        <Pagination page={page} pages={pages} onPage={setPage} label="Job history pages" />
      </section>
    </div>
  );
}
