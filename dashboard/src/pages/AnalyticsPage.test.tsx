import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { VIEWER, fakeFetch, json, makeServices, renderWith } from "../test/fakes";
import AnalyticsPage, { REFRESH_MS, chartRows } from "./AnalyticsPage";

function agg(name: string, count: number, bytesIn: number, bytesOut: number, secs = 0.5) {
  return {
    name, count, bytes_in: bytesIn, bytes_out: bytesOut, codec_seconds: secs, ratio: bytesIn / bytesOut,
    mb_per_s: bytesIn / 1e6 / secs, latency_mean: secs / count, latency_p50: 0.01, latency_p99: 0.05, latency_max: 0.06,
  };
}

const T0 = 1_800_000_000;
function series(by: string, names: string[]) {
  return {
    by, metric: null, range: { start: T0, end: T0 + 3600, step: 10 }, window: 10,
    series: names.map((n, i) => ({
      name: n,
      points: [0, 10, 20].map((dt) => ({ t: T0 + dt, value: null, aggregate: agg(n, 2 + i, 4000 + dt, 1000) })),
    })),
  };
}

function server() {
  return fakeFetch({
    "GET /api/analytics/summary": () => json({ all: agg("all", 42, 4_200_000, 600_000), jobs: { done: 5, failed: 1, opened: 6 },
      nodes: 2, range: null }),
    "GET /api/analytics/series": (req) => {
      const by = new URL(req.url).searchParams.get("by") ?? "all";
      return json(series(by, by === "all" ? ["all"] : ["compressor-1", "compressor-2"]));
    },
    "GET /api/analytics/nodes": () => json({ by: "node", range: null, items: [agg("compressor-1", 30, 3e6, 4e5), agg("compressor-2", 12, 1.2e6, 2e5)] }),
    "GET /api/analytics/layers": () => json({ by: "layer", range: null, items: [agg("L2", 42, 4e6, 2e6), agg("L7", 40, 2e6, 6e5)] }),
    "GET /api/analytics/profiles": () => json({ by: "profile", range: null, items: [agg("fast", 42, 4.2e6, 6e5)] }),
  });
}

const queries = (calls: Request[], path: string) =>
  calls.filter((c) => new URL(c.url).pathname === path).map((c) => new URL(c.url).searchParams);

describe("AnalyticsPage", () => {
  afterEach(() => vi.useRealTimers());

  it("shows the figures, the charts and the breakdowns, and asks for the chosen range and split", async () => {
    const { calls } = server();
    renderWith(<AnalyticsPage />, { services: makeServices(), me: VIEWER });
    expect(await screen.findByTestId("card-ratio")).toHaveProperty("textContent", "7.00×");
    expect(screen.getByTestId("card-frames").textContent).toBe("42");
    expect(screen.getByTestId("card-MB/s").textContent).toBe("8.40");     // 4.2 MB in 0.5 s
    expect(screen.getByTestId("card-jobs done").textContent).toBe("5 (1 failed)");
    expect(screen.getByRole("img", { name: "Ratio over time, 1 series" })).toBeTruthy();
    expect(screen.getByRole("img", { name: "MB/s over time, 1 series" })).toBeTruthy();
    await waitFor(() => expect(screen.getAllByTestId("node-row").map((r) => r.dataset.name)).toEqual(["compressor-1", "compressor-2"]));
    expect(screen.getAllByTestId("layer-row").map((r) => r.dataset.name)).toEqual(["L2", "L7"]);
    const fast = screen.getAllByTestId("profile-row")[0];
    expect(within(fast).getByText("7.00×")).toBeTruthy();
    expect(queries(calls, "/api/analytics/summary")[0].get("window")).toBe("1h");
    expect(calls[0].headers.get("Authorization")).toBe("Bearer tok-1");

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Time range"), "6h");
    await waitFor(() => expect(queries(calls, "/api/analytics/nodes").at(-1)?.get("window")).toBe("6h"));
    await user.selectOptions(screen.getByLabelText("Split by"), "node");
    await waitFor(() => expect(queries(calls, "/api/analytics/series").some((q) => q.get("by") === "node" && q.get("window") === "6h")).toBe(true));
    expect(await screen.findByRole("img", { name: "Ratio over time, 2 series" })).toBeTruthy();
  });

  it("says why when the analytics service is down, and retries", async () => {
    let down = true;
    const { calls } = server();
    const { fn } = fakeFetch({
      "GET /api/analytics/summary": () => down
        ? json({ detail: "the analytics service is unavailable (UNAVAILABLE: connection refused); retry shortly" }, 503)
        : json({ all: agg("all", 1, 10, 5), jobs: {}, nodes: 1, range: null }),
      "GET /api/analytics/series": () => json(series("all", [])),
      "GET /api/analytics/nodes": () => json({ by: "node", range: null, items: [] }),
      "GET /api/analytics/layers": () => json({ by: "layer", range: null, items: [] }),
      "GET /api/analytics/profiles": () => json({ by: "profile", range: null, items: [] }),
    });
    expect(calls).toHaveLength(0);
    renderWith(<AnalyticsPage />, { services: makeServices(), me: VIEWER });
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("analytics service is unavailable");
    down = false;
    await userEvent.setup().click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("card-frames")).toHaveProperty("textContent", "1");
    expect(screen.getAllByText("No data in this range").length).toBeGreaterThan(0);
    expect(fn).toHaveBeenCalled();
  });

  it("re-reads the figures every REFRESH_MS while visible", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { calls } = server();
    renderWith(<AnalyticsPage />, { services: makeServices(), me: VIEWER });
    await screen.findByTestId("card-ratio");
    const before = queries(calls, "/api/analytics/summary").length;
    await vi.advanceTimersByTimeAsync(REFRESH_MS + 10);
    await waitFor(() => expect(queries(calls, "/api/analytics/summary").length).toBe(before + 1));
  });

  it("lays series out as chart rows by time", () => {
    const rows = chartRows(series("node", ["a", "b"]) as never, "bytes_in");
    expect(rows).toEqual([{ t: T0, a: 4000, b: 4000 }, { t: T0 + 10, a: 4010, b: 4010 }, { t: T0 + 20, a: 4020, b: 4020 }]);
  });
});
