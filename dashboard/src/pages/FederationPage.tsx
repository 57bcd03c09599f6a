import { useOptional } from "../api/endpoints";
import { DataTable } from "../components/DataTable";
import { ProgressBar } from "../components/ProgressBar";
import { ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";

/** A federated round as the federator is expected to list it. */
export interface Round {
  id: string | number;
  participants?: number | null;
  dropouts?: number | null;
  epsilon?: number | null;
  convergence?: number | null;
  status?: string | null;
}

interface RoundsReply {
  rounds: Round[];
  budget?: { spent: number; total: number };
}

export default function FederationPage() {
  const rounds = useOptional<Round[] | RoundsReply>("rounds");
  const data = rounds.res.data;
  const rows = data ? (Array.isArray(data) ? data : data.rounds ?? []) : [];
  const budget = data && !Array.isArray(data) ? data.budget : undefined;
  return (
    <div>
      <PageHeader title="Federated rounds" />
      {rounds.missing ? <NotAvailable feature="Federated rounds" endpoint="GET /api/federation/rounds" />
        : rounds.res.loading && !data ? <Loading what="Loading rounds" />
        : rounds.res.error ? <ErrorState message={rounds.res.error} onRetry={rounds.res.reload} />
        : (
          <>
            {budget && budget.total > 0 && (
              <div className="mb-4 max-w-md">
                <p className="mb-1 text-sm">Privacy budget: ε {budget.spent.toFixed(2)} of {budget.total.toFixed(2)}</p>
                <ProgressBar value={(100 * budget.spent) / budget.total} label="Privacy budget spent" />
              </div>
            )}
            <DataTable rows={rows} caption="Federated rounds" columns={[
              { key: "id", label: "Round", value: (r) => r.id },
              { key: "status", label: "Status", value: (r) => r.status },
              { key: "p", label: "Participants", value: (r) => r.participants, numeric: true },
              { key: "d", label: "Dropouts", value: (r) => r.dropouts, numeric: true },
              { key: "e", label: "ε", value: (r) => r.epsilon, numeric: true },
              { key: "c", label: "Convergence", value: (r) => r.convergence, numeric: true },
            ]} />
          </>
        )}
    </div>
  );
}
