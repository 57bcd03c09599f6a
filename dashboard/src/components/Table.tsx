import type { ReactNode } from "react";

export interface Header {
  label: ReactNode;
  className?: string;
  ariaSort?: "ascending" | "descending" | "none";
}

/** The app's table: scrolls sideways on small screens, a caption for screen readers, scoped headers. */
export function Table({ caption, headers, children }: { caption: string; headers: Header[]; children: ReactNode }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead className="bg-slate-100 text-xs uppercase text-slate-700">
          <tr>
            {headers.map((h, i) => (
              <th key={i} scope="col" className={`px-3 py-2 ${h.className ?? ""}`} aria-sort={h.ariaSort}>{h.label}</th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
