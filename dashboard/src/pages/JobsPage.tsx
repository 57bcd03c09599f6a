import { useCallback, useId, useMemo, useState } from "react";
import { Link } from "react-router";
import { unwrap } from "../api/client";
import { STATUSES, TERMINAL, type Job } from "../api/types";
import { Pagination } from "../components/Pagination";
import { ProgressBar } from "../components/ProgressBar";
import { Empty, ErrorState, Loading, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { atLeast, useMe, useServices } from "../context";
import { formatBytes, formatDate, formatRatio, percent } from "../lib/format";
import { useResource } from "../lib/useResource";
import { upsertJob, useJobUpdates } from "../live/useLiveJobs";
import { NewJobForm } from "./NewJobForm";

const PAGE_SIZE = 20;
/** How many jobs the history asks for when the server has no paging of its own. */
const HISTORY_LIMIT = 500;

export interface JobFilters {
  status: string;
  profile: string;
  text: string;
  since: string; // yyyy-mm-dd
  minBytes: string;
}

const NO_FILTERS: JobFilters = { status: "", profile: "", text: "", since: "", minBytes: "" };

/** The filters applied in the browser (also after server-side filtering, for live updates). */
export function filterJobs(jobs: Job[], f: JobFilters): Job[] {
  const text = f.text.trim().toLowerCase();
  const since = f.since ? new Date(`${f.since}T00:00:00`).getTime() : null;
  const minBytes = f.minBytes ? Number(f.minBytes) * 1024 * 1024 : null;
  return jobs.filter((j) =>
    (!f.status || j.status === f.status)
    && (!f.profile || j.profile === f.profile)
    && (!text || j.name.toLowerCase().includes(text) || j.id.toLowerCase().includes(text))
    && (since === null || (j.created_at !== null && new Date(j.created_at).getTime() >= since))
    && (minBytes === null || !Number.isFinite(minBytes) || j.bytes_in >= minBytes));
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

  // Filters the server declares as query parameters are sent to it; the rest apply here.
  const serverParams = caps.queryParams("get", "/api/jobs");
  const query: Record<string, string | number> = { limit: HISTORY_LIMIT };
  if (serverParams.has("status") && filters.status) query.status = filters.status;
  if (serverParams.has("profile") && filters.profile) query.profile = filters.profile;
  const key = JSON.stringify(query);
  const jobs = useResource(async () => unwrap(await client.GET("/api/jobs", {
    params: { query: query as { limit?: number } },
  })), key);

  const setData = jobs.setData;
  useJobUpdates(useCallback((j: Job) => setData((old) => upsertJob(old, j)), [setData]));

  const shown = useMemo(() => filterJobs(jobs.data ?? [], filters), [jobs.data, filters]);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
  const current = Math.min(page, pages);
  const slice = shown.slice((current - 1) * PAGE_SIZE, current * PAGE_SIZE);
  const active = (jobs.data ?? []).filter((j) => !TERMINAL.has(j.status)).length;
  const set = (k: keyof JobFilters) => (v: string) => {
    setFilters((f) => ({ ...f, [k]: v }));
    setPage(1);
  };
  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";
  const profiles = caps.bodyEnum("post", "/api/jobs", "profile") ?? ["fast", "balanced", "max"];

  return (
    <div>
      <PageHeader title="Jobs">
        <span className="text-sm text-slate-700" aria-live="polite">{active} in progress</span>
        <button type="button" onClick={jobs.reload}
          className="rounded-md border border-slate-400 bg-white px-3 py-1.5 text-sm hover:bg-slate-100">
          Refresh
        </button>
      </PageHeader>

      {atLeast(me, "operator") && (
        <div className="mb-6">
          <NewJobForm onAccepted={(a) => setData((old) => upsertJob(old, {
            id: a.id, status: a.status, progress: 0, bytes_in: a.bytes_in, bytes_out: 0, ratio: null,
            name: a.name, source: "rest", profile: a.profile, created_at: new Date().toISOString(),
            finished_at: null, reason: null, chunk_count: 0, chunks_archived: 0, sha256: a.sha256 ?? null,
          }))} />
        </div>
      )}

      <section aria-labelledby="history-title">
        <h2 id="history-title" className="mb-2 text-base font-semibold">History</h2>
        <div className="mb-3 grid grid-cols-2 gap-3 md:grid-cols-5" role="search" aria-label="Filter jobs">
          <div>
            <label htmlFor={ids.text} className="text-xs font-medium text-slate-700">Name or id</label>
            <input id={ids.text} className={input} value={filters.text} onChange={(e) => set("text")(e.target.value)} />
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
        {jobs.data && shown.length === 0 && (
          <Empty title={jobs.data.length ? "No job matches these filters" : "No jobs yet"}>
            {jobs.data.length ? "Clear a filter to see more." : atLeast(me, "operator") ? "Drop a file above to start one." : "Jobs appear here as operators submit them."}
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
        <Pagination page={current} pages={pages} onPage={setPage} label="Job history pages" />
      </section>
    </div>
  );
}
