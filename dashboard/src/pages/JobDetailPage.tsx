import { lazy, Suspense, useCallback, useState } from "react";
import { Link, useParams } from "react-router";
import { unwrap } from "../api/client";
import { messageOf } from "../api/errors";
import { TERMINAL, type Job } from "../api/types";
import { ProgressBar } from "../components/ProgressBar";
import { ErrorState, Loading, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { atLeast, useMe, useServices } from "../context";
import { download } from "../lib/download";
import { formatBytes, formatDate, formatRatio, percent } from "../lib/format";
import { useResource } from "../lib/useResource";
import { useJobUpdates } from "../live/useLiveJobs";
import type { LayerStat } from "../components/LayerChart";

const LayerChart = lazy(() => import("../components/LayerChart"));

/** The most chunk cells drawn; bigger jobs are summarised by the bar alone. */
const MAX_CELLS = 400;

export function ChunkGrid({ total, archived }: { total: number; archived: number }) {
  if (total <= 0) return <p className="text-sm text-slate-600">The chunk count is known once ingest has cut the upload.</p>;
  const cells = Math.min(total, MAX_CELLS);
  return (
    <div>
      <p className="mb-2 text-sm text-slate-700">{archived} of {total} chunks archived</p>
      <ProgressBar value={(100 * archived) / total} label="Chunks archived" tone={archived >= total ? "green" : "blue"} />
      {total <= MAX_CELLS && (
        <ul className="mt-3 flex flex-wrap gap-1" aria-label="Chunks">
          {Array.from({ length: cells }, (_, i) => (
            <li key={i} title={`chunk ${i + 1}: ${i < archived ? "archived" : "pending"}`}
              className={`h-3 w-3 rounded-sm ${i < archived ? "bg-green-700" : "bg-slate-300"}`}>
              <span className="sr-only">chunk {i + 1} {i < archived ? "archived" : "pending"}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium uppercase text-slate-600">{label}</dt>
      <dd className="mt-0.5 break-all text-sm text-slate-900">{children}</dd>
    </div>
  );
}

export function JobDetailPage() {
  const { jobId = "" } = useParams();
  const { client, session, caps } = useServices();
  const { me } = useMe();
  const job = useResource(async () => unwrap(await client.GET("/api/jobs/{job_id}", {
    params: { path: { job_id: jobId } },
  })), jobId);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const setData = job.setData;
  useJobUpdates(useCallback((j: Job) => {
    if (j.id === jobId) setData((old) => ({ ...(old ?? j), ...j }));
  }, [jobId, setData]));

  const statsPath = caps.has("get", "/api/jobs/{job_id}/layers");
  const cancelPath = caps.has("post", "/api/jobs/{job_id}/cancel");
  const done = job.data?.status === "done";
  const stats = useResource<LayerStat[]>(async () => unwrap(await client.GET("/api/jobs/{job_id}/layers", {
    params: { path: { job_id: jobId } },
  })).layers, `${jobId}:${statsPath}:${done}`, statsPath && done);

  const act = async (what: string, fn: () => Promise<string | void>) => {
    setBusy(what);
    setActionError(null);
    setNotice(null);
    try {
      const msg = await fn();
      if (msg) setNotice(msg);
    } catch (e) {
      setActionError(messageOf(e));
    } finally {
      setBusy(null);
    }
  };

  if (job.loading && !job.data) return <Loading what="Loading the job" />;
  if (job.error || !job.data) {
    return (
      <div>
        <PageHeader title="Job" />
        <ErrorState message={job.error ?? "no such job"} onRetry={job.status === 404 ? undefined : job.reload} />
        <p className="mt-4"><Link to="/jobs" className="text-blue-800 underline">Back to the jobs</Link></p>
      </div>
    );
  }
  const j = job.data;
  const enc = encodeURIComponent(j.id);
  const btn = "rounded-md border border-slate-400 bg-white px-3 py-1.5 text-sm font-medium hover:bg-slate-100 disabled:opacity-50";

  return (
    <div>
      <p className="mb-2 text-sm"><Link to="/jobs" className="text-blue-800 underline">← Jobs</Link></p>
      <PageHeader title={j.name || j.id}>
        <StatusBadge status={j.status} />
      </PageHeader>
      <div className="mb-6">
        <ProgressBar value={j.status === "done" ? 100 : percent(j.progress)} label="Job progress"
          tone={j.status === "failed" ? "red" : j.status === "done" ? "green" : "blue"} />
      </div>
      {j.reason && <p role="alert" className="mb-4 rounded-md bg-red-50 p-3 text-sm text-red-900">{j.reason}</p>}

      <div className="mb-6 flex flex-wrap gap-2">
        <button type="button" className={btn} disabled={!done || busy !== null}
          onClick={() => act("result", async () => `Saved ${await download(session, `/api/jobs/${enc}/result`, `${j.name || j.id}.cobol`)}`)}>
          {busy === "result" ? "Downloading…" : "Download result (.cobol)"}
        </button>
        <button type="button" className={btn} disabled={!done || busy !== null}
          onClick={() => act("original", async () => `Saved ${await download(session, `/api/jobs/${enc}/original`, j.name || j.id)}`)}>
          {busy === "original" ? "Downloading…" : "Download original"}
        </button>
        {cancelPath && atLeast(me, "operator") && !TERMINAL.has(j.status) && (
          <button type="button" className={`${btn} border-red-700 text-red-800`} disabled={busy !== null}
            onClick={() => act("cancel", async () => {
              const after = unwrap(await client.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: j.id } } }));
              setData((old) => ({ ...(old ?? after), ...after }));
              return "Cancel requested";
            })}>
            Cancel job
          </button>
        )}
        {!done && <span className="self-center text-sm text-slate-600">Downloads open when the job is done.</span>}
      </div>
      {notice && <p role="status" className="mb-4 text-sm text-green-900">{notice}</p>}
      {actionError && <p role="alert" className="mb-4 text-sm text-red-800">{actionError}</p>}

      <div className="grid gap-6 lg:grid-cols-2">
        <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="facts">
          <h2 id="facts" className="mb-3 text-base font-semibold">Details</h2>
          <dl className="grid grid-cols-2 gap-3">
            <Field label="Id">{j.id}</Field>
            <Field label="Profile">{j.profile || "—"}</Field>
            <Field label="Original">{formatBytes(j.bytes_in)}</Field>
            <Field label="Compressed">{formatBytes(j.bytes_out)}</Field>
            <Field label="Ratio">{formatRatio(j.ratio)}</Field>
            <Field label="Source">{j.source || "—"}</Field>
            <Field label="Owner">{j.owner ?? "—"}</Field>
            <Field label="Layers">{j.layers || "all"}</Field>
            <Field label="Dictionary">{j.dictionary || "—"}</Field>
            <Field label="Created">{formatDate(j.created_at)}</Field>
            <Field label="Finished">{formatDate(j.finished_at)}</Field>
            <Field label="SHA-256">{j.sha256 ?? "—"}</Field>
          </dl>
        </section>
        <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="chunks">
          <h2 id="chunks" className="mb-3 text-base font-semibold">Chunks</h2>
          <ChunkGrid total={j.chunk_count ?? 0} archived={j.chunks_archived ?? 0} />
        </section>
        <section className="rounded-lg border border-slate-200 bg-white p-4 lg:col-span-2" aria-labelledby="layers">
          <h2 id="layers" className="mb-3 text-base font-semibold">Per-layer statistics</h2>
          {!statsPath && <p className="text-sm text-slate-600">This server does not report per-layer statistics yet.</p>}
          {statsPath && !done && <p className="text-sm text-slate-600">Shown when the job is done.</p>}
          {statsPath && done && stats.loading && <Loading what="Loading statistics" />}
          {statsPath && done && stats.error && <ErrorState message={stats.error} onRetry={stats.reload} />}
          {stats.data && stats.data.length === 0 && <p className="text-sm text-slate-600">No layer ran on this job.</p>}
          {stats.data && stats.data.length > 0 && (
            <Suspense fallback={<Loading what="Drawing" />}><LayerChart data={stats.data} /></Suspense>
          )}
        </section>
      </div>
    </div>
  );
}
