import { useId, useState } from "react";
import { unwrap } from "../api/client";
import { Empty, ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { Pagination } from "../components/Pagination";
import { Table } from "../components/Table";
import { useServices } from "../context";
import { formatDate } from "../lib/format";
import { useResource } from "../lib/useResource";

const PAGE_SIZE = 25;

export default function AuditPage() {
  const { client, caps } = useServices();
  const [jobId, setJobId] = useState("");
  const [who, setWho] = useState("");
  const [applied, setApplied] = useState({ jobId: "", who: "" });
  const [page, setPage] = useState(1);
  const ids = { job: useId(), who: useId() };
  const available = caps.has("get", "/api/audit");
  // the server filters (who: exact user name, job_id) and pages
  const query: { limit: number; offset: number; job_id?: string; who?: string } = { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE };
  if (applied.jobId) query.job_id = applied.jobId;
  if (applied.who) query.who = applied.who;
  const audit = useResource(async () => unwrap(await client.GET("/api/audit", { params: { query } })),
    `audit:${JSON.stringify(query)}`, available);

  if (!available) return <><PageHeader title="Audit log" /><NotAvailable feature="The audit log" endpoint="GET /api/audit" /></>;

  const rows = audit.data?.items ?? [];
  const pages = Math.max(1, Math.ceil((audit.data?.total ?? 0) / PAGE_SIZE));
  const input = "mt-1 block w-full rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";

  return (
    <div>
      <PageHeader title="Audit log">
        <button type="button" onClick={audit.reload}
          className="rounded-md border border-slate-400 bg-white px-3 py-1.5 text-sm hover:bg-slate-100">Refresh</button>
      </PageHeader>
      <form className="mb-3 grid grid-cols-1 gap-3 sm:grid-cols-3" role="search" aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ jobId: jobId.trim(), who: who.trim() });
          setPage(1);
        }}>
        <div>
          <label htmlFor={ids.job} className="text-xs font-medium text-slate-700">Job id</label>
          <input id={ids.job} className={input} value={jobId} maxLength={128} onChange={(e) => setJobId(e.target.value)} />
        </div>
        <div>
          <label htmlFor={ids.who} className="text-xs font-medium text-slate-700">Who (user name)</label>
          <input id={ids.who} className={input} value={who} maxLength={64} onChange={(e) => setWho(e.target.value)} />
        </div>
        <div className="flex items-end">
          <button type="submit" className="rounded-md bg-blue-800 px-3 py-2 text-sm font-medium text-white">Apply</button>
        </div>
      </form>
      {audit.loading && !audit.data && <Loading what="Loading the audit log" />}
      {audit.error && <ErrorState message={audit.error} onRetry={audit.reload} />}
      {audit.data && rows.length === 0 && <Empty title="Nothing recorded for these filters" />}
      {rows.length > 0 && (
        <Table caption="Audit log, newest first" headers={[
          { label: "When" }, { label: "Who" }, { label: "Action" }, { label: "Outcome" },
          { label: "Job", className: "hidden md:table-cell" }, { label: "From", className: "hidden lg:table-cell" },
        ]}>
          {rows.map((e) => (
            <tr key={e.id} className="border-t border-slate-200" data-testid="audit-row">
              <td className="whitespace-nowrap px-3 py-2">{formatDate(e.at)}</td>
              <td className="px-3 py-2">{e.who}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.action}</td>
              <td className="px-3 py-2">{e.outcome}</td>
              <td className="hidden max-w-[12rem] truncate px-3 py-2 font-mono text-xs md:table-cell" title={e.job_id ?? undefined}>{e.job_id ?? "—"}</td>
              <td className="hidden px-3 py-2 lg:table-cell">{e.client ?? "—"}</td>
            </tr>
          ))}
        </Table>
      )}
      <Pagination page={page} pages={pages} onPage={setPage} label="Audit log pages" />
    </div>
  );
}
