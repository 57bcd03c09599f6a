/**
 * The cluster: every node (role, status, last heartbeat, CPU, memory, partitions, lag), the
 * topology with each service's health and the live rates on its edges, Kafka's replica health,
 * and alerts — loaded from /api/cluster/* and kept live by the WebSocket's `nodes`, `kafka` and
 * `alert` messages; the edge rates from /api/analytics/series, asked for every 10 s.
 * Read-only: every role may see it, and it offers no control but reloading.
 */
import { useCallback, useEffect, useState } from "react";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import staticTopology from "../api/topology.json";
import { Empty, ErrorState, Loading, PageHeader } from "../components/States";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { TopologyPicture, type TopoService } from "../components/TopologyPicture";
import { useServices } from "../context";
import { compressorLag, edgeRates, FLOW, type SeriesPage } from "../lib/edgeRates";
import { formatBytes, formatDate } from "../lib/format";
import { usePolling } from "../lib/usePolling";
import { useResource } from "../lib/useResource";
import type { LiveMessage } from "../live/connection";

export type ClusterNode = components["schemas"]["Node"];
export type ReplicaReport = components["schemas"]["ReplicaReport"];
export type KafkaReplicas = components["schemas"]["KafkaReplicas"];

export interface Alert {
  kind: string;
  severity: "critical" | "warning" | "info" | string;
  message: string;
  at: number;
  resolved?: boolean;
  instance?: string;
}

const MAX_ALERTS = 50;
const NODE_LIMIT = 1000;
/** edge rates: the last minute in 10 s buckets, asked for again every 10 s */
const RATE_WINDOW = "60s";
const RATE_STEP = 10;
const RATE_POLL_MS = 10_000;

function partitionsText(n: ClusterNode): string {
  if (!n.partitions.length) return "—";
  const exact = n.partitions.filter((p) => p.partition >= 0);
  const counted = n.partitions.filter((p) => p.partition < 0).reduce((a, p) => a + p.count, 0);
  return String(exact.length + counted);
}

function partitionsTitle(n: ClusterNode): string {
  return n.partitions.map((p) => (p.partition >= 0 ? `${p.topic}[${p.partition}] lag ${p.lag < 0 ? "?" : p.lag}`
    : `${p.topic}: ${p.count} partitions`)).join("\n");
}

/** Each declared service's health from its instances: down if none is alive, suspect if some are not. */
export function serviceHealth(services: TopoService[], nodes: ClusterNode[]): TopoService[] {
  return services.map((s) => {
    const mine = nodes.filter((n) => n.role === s.name && n.status !== "left");
    if (!mine.length) return { ...s };
    const alive = mine.filter((n) => n.status === "alive").length;
    const status = alive === mine.length ? "up" : alive === 0 ? "down" : "suspect";
    return { ...s, instances: mine.length, status };
  });
}

export function NodeTable({ nodes }: { nodes: ClusterNode[] }) {
  if (!nodes.length) return <Empty title="No node has reported yet">Nodes appear here after their first heartbeat.</Empty>;
  return (
    <Table caption="Nodes of the cluster" headers={[
      { label: "Node" }, { label: "Role" }, { label: "Status" },
      { label: "Last heartbeat", className: "hidden md:table-cell" }, { label: "CPU", className: "text-right" },
      { label: "Memory", className: "hidden text-right sm:table-cell" },
      { label: "Partitions", className: "hidden text-right sm:table-cell" }, { label: "Lag", className: "text-right" },
    ]}>
      {nodes.map((n) => (
        <tr key={n.instance} className="border-t border-slate-200" data-testid="node-row" data-instance={n.instance}
          data-status={n.status}>
          <th scope="row" className="px-3 py-2 text-left font-medium">{n.instance}
            {n.reason && n.status !== "alive" && <span className="block text-xs font-normal text-slate-600">{n.reason}</span>}
          </th>
          <td className="px-3 py-2">{n.role}</td>
          <td className="px-3 py-2"><StatusBadge status={n.status} /></td>
          <td className="hidden px-3 py-2 md:table-cell">{formatDate(n.last_heartbeat)}</td>
          <td className="px-3 py-2 text-right tabular-nums">{`${n.cpu_percent.toFixed(1)}%`}</td>
          <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell">{formatBytes(n.rss_bytes)}</td>
          <td className="hidden px-3 py-2 text-right tabular-nums sm:table-cell" title={partitionsTitle(n)}>{partitionsText(n)}</td>
          <td className="px-3 py-2 text-right tabular-nums">{n.lag === null || n.lag === undefined ? "—" : n.lag}</td>
        </tr>
      ))}
    </Table>
  );
}

export function KafkaPanel({ kafka }: { kafka: KafkaReplicas }) {
  if (!kafka.available) return <ErrorState message={kafka.error ?? "Kafka did not answer"} />;
  const bad = kafka.under_replicated.length + kafka.offline.length;
  return (
    <div>
      <p className="mb-2 text-sm" data-testid="kafka-summary">
        {kafka.brokers} broker{kafka.brokers === 1 ? "" : "s"} ·{" "}
        {bad ? <strong className="text-red-800">{kafka.under_replicated.length} under-replicated, {kafka.offline.length} offline partition(s)</strong>
          : "every partition fully in sync"}
      </p>
      {kafka.topics.length === 0 ? <Empty title="No mesh topic exists yet" /> : (
        <Table caption="Kafka topics and their in-sync replicas" headers={[
          { label: "Topic" }, { label: "Partitions", className: "text-right" }, { label: "RF", className: "text-right" },
          { label: "Min ISR", className: "text-right" }, { label: "Under-replicated", className: "text-right" },
          { label: "Offline", className: "text-right" },
        ]}>
          {kafka.topics.map((t) => (
            <tr key={t.topic} className="border-t border-slate-200" data-testid="topic-row">
              <th scope="row" className="px-3 py-2 text-left font-medium">{t.topic}</th>
              <td className="px-3 py-2 text-right tabular-nums">{t.partitions}</td>
              <td className="px-3 py-2 text-right tabular-nums">{t.replication_factor}</td>
              <td className="px-3 py-2 text-right tabular-nums">{t.min_isr}</td>
              <td className={`px-3 py-2 text-right tabular-nums ${t.under_replicated ? "font-semibold text-red-800" : ""}`}>{t.under_replicated}</td>
              <td className={`px-3 py-2 text-right tabular-nums ${t.offline ? "font-semibold text-red-800" : ""}`}>{t.offline}</td>
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}

const SEVERITY: Record<string, string> = {
  critical: "border-red-300 bg-red-50 text-red-950",
  warning: "border-amber-300 bg-amber-50 text-amber-950",
  info: "border-slate-200 bg-white text-slate-800",
};

export function AlertList({ alerts }: { alerts: Alert[] }) {
  if (!alerts.length) return <Empty title="No alerts">Node failures, failed jobs, under-replicated partitions and growing lag show up here.</Empty>;
  return (
    <ul className="space-y-2" aria-label="Alerts">
      {alerts.map((a, i) => (
        <li key={`${a.at}-${i}`} data-testid="alert" data-kind={a.kind}
          className={`rounded-md border px-3 py-2 text-sm ${SEVERITY[a.severity] ?? SEVERITY.info}`}>
          <span className="mr-2 font-semibold">{a.resolved ? "resolved" : a.severity}</span>
          {a.message}
          <span className="ml-2 text-xs text-slate-600">{new Date(a.at * 1000).toLocaleTimeString()}</span>
        </li>
      ))}
    </ul>
  );
}

function isAlert(x: unknown): x is Alert {
  return Boolean(x && typeof x === "object" && typeof (x as Alert).message === "string" && typeof (x as Alert).kind === "string");
}

export default function ClusterPage() {
  const { client, live } = useServices();
  const nodes = useResource<ClusterNode[]>(async () => unwrap(await client.GET("/api/cluster/nodes", {
    params: { query: { limit: NODE_LIMIT } } })).items, "nodes");
  const replicas = useResource<ReplicaReport>(async () => unwrap(await client.GET("/api/cluster/replicas", {
    params: { query: { limit: 20 } } })), "replicas");
  const leader = useResource(async () => unwrap(await client.GET("/api/cluster/leader")), "leader");
  const seriesOf = (by: "node" | "replica") => async () => unwrap(await client.GET("/api/analytics/series", {
    params: { query: { by, window: RATE_WINDOW, step: RATE_STEP } } })) as SeriesPage;
  const nodeRates = useResource<SeriesPage>(seriesOf("node"), "rates-node");
  const replicaRates = useResource<SeriesPage>(seriesOf("replica"), "rates-replica");
  const reloadRates = useCallback(() => {
    nodeRates.reload();
    replicaRates.reload();
  }, [nodeRates.reload, replicaRates.reload]);
  usePolling(reloadRates, RATE_POLL_MS);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const setNodes = nodes.setData;
  const setReplicas = replicas.setData;
  const addAlerts = useCallback((more: Alert[]) => setAlerts((old) => [...more.reverse(), ...old].slice(0, MAX_ALERTS)), []);

  useEffect(() => {
    const offs = [
      live.subscribe("nodes", (m: LiveMessage) => {
        if (Array.isArray(m.nodes)) setNodes(() => m.nodes as ClusterNode[]);
      }),
      live.subscribe("kafka", (m: LiveMessage) => {
        if (m.kafka && typeof m.kafka === "object") setReplicas((old) => (old ? { ...old, kafka: m.kafka as KafkaReplicas } : old));
      }),
      live.subscribe("alert", (m: LiveMessage) => {
        if (isAlert(m.alert)) addAlerts([m.alert]);
      }),
      live.subscribe("snapshot", (m: LiveMessage) => {
        if (Array.isArray(m.alerts)) setAlerts(m.alerts.filter(isAlert).reverse().slice(0, MAX_ALERTS));
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [live, setNodes, setReplicas, addAlerts]);

  const nodeList = nodes.data ?? [];
  const services = serviceHealth(staticTopology.services as TopoService[], nodeList);
  // the last answer stays on screen while the next is on its way; an error replaces it
  const rates = edgeRates({
    nodes: nodeRates.error ? nodeRates.error : nodeRates.data,
    replicas: replicaRates.error ? replicaRates.error : replicaRates.data,
    chunkLag: compressorLag(nodeList),
  });

  return (
    <div>
      <PageHeader title="Cluster">
        <span className="text-sm text-slate-700" data-testid="leader">
          Coordinator leader: {leader.data ? (leader.data.leader ?? "none") : leader.error ? "unknown" : "…"}
        </span>
      </PageHeader>
      <section aria-labelledby="alerts-title" className="mb-8">
        <h2 id="alerts-title" className="mb-2 text-base font-semibold">Alerts</h2>
        <AlertList alerts={alerts} />
      </section>
      <section aria-labelledby="nodes-title" className="mb-8">
        <h2 id="nodes-title" className="mb-2 text-base font-semibold">Nodes</h2>
        {nodes.loading && !nodes.data ? <Loading what="Loading nodes" />
          : nodes.error && !nodes.data ? <ErrorState message={nodes.error} onRetry={nodes.reload} />
          : <NodeTable nodes={nodeList} />}
      </section>
      <section aria-labelledby="topo-h" className="mb-8">
        <h2 id="topo-h" className="mb-2 text-base font-semibold">Topology</h2>
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white p-4">
          <TopologyPicture services={services} flow={FLOW} rates={rates} />
        </div>
      </section>
      <section aria-labelledby="kafka-h">
        <h2 id="kafka-h" className="mb-2 text-base font-semibold">Kafka replicas</h2>
        {replicas.loading && !replicas.data ? <Loading what="Loading replica health" />
          : replicas.error && !replicas.data ? <ErrorState message={replicas.error} onRetry={replicas.reload} />
          : replicas.data ? <KafkaPanel kafka={replicas.data.kafka} /> : null}
      </section>
    </div>
  );
}
