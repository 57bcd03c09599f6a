/**
 * Live rates for the edges of the topology picture, derived only from what the API measures:
 *
 * - `/api/analytics/series?by=node` (the analytics service counts every frame on cobol.frames,
 *   with the compressor instance that made it): chunk bytes and chunks taken off cobol.chunks by
 *   the compressors (`bytes_in`, `count`), frame bytes they wrote to cobol.frames (`bytes_out`),
 *   and so the frames the analytics service itself read off cobol.frames;
 * - `/api/analytics/series?by=replica` (ChunkArchived events): frame bytes and chunks the
 *   archive replicas stored;
 * - the cluster nodes' heartbeats: the compressors' consumer lag on cobol.chunks.
 *
 * Nothing measures what ingest writes to cobol.chunks or reads from cobol.ingest.raw, nor the
 * gRPC calls: those edges are labelled as having no data, never given a number.
 *
 * A rate is the sum over the COMPLETE buckets of the range the server answered for, divided by
 * the seconds those buckets span: the bucket still filling is left out (it would read low).
 */
import type { components } from "../api/schema";
import { formatBytes } from "./format";

export type SeriesPage = components["schemas"]["SeriesPage"];

export const TOPICS = { raw: "cobol.ingest.raw", chunks: "cobol.chunks", frames: "cobol.frames" } as const;

export interface FlowEdge {
  from: string;
  to: string;
}

/** The data plane (docs: DESIGN.md's mesh): who writes to and reads from which topic. */
export const FLOW: FlowEdge[] = [
  { from: TOPICS.raw, to: "ingest" },
  { from: "ingest", to: TOPICS.chunks },
  { from: TOPICS.chunks, to: "compressor" },
  { from: "compressor", to: TOPICS.frames },
  { from: TOPICS.frames, to: "archive" },
  { from: TOPICS.frames, to: "analytics" },
];

export interface Throughput {
  bytes: number;        // per second
  records: number;      // per second
  seconds: number;      // the span the rate was measured over
  per: Record<string, { bytes: number; records: number }>;   // per instance, per second
}

export interface TopoEdgeRate {
  from: string;
  to: string;
  /** the text on the edge: one or two short lines */
  lines: string[];
  /** false: nothing measures this edge (or the source failed); `lines` says so */
  measured: boolean;
  /** the longer explanation (shown as the edge's tooltip) */
  title: string;
}

/** Per second over the complete buckets of `page`; null when the range holds none. */
export function seriesRate(page: SeriesPage, field: "bytes_in" | "bytes_out"): Throughput | null {
  const step = page.range.step;
  if (!(step > 0) || !Number.isFinite(page.range.start) || !Number.isFinite(page.range.end)) return null;
  const first = Math.floor(page.range.start / step) * step;
  const last = Math.floor(page.range.end / step) * step;       // the bucket from here on is still filling
  const seconds = last - first;
  if (seconds <= 0) return null;
  const per: Throughput["per"] = {};
  let bytes = 0;
  let records = 0;
  for (const s of page.series) {
    let b = 0;
    let r = 0;
    for (const p of s.points) {
      if (p.t < first || p.t >= last) continue;
      b += p.aggregate[field];
      r += p.aggregate.count;
    }
    per[s.name] = { bytes: b / seconds, records: r / seconds };
    bytes += b;
    records += r;
  }
  return { bytes: bytes / seconds, records: records / seconds, seconds, per };
}

export function formatRate(bytesPerS: number): string {
  return `${formatBytes(Math.round(bytesPerS))}/s`;
}

export function formatCount(perS: number, unit: string): string {
  const v = perS >= 100 ? perS.toFixed(0) : perS >= 10 ? perS.toFixed(1) : perS.toFixed(2);
  return `${v} ${unit}/s`;
}

export interface RateSources {
  /** /api/analytics/series?by=node, or the error it gave */
  nodes: SeriesPage | string | undefined;
  /** /api/analytics/series?by=replica, or the error it gave */
  replicas: SeriesPage | string | undefined;
  /** the compressors' total consumer lag on cobol.chunks (records); null: not reported */
  chunkLag: number | null;
}

function unmeasured(e: FlowEdge, line: string, title: string): TopoEdgeRate {
  return { ...e, lines: [line], measured: false, title };
}

function measuredEdge(e: FlowEdge, source: SeriesPage | string | undefined, field: "bytes_in" | "bytes_out",
                      unit: string, what: string, extra: string[] = []): TopoEdgeRate {
  if (source === undefined) return unmeasured(e, "…", `${what}: loading`);
  if (typeof source === "string") return unmeasured(e, "no data", `${what}: analytics unavailable (${source})`);
  const r = seriesRate(source, field);
  if (!r) return unmeasured(e, "no data", `${what}: no complete bucket in the range yet`);
  const per = Object.entries(r.per).map(([n, x]) => `${n}: ${formatRate(x.bytes)}, ${formatCount(x.records, unit)}`);
  return {
    ...e, measured: true,
    lines: [formatRate(r.bytes), formatCount(r.records, unit), ...extra],
    title: [`${what} over the last ${r.seconds} s`, ...per].join("\n"),
  };
}

/** A label for every edge of FLOW: a measured rate, or a plain statement that there is none. */
export function edgeRates(src: RateSources): TopoEdgeRate[] {
  const lag = src.chunkLag === null ? [] : [`lag ${src.chunkLag}`];
  return FLOW.map((e) => {
    if (e.from === TOPICS.chunks && e.to === "compressor") {
      return measuredEdge(e, src.nodes, "bytes_in", "chunks", "chunk bytes the compressors took from cobol.chunks", lag);
    }
    if (e.from === "compressor" && e.to === TOPICS.frames) {
      return measuredEdge(e, src.nodes, "bytes_out", "frames", "frame bytes the compressors wrote to cobol.frames");
    }
    if (e.from === TOPICS.frames && e.to === "archive") {
      return measuredEdge(e, src.replicas, "bytes_out", "chunks", "frame bytes the archive replicas stored (each stores every frame)");
    }
    if (e.from === TOPICS.frames && e.to === "analytics") {
      return measuredEdge(e, src.nodes, "bytes_out", "frames", "frames the analytics service counted from cobol.frames");
    }
    return unmeasured(e, "no data", `${e.from} → ${e.to}: nothing in the API measures this flow`);
  });
}

/** The compressors' summed consumer lag from the cluster nodes; null if none reports one. */
export function compressorLag(nodes: { role: string; status: string; lag?: number | null }[]): number | null {
  const lags = nodes.filter((n) => n.role === "compressor" && n.status !== "left" && typeof n.lag === "number" && n.lag >= 0)
    .map((n) => n.lag as number);
  return lags.length ? lags.reduce((a, b) => a + b, 0) : null;
}
