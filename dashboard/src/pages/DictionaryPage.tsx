import { useOptional } from "../api/endpoints";
import { DataTable } from "../components/DataTable";
import { ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";

/** A dictionary version as the federator is expected to list it. */
export interface DictVersion {
  id: string;
  parent?: string | null;
  epsilon_spent?: number | null;
  quality?: number | null;
  status?: string | null;
  created_at?: string | null;
}

export default function DictionaryPage() {
  const versions = useOptional<DictVersion[] | { versions: DictVersion[] }>("dictionaries");
  const rows = versions.res.data ? (Array.isArray(versions.res.data) ? versions.res.data : versions.res.data.versions ?? []) : [];
  return (
    <div>
      <PageHeader title="Dictionaries" />
      {versions.missing ? <NotAvailable feature="The dictionary viewer" endpoint="GET /api/dictionaries" />
        : versions.res.loading && !versions.res.data ? <Loading what="Loading dictionary versions" />
        : versions.res.error ? <ErrorState message={versions.res.error} onRetry={versions.res.reload} />
        : (
          <DataTable rows={rows} caption="Dictionary versions" searchLabel="Search versions" columns={[
            { key: "id", label: "Version", value: (r) => r.id },
            { key: "parent", label: "Parent", value: (r) => r.parent },
            { key: "status", label: "A/B status", value: (r) => r.status },
            { key: "eps", label: "ε spent", value: (r) => r.epsilon_spent, numeric: true },
            { key: "quality", label: "Quality", value: (r) => r.quality, numeric: true },
          ]} />
        )}
    </div>
  );
}
