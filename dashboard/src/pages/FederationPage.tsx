import { unwrap } from "../api/client";
import { useOptional } from "../api/endpoints";
import type { components } from "../api/schema";
import { DataTable } from "../components/DataTable";
import { ProgressBar } from "../components/ProgressBar";
import { RoundsChart } from "../components/RoundsChart";
import { ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { useServices } from "../context";
import { formatDate } from "../lib/format";
import { usePolling } from "../lib/usePolling";
import { useResource } from "../lib/useResource";

type Round = components["schemas"]["Round"];
type Budget = components["schemas"]["Budget"];
const REFRESH_MS = 10_000;

export function BudgetPanel({ budget }: { budget: Budget }) {
  const pct = budget.epsilon > 0 ? (100 * budget.epsilon_spent) / budget.epsilon : 0;
  return (
    <section aria-label="Privacy budget" className="mb-4 rounded-lg border border-slate-200 bg-white p-4 text-sm">
      <p className="mb-1 font-medium" data-testid="budget-text">
        Privacy budget: ε {budget.epsilon_spent.toFixed(3)} spent of {budget.epsilon.toFixed(2)}
        {" "}(δ {budget.delta.toExponential(0)}){budget.exhausted ? " — exhausted" : ""}
      </p>
      <div className="max-w-md"><ProgressBar value={pct} label="Privacy budget spent"
        tone={budget.exhausted ? "red" : "blue"} /></div>
      <p className="mt-2 text-slate-700">
        Training {budget.training_id ?? "none yet"} ({budget.status}{budget.reason ? `: ${budget.reason}` : ""}),
        {" "}{budget.releases} of {budget.max_releases} releases, noise multiplier {budget.noise_multiplier.toFixed(2)},
        {" "}accountant {budget.accountant}
      </p>
    </section>
  );
}

/** The newest round whose release converged, if any. */
export function convergedAt(rounds: Round[]): Round | undefined {
  return [...rounds].sort((a, b) => a.id - b.id).find((r) => r.converged);
}

export default function FederationPage() {
  const { client } = useServices();
  const rounds = useOptional<components["schemas"]["RoundPage"]>("rounds", { limit: "200" });
  const budget = useResource<Budget>(async () => unwrap(await client.GET("/api/federation/budget")), "budget",
    !rounds.missing);
  usePolling(rounds.res.reload, REFRESH_MS);
  usePolling(budget.reload, REFRESH_MS);
  const rows = rounds.res.data?.items ?? [];
  const conv = convergedAt(rows);
  return (
    <div>
      <PageHeader title="Federated rounds" />
      {rounds.missing ? <NotAvailable feature="Federated rounds" endpoint="GET /api/federation/rounds" />
        : rounds.res.loading && !rounds.res.data ? <Loading what="Loading rounds" />
        : rounds.res.error && !rounds.res.data ? <ErrorState message={rounds.res.error} onRetry={rounds.res.reload} />
        : (
          <>
            {budget.data ? <BudgetPanel budget={budget.data} />
              : budget.error ? <ErrorState message={budget.error} onRetry={budget.reload} />
              : <Loading what="Loading the privacy budget" />}
            <p className="mb-3 text-sm" data-testid="convergence">
              {conv ? `Converged at round ${conv.id} (agreement ${conv.agreement?.toFixed(2)})`
                : "Not converged yet"}
              {" · "}{rounds.res.data?.total ?? 0} rounds
            </p>
            <div className="mb-4 rounded-lg border border-slate-200 bg-white p-4"><RoundsChart rounds={rows} /></div>
            <DataTable rows={rows} caption="Federated rounds" searchLabel="Search rounds" columns={[
              { key: "id", label: "Round", value: (r) => r.id, numeric: true },
              { key: "status", label: "Status", value: (r) => r.status },
              { key: "level", label: "Level", value: (r) => r.level, numeric: true },
              { key: "p", label: "Participants", value: (r) => r.participants, numeric: true },
              { key: "c", label: "Contributed", value: (r) => r.contributed, numeric: true },
              { key: "d", label: "Dropouts", value: (r) => r.dropouts, numeric: true },
              { key: "x", label: "Left out", value: (r) => r.excluded.join("; ") || null },
              { key: "e", label: "ε spent", value: (r) => Number(r.epsilon_spent.toFixed(3)), numeric: true },
              { key: "a", label: "Agreement", value: (r) => (r.agreement == null ? null : Number(r.agreement.toFixed(3))), numeric: true },
              { key: "dict", label: "Released", value: (r) => r.dictionary_id },
              { key: "why", label: "Reason", value: (r) => r.reason },
              { key: "t", label: "Opened", value: (r) => formatDate(r.opened_at) },
            ]} />
          </>
        )}
    </div>
  );
}
