import { useId, useState } from "react";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { useServices } from "../context";
import { formatBytes } from "../lib/format";
import { useResource } from "../lib/useResource";
import { Pagination } from "./Pagination";
import { Empty, ErrorState, Loading } from "./States";
import { Table } from "./Table";

type Sort = "bytes_saved" | "frequency" | "length" | "text";
const PAGE_SIZE = 25;
const SORTS: { value: Sort; label: string }[] = [
  { value: "bytes_saved", label: "Bytes saved" },
  { value: "frequency", label: "Frequency" },
  { value: "length", label: "Length" },
  { value: "text", label: "Pattern" },
];

/** Printable form of a pattern: control characters shown as ␀-style escapes, not raw. */
export function visible(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t"
    : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/** A version's patterns, sorted, searched and paged by the server. */
export function PatternTable({ id }: { id: string }) {
  const { client } = useServices();
  const [sort, setSort] = useState<Sort>("bytes_saved");
  const [order, setOrder] = useState<"desc" | "asc">("desc");
  const [q, setQ] = useState("");
  const [page, setPage] = useState(1);
  const ids = { sort: useId(), order: useId(), q: useId() };
  const query = { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE, sort, order, ...(q.trim() ? { q: q.trim() } : {}) };
  const res = useResource<components["schemas"]["PatternPage"]>(
    async () => unwrap(await client.GET("/api/dictionaries/{dictionary_id}/patterns",
      { params: { path: { dictionary_id: id }, query } })),
    `${id}?${JSON.stringify(query)}`);
  const pages = res.data ? Math.max(1, Math.ceil(res.data.total / PAGE_SIZE)) : 1;
  const field = "rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm";
  return (
    <section aria-labelledby={`${ids.q}-h`} aria-busy={res.loading} data-testid="patterns" className="mt-6">
      <h2 id={`${ids.q}-h`} className="mb-2 text-lg font-semibold">Patterns of {id}</h2>
      <div className="mb-3 flex flex-wrap items-end gap-3">
        <label htmlFor={ids.q} className="text-sm font-medium">Search patterns
          <input id={ids.q} type="search" value={q} className={`mt-1 block ${field}`}
            onChange={(e) => { setQ(e.target.value); setPage(1); }} />
        </label>
        <label htmlFor={ids.sort} className="text-sm font-medium">Sort by
          <select id={ids.sort} value={sort} className={`mt-1 block ${field}`}
            onChange={(e) => { setSort(e.target.value as Sort); setPage(1); }}>
            {SORTS.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
          </select>
        </label>
        <label htmlFor={ids.order} className="text-sm font-medium">Order
          <select id={ids.order} value={order} className={`mt-1 block ${field}`}
            onChange={(e) => { setOrder(e.target.value as "desc" | "asc"); setPage(1); }}>
            <option value="desc">Largest first</option>
            <option value="asc">Smallest first</option>
          </select>
        </label>
        {res.data && <span className="text-sm text-slate-700" aria-live="polite">{res.data.total} patterns</span>}
      </div>
      {res.loading && !res.data ? <Loading what="Loading patterns" />
        : res.error ? <ErrorState message={res.error} onRetry={res.reload} />
        : !res.data || res.data.items.length === 0 ? <Empty title={q ? "No pattern matches" : "No patterns"} />
        : (
          <>
            <Table caption={`Patterns of dictionary ${id}`} headers={[
              { label: "Pattern" }, { label: "Length", className: "text-right" },
              { label: "Frequency", className: "text-right" }, { label: "Bytes saved", className: "text-right" }]}>
              {res.data.items.map((p) => (
                <tr key={p.hex} data-testid="pattern-row" className="border-t border-slate-200">
                  <td className="px-3 py-2"><code className="whitespace-pre-wrap break-all" title={p.hex}>{visible(p.text)}</code></td>
                  <td className="px-3 py-2 text-right tabular-nums">{p.length}</td>
                  <td className="px-3 py-2 text-right tabular-nums">{p.frequency.toFixed(1)}</td>
                  <td className="px-3 py-2 text-right tabular-nums">{formatBytes(Math.round(p.bytes_saved))}</td>
                </tr>
              ))}
            </Table>
            <Pagination page={page} pages={pages} onPage={setPage} label="Pattern pages" />
          </>
        )}
    </section>
  );
}
