import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { components } from "../api/schema";
import { chartRows } from "../components/RoundsChart";
import { VIEWER, fakeFetch, json, makeServices, renderWith } from "../test/fakes";
import FederationPage, { convergedAt } from "./FederationPage";

type Round = components["schemas"]["Round"];

function round(id: number, over: Partial<Round> = {}): Round {
  return {
    id, training_id: "t1", level: id - 1, status: "released", opened_at: "2026-11-29T10:00:00Z",
    closed_at: "2026-11-29T10:00:20Z", seconds: 20, participants: 5, contributed: 4, dropouts: 1,
    excluded: [], candidates: 500, dictionary_id: `00000000000000a${id}`, epsilon_spent: 0.3 * id, reason: null,
    agreement: 0.5, converged: false, ...over,
  };
}

const ROUNDS = [round(3, { status: "failed", contributed: 0, dropouts: 0, participants: 1, dictionary_id: null,
  reason: "quorum not reached (1 of 2)", agreement: null }),
round(2, { agreement: 0.97, converged: true, excluded: ["node-9 (masked): out of range"] }), round(1)];
const BUDGET = { training_id: "t1", epsilon: 1, delta: 1e-6, epsilon_spent: 0.6, epsilon_remaining: 0.4, releases: 2,
  max_releases: 5, noise_multiplier: 4.2, accountant: "pld", exhausted: false, status: "finished", reason: "converged",
  dictionary_id: "00000000000000a2" };

describe("FederationPage", () => {
  it("shows rounds with participants, dropouts, what was left out, convergence and the budget", async () => {
    fakeFetch({
      "GET /api/federation/rounds": () => json({ items: ROUNDS, total: 3, limit: 200, offset: 0 }),
      "GET /api/federation/budget": () => json(BUDGET),
    });
    renderWith(<FederationPage />, { services: makeServices(), me: VIEWER });
    expect((await screen.findByTestId("budget-text")).textContent).toContain("ε 0.600 spent of 1.00");
    expect(screen.getByRole("progressbar", { name: "Privacy budget spent" }).getAttribute("aria-valuenow")).toBe("60");
    expect(screen.getByTestId("convergence").textContent).toContain("Converged at round 2 (agreement 0.97)");
    expect(screen.getAllByTestId("data-row")).toHaveLength(3);
    expect(screen.getByText("node-9 (masked): out of range")).toBeTruthy();
    expect(screen.getByText("quorum not reached (1 of 2)")).toBeTruthy();
    expect(screen.getByRole("img", { name: "Nodes, dropouts and agreement per round" })).toBeTruthy();
  });

  it("says when nothing converged and shows an exhausted budget", async () => {
    fakeFetch({
      "GET /api/federation/rounds": () => json({ items: [round(1)], total: 1, limit: 200, offset: 0 }),
      "GET /api/federation/budget": () => json({ ...BUDGET, epsilon_spent: 1, exhausted: true }),
    });
    renderWith(<FederationPage />, { services: makeServices(), me: VIEWER });
    expect((await screen.findByTestId("budget-text")).textContent).toContain("exhausted");
    expect(screen.getByTestId("convergence").textContent).toContain("Not converged yet");
  });

  it("shows the federator being down as an error", async () => {
    fakeFetch({ "GET /api/federation/rounds": () => json({ detail: "rounds: the federator is unavailable (UNAVAILABLE); retry" }, 503) });
    renderWith(<FederationPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("federator is unavailable"));
  });

  it("charts rounds oldest first and finds the first converged one", () => {
    expect(chartRows(ROUNDS).map((r) => r.round)).toEqual(["#1", "#2", "#3"]);
    expect(chartRows(ROUNDS)[2].agreement).toBeUndefined();
    expect(convergedAt(ROUNDS)?.id).toBe(2);
    expect(convergedAt([round(1)])).toBeUndefined();
  });
});
