import staticTopology from "../api/topology.json";
import { useOptional } from "../api/endpoints";
import { Empty, ErrorState, Loading, NotAvailable, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { TopologyPicture, type TopoEdgeRate, type TopoService } from "../components/TopologyPicture";
import { formatDate } from "../lib/format";

/** A node as the coordinator's cluster endpoint is expected to describe it (every field optional). */
export interface ClusterNode {
  id?: string;
  name?: string;
  role?: string;
  service?: string;
  status?: string;
  last_heartbeat?: string | null;
  cpu?: number | null;
  memory?: number | null;
  partitions?: number | number[] | null;
  lag?: number | null;
}

const num = (v: number | null | undefined, unit = "") => (v === null || v === undefined ? "—" : `${v}${unit}`);

export function NodeTable({ nodes }: { nodes: ClusterNode[] }) {
  if (!nodes.length) return <Empty title="No node has reported yet" />;
  return (
    <Table caption="Nodes of the cluster" headers={[
      { label: "Node" }, { label: "Role" }, { label: "Status" },
      { label: "Last heartbeat", className: "hidden md:table-cell" }, { label: "CPU", className: "text-right" },
      { label: "Memory", className: "hidden text-right sm:table-cell" },
      { label: "Partitions", className: "hidden text-right sm:table-cell" }, { label: "Lag", className: "text-right" },
    ]}>
      {nodes.map((n, i) => {
        const name = n.name ?? n.id ?? `node ${i + 1}`;
        const parts = Array.isArray(n.partitions) ? n.partitions.length : n.partitions;
        return (
          <tr key={name} className="border-t border-slate-200" data-testid="node-row">
            <td className="px-3 py-2 font-medium">{name}</td>
            <td className="px-3 py-2">{n.role ?? n.service ?? "—"}</td>
            <td className="px-3 py-2"><StatusBadge status={n.status ?? "unknown"} /></td>
            <td className="hidden px-3 py-2 md:table-cell">{formatDate(n.last_heartbeat)}</td>
            <td className="px-3 py-2 text-right tabular-nums">{num(n.cpu, "%")}</td>
            <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell">{num(n.memory, "%")}</td>
            <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell">{num(parts)}</td>
            <td className="px-3 py-2 text-right tabular-nums">{num(n.lag)}</td>
          </tr>
        );
      })}
    </Table>
  );
}

export default function ClusterPage() {
  const nodes = useOptional<ClusterNode[] | { nodes: ClusterNode[] }>("nodes");
  const topo = useOptional<{ services: TopoService[]; rates?: TopoEdgeRate[] }>("topology");
  const nodeList = nodes.res.data ? (Array.isArray(nodes.res.data) ? nodes.res.data : nodes.res.data.nodes ?? []) : [];
  const liveTopo = !topo.missing && topo.res.data?.services?.length ? topo.res.data : null;

  return (
    <div>
      <PageHeader title="Cluster" />
      <section aria-labelledby="nodes-title" className="mb-8">
        <h2 id="nodes-title" className="mb-2 text-base font-semibold">Nodes</h2>
        {nodes.missing ? <NotAvailable feature="The node list" endpoint="GET /api/cluster/nodes" />
          : nodes.res.loading && !nodes.res.data ? <Loading what="Loading nodes" />
          : nodes.res.error ? <ErrorState message={nodes.res.error} onRetry={nodes.res.reload} />
          : <NodeTable nodes={nodeList} />}
      </section>
      <section aria-labelledby="topo-h">
        <h2 id="topo-h" className="mb-2 text-base font-semibold">Topology</h2>
        {!liveTopo && (
          <p className="mb-2 text-sm text-slate-600">
            {topo.missing ? "This server has no live topology; this is the mesh as topology.yaml declares it."
              : topo.res.loading ? "Loading the live topology…" : "Showing the declared topology."}
          </p>
        )}
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white p-4">
          <TopologyPicture services={liveTopo?.services ?? (staticTopology.services as TopoService[])}
            rates={liveTopo?.rates ?? []} />
        </div>
      </section>
    </div>
  );
}
