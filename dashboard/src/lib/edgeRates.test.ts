import { describe, expect, it } from "vitest";
import { compressorLag, edgeRates, FLOW, seriesRate, type SeriesPage } from "./edgeRates";

function agg(name: string, count: number, bytes_in: number, bytes_out: number) {
  return { name, count, bytes_in, bytes_out, codec_seconds: 0, ratio: 0, mb_per_s: 0, latency_mean: 0,
    latency_p50: 0, latency_p99: 0, latency_max: 0 };
}

/** A page as /api/analytics/series answers it: range [start, end), 10 s buckets. */
function page(by: "node" | "replica", start: number, end: number,
              series: Record<string, [number, number, number, number][]>): SeriesPage {
  return {
    by, metric: null, window: 10, range: { start, end, step: 10 },
    series: Object.entries(series).map(([name, pts]) => ({
      name, points: pts.map(([t, n, i, o]) => ({ t, value: null, aggregate: agg(name, n, i, o) })) })),
  } as SeriesPage;
}

describe("seriesRate", () => {
  it("sums the complete buckets only and divides by the seconds they span", () => {
    // range [1005, 1065): buckets 1000..1050 are complete (60 s), 1060 is still filling
    const p = page("node", 1005, 1065, {
      "compressor-1": [[1000, 6, 6000, 600], [1050, 6, 6000, 600], [1060, 100, 1e9, 1e9]],
      "compressor-2": [[1020, 12, 1200, 120]],
    });
    const r = seriesRate(p, "bytes_in")!;
    expect(r.seconds).toBe(60);
    expect(r.bytes).toBeCloseTo((6000 + 6000 + 1200) / 60);
    expect(r.records).toBeCloseTo(24 / 60);
    expect(r.per["compressor-1"].bytes).toBeCloseTo(200);
    expect(r.per["compressor-2"].records).toBeCloseTo(0.2);
    expect(seriesRate(p, "bytes_out")!.bytes).toBeCloseTo(1320 / 60);
  });

  it("reads an empty minute as zero, not as missing", () => {
    const r = seriesRate(page("node", 1000, 1060, {}), "bytes_in")!;
    expect(r).toMatchObject({ bytes: 0, records: 0, seconds: 60 });
  });

  it("has no rate when the range holds no complete bucket or is malformed", () => {
    expect(seriesRate(page("node", 1001, 1009, { a: [[1000, 1, 1, 1]] }), "bytes_in")).toBeNull();
    const bad = page("node", 1000, 1060, {});
    bad.range.step = 0;
    expect(seriesRate(bad, "bytes_in")).toBeNull();
  });
});

describe("edgeRates", () => {
  const nodes = page("node", 1000, 1060, { "compressor-1": [[1000, 60, 6_000_000, 1_200_000]] });
  const replicas = page("replica", 1000, 1060, { "archive-1": [[1010, 30, 3_000_000, 600_000]],
    "archive-2": [[1010, 30, 3_000_000, 600_000]] });

  it("labels every flow edge, measured ones with bytes and records per second", () => {
    const rates = edgeRates({ nodes, replicas, chunkLag: 7 });
    expect(rates.map((r) => `${r.from}->${r.to}`)).toEqual(FLOW.map((e) => `${e.from}->${e.to}`));
    const of = (a: string, b: string) => rates.find((r) => r.from === a && r.to === b)!;
    expect(of("cobol.chunks", "compressor")).toMatchObject({ measured: true, lines: ["97.7 KiB/s", "1.00 chunks/s", "lag 7"] });
    expect(of("compressor", "cobol.frames")).toMatchObject({ measured: true, lines: ["19.5 KiB/s", "1.00 frames/s"] });
    expect(of("cobol.frames", "archive")).toMatchObject({ measured: true, lines: ["19.5 KiB/s", "1.00 chunks/s"] });
    expect(of("cobol.frames", "archive").title).toContain("archive-2: 9.77 KiB/s, 0.50 chunks/s");
    expect(of("cobol.frames", "analytics")).toMatchObject({ measured: true, lines: ["19.5 KiB/s", "1.00 frames/s"] });
    // nothing measures what ingest reads and writes: said so, no number
    for (const [a, b] of [["cobol.ingest.raw", "ingest"], ["ingest", "cobol.chunks"]]) {
      expect(of(a, b)).toMatchObject({ measured: false, lines: ["no data"] });
    }
  });

  it("says no data, with the reason, when analytics fails, and waits while loading", () => {
    const rates = edgeRates({ nodes: "the analytics service is unavailable", replicas: undefined, chunkLag: null });
    const chunks = rates.find((r) => r.to === "compressor")!;
    expect(chunks).toMatchObject({ measured: false, lines: ["no data"] });
    expect(chunks.title).toContain("the analytics service is unavailable");
    expect(rates.find((r) => r.to === "archive")).toMatchObject({ measured: false, lines: ["…"] });
    expect(rates.some((r) => r.lines.join(" ").includes("lag"))).toBe(false);
  });
});

describe("compressorLag", () => {
  it("sums the lag the live compressors report, and is null when none does", () => {
    expect(compressorLag([
      { role: "compressor", status: "alive", lag: 3 }, { role: "compressor", status: "suspect", lag: 4 },
      { role: "compressor", status: "left", lag: 100 }, { role: "archive", status: "alive", lag: 50 },
      { role: "compressor", status: "alive", lag: -1 },
    ])).toBe(7);
    expect(compressorLag([{ role: "compressor", status: "alive", lag: null }])).toBeNull();
    expect(compressorLag([])).toBeNull();
  });
});
