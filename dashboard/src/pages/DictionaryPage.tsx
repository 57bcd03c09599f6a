import { useEffect, useState } from "react";
import { messageOf } from "../api/errors";
import { unwrap } from "../api/client";
import { useOptional } from "../api/endpoints";
import type { components } from "../api/schema";
import { DataTable } from "../components/DataTable";
import { PatternTable } from "../components/PatternTable";
import { ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { atLeast, useMe, useServices } from "../context";
import { formatBytes, formatDate, formatRatio } from "../lib/format";
import { usePolling } from "../lib/usePolling";

export type Dictionary = components["schemas"]["Dictionary"];
type DictionaryPageReply = components["schemas"]["DictionaryPage"];
const REFRESH_MS = 15_000;

/** The chain of versions a version was trained after, newest first (stops at a gap or a loop). */
export function lineage(id: string, byId: Map<string, Dictionary>): string[] {
  const chain: string[] = [];
  let cur: string | null | undefined = id;
  while (cur && !chain.includes(cur)) {
    chain.push(cur);
    cur = byId.get(cur)?.parent_id;
  }
  return chain;
}

function AbStatus({ state, byId }: { state: DictionaryPageReply["state"]; byId: Map<string, Dictionary> }) {
  const cur = state.current_id ? byId.get(state.current_id) : undefined;
  const cand = state.candidate_id ? byId.get(state.candidate_id) : undefined;
  return (
    <dl data-testid="ab-status" className="mb-4 grid gap-3 rounded-lg border border-slate-200 bg-white p-4 text-sm sm:grid-cols-3">
      <div>
        <dt className="font-medium text-slate-700">Current version</dt>
        <dd className="font-mono">{state.current_id ?? "none"}</dd>
        {cur && <dd>A/B ratio {formatRatio(cur.ab_ratio)} over {cur.ab_chunks} chunks</dd>}
      </div>
      <div>
        <dt className="font-medium text-slate-700">A/B test</dt>
        <dd>{state.candidate_id
          ? <>candidate <span className="font-mono">{state.candidate_id}</span> on {Math.round(state.candidate_share * 100)}% of chunks</>
          : "no test running"}</dd>
        {cand && <dd>A/B ratio {formatRatio(cand.ab_ratio)} over {cand.ab_chunks} chunks</dd>}
      </div>
      <div>
        <dt className="font-medium text-slate-700">Last change</dt>
        <dd>{formatDate(state.at)} (#{state.seq})</dd>
      </div>
    </dl>
  );
}

export default function DictionaryPage() {
  const { client } = useServices();
  const { me } = useMe();
  const admin = atLeast(me, "admin");
  const versions = useOptional<DictionaryPageReply>("dictionaries", { limit: "1000" });
  const [selected, setSelected] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  usePolling(versions.res.reload, REFRESH_MS);

  const data = versions.res.data;
  const rows = data?.items ?? [];
  const byId = new Map(rows.map((d) => [d.id, d]));
  useEffect(() => {
    if (!selected && data) setSelected(data.state.current_id ?? data.items[0]?.id ?? null);
  }, [data, selected]);

  async function act(action: "promote" | "rollback", id: string) {
    setBusy(true);
    setNotice(null);
    try {
      const path = action === "promote" ? "/api/dictionaries/{dictionary_id}/promote" as const
        : "/api/dictionaries/{dictionary_id}/rollback" as const;
      const st = unwrap(await client.POST(path, { params: { path: { dictionary_id: id } } }));
      setNotice({ ok: true, text: action === "promote" ? `${id} is now current`
        : `${id} rolled back; current: ${st.current_id ?? "none"}` });
      versions.res.reload();
    } catch (e) {
      setNotice({ ok: false, text: messageOf(e) });
    } finally {
      setBusy(false);
    }
  }

  const btn = "rounded-md border px-2 py-1 text-xs font-medium disabled:opacity-40";
  return (
    <div>
      <PageHeader title="Dictionaries" />
      {versions.missing ? <NotAvailable feature="The dictionary viewer" endpoint="GET /api/dictionaries" />
        : versions.res.loading && !data ? <Loading what="Loading dictionary versions" />
        : versions.res.error && !data ? <ErrorState message={versions.res.error} onRetry={versions.res.reload} />
        : data && (
          <>
            {notice && (
              <p role={notice.ok ? "status" : "alert"} className={`mb-3 rounded-md p-3 text-sm ${notice.ok
                ? "bg-green-50 text-green-900" : "bg-red-50 text-red-900"}`}>{notice.text}</p>
            )}
            <AbStatus state={data.state} byId={byId} />
            <DataTable rows={rows} caption="Dictionary versions" searchLabel="Search versions" columns={[
              { key: "id", label: "Version", value: (r) => r.id },
              { key: "parent", label: "Trained after", value: (r) => r.parent_id },
              { key: "status", label: "Status", value: (r) => r.status },
              { key: "round", label: "Round", value: (r) => r.round, numeric: true },
              { key: "eps", label: "ε spent", value: (r) => Number(r.epsilon_spent.toFixed(3)), numeric: true },
              { key: "quality", label: "Est. bytes saved", value: (r) => Math.round(r.estimated_bytes_saved), numeric: true },
              { key: "agree", label: "Agreement", value: (r) => Number(r.agreement.toFixed(3)), numeric: true },
              { key: "ab", label: "A/B ratio", value: (r) => (r.ab_ratio == null ? null : Number(r.ab_ratio.toFixed(2))), numeric: true },
              { key: "created", label: "Created", value: (r) => formatDate(r.created_at) },
            ]} rowActions={(r) => (
              <div className="flex gap-1">
                <button type="button" className={`${btn} border-slate-400`} onClick={() => setSelected(r.id)}
                  aria-pressed={selected === r.id} aria-label={`Show patterns of ${r.id}`}>Patterns</button>
                {admin && r.status !== "current" && (
                  <button type="button" className={`${btn} border-blue-700 text-blue-800`} disabled={busy}
                    onClick={() => act("promote", r.id)} aria-label={`Promote ${r.id}`}>Promote</button>
                )}
                {admin && r.status === "current" && (
                  <button type="button" className={`${btn} border-red-700 text-red-800`} disabled={busy}
                    onClick={() => act("rollback", r.id)} aria-label={`Roll back ${r.id}`}>Roll back</button>
                )}
              </div>
            )} />
            {selected && byId.has(selected) && (
              <section className="mt-4 rounded-lg border border-slate-200 bg-white p-4 text-sm" aria-label="Selected version">
                <p><span className="font-medium">Lineage:</span>{" "}
                  <span data-testid="lineage" className="font-mono">{lineage(selected, byId).join(" ← ")}</span></p>
                <p className="mt-1">
                  <StatusBadge status={byId.get(selected)!.status} /> {byId.get(selected)!.patterns} patterns,{" "}
                  {formatBytes(byId.get(selected)!.size)}, ε {byId.get(selected)!.epsilon_spent.toFixed(3)}{" "}
                  (δ {byId.get(selected)!.delta.toExponential(0)}), {byId.get(selected)!.nodes} nodes,{" "}
                  {byId.get(selected)!.dropped} dropped{byId.get(selected)!.converged ? ", converged" : ""}
                </p>
              </section>
            )}
            {selected && <PatternTable key={selected} id={selected} />}
          </>
        )}
    </div>
  );
}
