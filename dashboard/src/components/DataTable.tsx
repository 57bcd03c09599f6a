import { useState, type ReactNode } from "react";
import { Empty } from "./States";
import { Table, type Header } from "./Table";

export interface Column<T> {
  key: string;
  label: string;
  value: (row: T) => string | number | null | undefined;
  numeric?: boolean;
}

/** A sortable, searchable table for the list pages (dictionary versions, rounds, patterns). */
export function DataTable<T>({ rows, columns, caption, searchLabel, rowActions }: {
  rows: T[]; columns: Column<T>[]; caption: string; searchLabel?: string;
  /** controls at the end of each row (a column headed "Actions") */
  rowActions?: (row: T) => ReactNode;
}) {
  const [sort, setSort] = useState<{ key: string; desc: boolean } | null>(null);
  const [q, setQ] = useState("");
  const needle = q.trim().toLowerCase();
  let shown = needle
    ? rows.filter((r) => columns.some((c) => String(c.value(r) ?? "").toLowerCase().includes(needle)))
    : rows;
  if (sort) {
    const col = columns.find((c) => c.key === sort.key)!;
    shown = [...shown].sort((a, b) => {
      const x = col.value(a) ?? "";
      const y = col.value(b) ?? "";
      const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return sort.desc ? -cmp : cmp;
    });
  }
  return (
    <div>
      {searchLabel && (
        <label className="mb-2 block text-sm font-medium">
          {searchLabel}
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)}
            className="mt-1 block w-full max-w-xs rounded-md border border-slate-400 bg-white px-2 py-1.5 text-sm" />
        </label>
      )}
      {shown.length === 0 ? <Empty title={rows.length ? "Nothing matches" : "Nothing yet"} /> : (
        <Table caption={caption} headers={[...columns.map((c): Header => {
          const active = sort?.key === c.key;
          return {
            className: c.numeric ? "text-right" : "",
            ariaSort: active ? (sort!.desc ? "descending" : "ascending") : "none",
            label: (
              <button type="button" className="uppercase"
                onClick={() => setSort({ key: c.key, desc: active ? !sort!.desc : false })}>
                {c.label}{active ? (sort!.desc ? " ↓" : " ↑") : ""}
              </button>
            ),
          };
        }), ...(rowActions ? [{ label: "Actions" }] : [])]}>
              {shown.map((r, i) => (
                <tr key={i} className="border-t border-slate-200" data-testid="data-row">
                  {columns.map((c) => (
                    <td key={c.key} className={`px-3 py-2 ${c.numeric ? "text-right tabular-nums" : ""}`}>
                      {c.value(r) ?? "—"}
                    </td>
                  ))}
                  {rowActions && <td className="px-3 py-2">{rowActions(r)}</td>}
                </tr>
              ))}
        </Table>
      )}
    </div>
  );
}
