import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { FLOW, type TopoEdgeRate } from "../lib/edgeRates";
import { layout, TopologyPicture, type TopoService } from "./TopologyPicture";

// the shape of topology.yaml's services
const SERVICES: TopoService[] = [
  { name: "coordinator", talks_to: [] },
  { name: "archive", talks_to: ["coordinator", "archive", "federator"] },
  { name: "federator", talks_to: [] },
  { name: "compressor", talks_to: ["coordinator", "federator"] },
  { name: "ingest", talks_to: ["coordinator"] },
  { name: "api", talks_to: ["ingest", "coordinator", "archive", "federator", "analytics"] },
  { name: "analytics", talks_to: [] },
];

describe("layout", () => {
  it("puts the data flow left to right, its callers before it and the called-only services underneath", () => {
    const boxes = new Map(layout(SERVICES, FLOW).map((b) => [b.name, b]));
    const col = (n: string) => boxes.get(n)!.col;
    expect(col("ingest")).toBeLessThan(col("cobol.chunks"));
    expect(col("cobol.chunks")).toBeLessThan(col("compressor"));
    expect(col("compressor")).toBeLessThan(col("cobol.frames"));
    expect(col("cobol.frames") + 1).toBe(col("archive"));
    expect(col("cobol.frames") + 1).toBe(col("analytics"));
    expect(col("api")).toBe(0);
    expect(boxes.get("cobol.frames")!.topic).toBe(true);
    expect(boxes.get("compressor")!.topic).toBe(false);
    const bottom = Math.max(...[...boxes.values()].map((b) => b.row));
    expect(boxes.get("coordinator")!.row).toBe(bottom);
    expect(boxes.get("federator")!.row).toBe(bottom);
    expect(boxes.get("compressor")!.row).toBeLessThan(bottom);
    // no two boxes on one spot
    expect(new Set([...boxes.values()].map((b) => `${b.col},${b.row}`)).size).toBe(boxes.size);
  });

  it("without a flow, lays services out by who calls whom alone", () => {
    const boxes = new Map(layout(SERVICES, []).map((b) => [b.name, b]));
    expect(boxes.get("api")!.col).toBe(0);
    expect(boxes.get("coordinator")!.col).toBeGreaterThan(boxes.get("archive")!.col);
    expect([...boxes.values()].some((b) => b.topic)).toBe(false);
  });
});

describe("TopologyPicture", () => {
  const rates: TopoEdgeRate[] = [
    { from: "cobol.chunks", to: "compressor", lines: ["1.2 MiB/s", "3.00 chunks/s · lag 4"], measured: true, title: "t" },
    { from: "ingest", to: "cobol.chunks", lines: ["no data"], measured: false, title: "nothing measures this" },
  ];

  it("draws topics, labels data edges with their rate or no data, and leaves gRPC calls unlabelled", () => {
    const { container, getByTestId } = render(<TopologyPicture services={SERVICES} flow={FLOW} rates={rates} />);
    const svg = getByTestId("topology");
    expect([...svg.querySelectorAll("[data-topic]")].map((t) => t.getAttribute("data-topic")).sort())
      .toEqual(["cobol.chunks", "cobol.frames", "cobol.ingest.raw"]);
    const label = (edge: string) => svg.querySelector(`[data-testid="edge-rate"][data-edge="${edge}"]`);
    expect(label("cobol.chunks->compressor")!.textContent).toBe("1.2 MiB/s3.00 chunks/s · lag 4");
    expect(label("cobol.chunks->compressor")!.getAttribute("data-measured")).toBe("yes");
    expect(label("ingest->cobol.chunks")!.textContent).toBe("no data");
    expect(label("ingest->cobol.chunks")!.getAttribute("data-measured")).toBe("no");
    // a flow edge the caller gave no rate for is "no data" too, never blank or a number
    expect(label("cobol.frames->archive")!.textContent).toBe("no data");
    expect(svg.querySelectorAll('[data-testid="edge-rate"]')).toHaveLength(FLOW.length);
    const calls = svg.querySelectorAll('[data-kind="call"]');
    expect(calls.length).toBe(SERVICES.flatMap((s) => s.talks_to ?? []).length);
    for (const c of calls) {
      expect(c.querySelector("path")!.getAttribute("stroke-dasharray")).toBe("4 3");
      expect(c.querySelector('[data-testid="edge-rate"]')).toBeNull();
    }
    expect(container.querySelector("desc")!.textContent).toContain("cobol.chunks to compressor: 1.2 MiB/s, 3.00 chunks/s · lag 4");
  });

  it("says so when there is no topology", () => {
    const { getByText } = render(<TopologyPicture services={[]} flow={FLOW} />);
    expect(getByText("No topology description is available.")).toBeTruthy();
  });
});
