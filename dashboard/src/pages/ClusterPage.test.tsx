import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { FakeSocket, VIEWER, clusterNode, fakeFetch, json, makeServices, page, renderWith } from "../test/fakes";
import ClusterPage, { serviceHealth } from "./ClusterPage";

const KAFKA = {
  available: true, error: null, brokers: 3, under_replicated: [], offline: [],
  topics: [{ topic: "cobol.chunks", partitions: 6, replication_factor: 3, min_isr: 3, under_replicated: 0, offline: 0 }],
};

function server(nodes = [clusterNode(), clusterNode({ instance: "archive-1", role: "archive", lag: null, partitions: [] })]) {
  return {
    "GET /api/cluster/nodes": () => json(page(nodes)),
    "GET /api/cluster/replicas": () => json({ min_replicas: 1, archives: [], jobs: [], kafka: KAFKA }),
    "GET /api/cluster/leader": () => json({ leader: "coordinator-1", fencing_token: 4, answered_by: "coordinator-1",
      answered_by_leader: true }),
  };
}

function agg(name: string, count: number, bytes_in: number, bytes_out: number) {
  return { name, count, bytes_in, bytes_out, codec_seconds: 0, ratio: 0, mb_per_s: 0, latency_mean: 0,
    latency_p50: 0, latency_p99: 0, latency_max: 0 };
}

/** /api/analytics/series for the edge rates: one minute of complete 10 s buckets */
function series(by: string, name: string, count: number, bytesIn: number, bytesOut: number) {
  return { by, metric: null, window: 10, range: { start: 1000, end: 1060, step: 10 },
    series: [{ name, points: [{ t: 1020, value: null, aggregate: agg(name, count, bytesIn, bytesOut) }] }] };
}

function row(instance: string) {
  return screen.getAllByTestId("node-row").find((r) => r.getAttribute("data-instance") === instance)!;
}

async function openSocket() {
  await waitFor(() => expect(FakeSocket.all.length).toBeGreaterThan(0));
  const sock = FakeSocket.all[FakeSocket.all.length - 1];
  act(() => sock.open());
  return sock;
}

describe("ClusterPage", () => {
  it("lists every node with role, status, heartbeat, CPU, memory, partitions and lag", async () => {
    const { calls } = fakeFetch(server());
    renderWith(<ClusterPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(screen.getAllByTestId("node-row")).toHaveLength(2));
    const c1 = within(row("compressor-1"));
    expect(c1.getByText("compressor")).toBeTruthy();
    expect(c1.getByText("alive")).toBeTruthy();
    expect(c1.getByText("12.5%")).toBeTruthy();
    expect(c1.getByText("100.0 MiB")).toBeTruthy();
    expect(c1.getByText("2")).toBeTruthy();          // partitions
    expect(c1.getByText("7")).toBeTruthy();          // total lag
    expect(within(row("archive-1")).getAllByText("—").length).toBeGreaterThan(0); // no partitions, lag unknown
    expect(screen.getByTestId("leader").textContent).toContain("coordinator-1");
    expect((await screen.findByTestId("kafka-summary")).textContent).toContain("every partition fully in sync");
    expect(screen.getAllByTestId("topic-row")).toHaveLength(1);
    const nodesCall = calls.find((c) => new URL(c.url).pathname === "/api/cluster/nodes")!;
    expect(nodesCall.headers.get("Authorization")).toBe("Bearer tok-1");
    // a viewer gets nothing to press but a retry: the page changes nothing
    expect(screen.queryAllByRole("button")).toHaveLength(0);
  });

  it("follows the live node list, Kafka's replica state and alerts over the WebSocket", async () => {
    fakeFetch(server());
    const services = makeServices();
    renderWith(<ClusterPage />, { services, me: VIEWER });
    services.live.start();
    await waitFor(() => expect(screen.getAllByTestId("node-row")).toHaveLength(2));
    const sock = await openSocket();
    act(() => sock.receive({ type: "snapshot", jobs: [], alerts: [] }));
    expect(screen.getByText("No alerts")).toBeTruthy();
    act(() => sock.receive({ type: "nodes", nodes: [clusterNode({ status: "down", reason: "no heartbeat for 4.6 s" }),
      clusterNode({ instance: "archive-1", role: "archive", lag: null, partitions: [] })] }));
    await waitFor(() => expect(row("compressor-1").getAttribute("data-status")).toBe("down"));
    expect(within(row("compressor-1")).getByText("no heartbeat for 4.6 s")).toBeTruthy();
    // the topology shows the compressor service down: its only instance is
    expect(screen.getByTestId("topology").querySelector('[data-node="compressor"]')!.textContent).toContain("down");
    act(() => sock.receive({ type: "alert", alert: { kind: "node_down", severity: "critical", at: 1764410000,
      message: "compressor-1 (compressor) is down: no heartbeat for 4.6 s", instance: "compressor-1" } }));
    const alert = await screen.findByTestId("alert");
    expect(alert.getAttribute("data-kind")).toBe("node_down");
    expect(alert.textContent).toContain("critical");
    act(() => sock.receive({ type: "kafka", kafka: { ...KAFKA, under_replicated: [
      { topic: "cobol.chunks", partition: 2, leader: 1, replicas: [1, 2, 3], isr: [1, 2] }],
      topics: [{ ...KAFKA.topics[0], min_isr: 2, under_replicated: 1 }] } }));
    await waitFor(() => expect(screen.getByTestId("kafka-summary").textContent).toContain("1 under-replicated"));
    act(() => sock.receive({ type: "alert", alert: { kind: "lag_growing", severity: "warning", at: 1764410005,
      message: "compressor-2 is falling behind: lag 900 and growing" } }));
    await waitFor(() => expect(screen.getAllByTestId("alert").map((a) => a.getAttribute("data-kind")))
      .toEqual(["lag_growing", "node_down"]));
    services.live.stop();
  });

  it("shows loading, then an error with a retry when the coordinator is down, then recovers", async () => {
    let up = false;
    fakeFetch({
      ...server(),
      "GET /api/cluster/nodes": () => (up ? json(page([clusterNode()]))
        : json({ detail: "the coordinator is unavailable (UNAVAILABLE): the node list cannot be read; retry" }, 503)),
    });
    renderWith(<ClusterPage />, { services: makeServices(), me: VIEWER });
    expect(screen.getByText("Loading nodes…")).toBeTruthy();
    expect(await screen.findByText(/the coordinator is unavailable/)).toBeTruthy();
    up = true;
    act(() => screen.getByRole("button", { name: "Try again" }).click());
    await waitFor(() => expect(screen.getAllByTestId("node-row")).toHaveLength(1));
  });

  it("says so when no node has reported", async () => {
    fakeFetch(server([]));
    renderWith(<ClusterPage />, { services: makeServices(), me: VIEWER });
    expect(await screen.findByText("No node has reported yet")).toBeTruthy();
  });

  it("labels the topology's edges with the rates analytics measured, and the rest with no data", async () => {
    const { calls } = fakeFetch({
      ...server(),
      "GET /api/analytics/series": (req: Request) => {
        const by = new URL(req.url).searchParams.get("by");
        return json(by === "node" ? series("node", "compressor-1", 120, 61440 * 60, 6144 * 60)
          : series("replica", "archive-1", 60, 61440 * 30, 6144 * 30));
      },
    });
    renderWith(<ClusterPage />, { services: makeServices(), me: VIEWER });
    const label = async (edge: string) => {
      await waitFor(() => expect(document.querySelector(`[data-testid="edge-rate"][data-edge="${edge}"]`)
        ?.getAttribute("data-measured")).toBe("yes"));
      return document.querySelector(`[data-testid="edge-rate"][data-edge="${edge}"]`)!.textContent;
    };
    expect(await label("cobol.chunks->compressor")).toBe("60.0 KiB/s2.00 chunks/slag 7");
    expect(await label("compressor->cobol.frames")).toBe("6.00 KiB/s2.00 frames/s");
    expect(await label("cobol.frames->archive")).toBe("3.00 KiB/s1.00 chunks/s");
    expect(await label("cobol.frames->analytics")).toBe("6.00 KiB/s2.00 frames/s");
    const ingest = document.querySelector('[data-testid="edge-rate"][data-edge="ingest->cobol.chunks"]')!;
    expect([ingest.textContent, ingest.getAttribute("data-measured")]).toEqual(["no data", "no"]);
    const asked = calls.filter((c) => new URL(c.url).pathname === "/api/analytics/series")
      .map((c) => Object.fromEntries(new URL(c.url).searchParams));
    expect(asked).toEqual(expect.arrayContaining([{ by: "node", window: "60s", step: "10" },
      { by: "replica", window: "60s", step: "10" }]));
  });

  it("shows no data on the measured edges while analytics is unavailable", async () => {
    fakeFetch({
      ...server(),
      "GET /api/analytics/series": () => json({ detail: "the analytics service is unavailable (UNAVAILABLE: x); retry shortly" }, 503),
    });
    renderWith(<ClusterPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(document.querySelector('[data-testid="edge-rate"][data-edge="cobol.chunks->compressor"]')
      ?.textContent).toBe("no data"));
    const edge = document.querySelector('[data-edge="cobol.chunks->compressor"][data-kind="data"]')!;
    expect(edge.querySelector("title")!.textContent).toContain("analytics unavailable");
    expect(document.querySelectorAll('[data-testid="edge-rate"][data-measured="yes"]')).toHaveLength(0);
    // the rest of the page still works
    expect(screen.getAllByTestId("node-row")).toHaveLength(2);
  });

  it("derives each service's health from its instances", () => {
    const svc = [{ name: "compressor" }, { name: "archive" }, { name: "ingest" }];
    const got = serviceHealth(svc, [clusterNode(), clusterNode({ instance: "compressor-2", status: "down" }),
      clusterNode({ instance: "archive-1", role: "archive", status: "down" }),
      clusterNode({ instance: "archive-2", role: "archive", status: "left" })] as never);
    expect(got.map((s) => [s.name, s.status, s.instances])).toEqual([
      ["compressor", "suspect", 2], ["archive", "down", 1], ["ingest", undefined, undefined]]);
  });
});
