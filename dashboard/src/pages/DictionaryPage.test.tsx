import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ADMIN, OPERATOR, VIEWER, fakeFetch, json, makeServices, renderWith } from "../test/fakes";
import DictionaryPage, { lineage, type Dictionary } from "./DictionaryPage";
import { visible } from "../components/PatternTable";

function version(id: string, over: Partial<Dictionary> = {}): Dictionary {
  return {
    id, parent_id: null, training_id: "t1", round: 1, status: "retired", created_at: "2026-11-29T10:00:00Z",
    size: 16384, patterns: 3, epsilon_spent: 0.4, delta: 1e-6, nodes: 4, dropped: 1, ab_ratio: null, ab_chunks: 0,
    agreement: 0.5, converged: false, estimated_bytes_saved: 1200, ...over,
  };
}

const A = "00000000000000aa";
const B = "00000000000000bb";
const C = "00000000000000cc";
const PATTERNS = [
  { text: "ERROR dfs", hex: "4552524f5220646673", length: 9, frequency: 40, bytes_saved: 240 },
  { text: "INFO block", hex: "494e464f20626c6f636b", length: 10, frequency: 90, bytes_saved: 630 },
  { text: "\\xff\u0001x", hex: "ff0178", length: 3, frequency: 5, bytes_saved: 0 },
];

/** The API as the federator backs it: versions, state, patterns (sort, order, q, paging), promote/rollback. */
function server(state = { current_id: B as string | null, candidate_id: C as string | null, candidate_share: 0.1 }) {
  const versions = [version(C, { parent_id: B, status: "candidate", round: 3, ab_ratio: 9.5, ab_chunks: 12 }),
    version(B, { parent_id: A, status: "current", round: 2, ab_ratio: 8.25, ab_chunks: 140, converged: true, agreement: 0.97 }),
    version(A, { round: 1 })];
  let seq = 4;
  const st = () => ({ ...state, seq, at: "2026-11-29T11:00:00Z" });
  return {
    "GET /api/dictionaries": () => json({ items: versions, total: versions.length, limit: 1000, offset: 0, state: st() }),
    [`GET /api/dictionaries/${B}/patterns`]: (req: Request) => {
      const p = new URL(req.url).searchParams;
      const key = p.get("sort") as "bytes_saved" | "frequency" | "length" | "text";
      const q = (p.get("q") ?? "").toLowerCase();
      const rows = PATTERNS.filter((x) => !q || x.text.toLowerCase().includes(q))
        .sort((x, y) => (key === "text" ? x.hex.localeCompare(y.hex) : x[key] - y[key]) * (p.get("order") === "asc" ? 1 : -1));
      const limit = Number(p.get("limit")), offset = Number(p.get("offset"));
      return json({ id: B, items: rows.slice(offset, offset + limit), total: rows.length, limit, offset });
    },
    [`POST /api/dictionaries/${C}/promote`]: () => {
      versions[0].status = "current";
      versions[1].status = "retired";
      state.current_id = C;
      state.candidate_id = null;
      seq += 1;
      return json(st());
    },
    [`POST /api/dictionaries/${B}/rollback`]: () => json({ detail: "rollback B: someone else changed it" }, 409),
  };
}

function patternTexts() {
  return screen.getAllByTestId("pattern-row").map((r) => within(r).getAllByRole("cell")[0].textContent);
}

describe("DictionaryPage", () => {
  it("shows versions with lineage, ε, quality and the A/B status, and the current version's patterns", async () => {
    fakeFetch(server());
    renderWith(<DictionaryPage />, { services: makeServices(), me: VIEWER });
    expect(await screen.findByTestId("ab-status")).toBeTruthy();
    const ab = screen.getByTestId("ab-status");
    expect(ab.textContent).toContain(B);
    expect(ab.textContent).toContain(`candidate ${C} on 10% of chunks`);
    expect(ab.textContent).toContain("8.25×");
    expect(screen.getAllByTestId("data-row")).toHaveLength(3);
    expect((await screen.findByTestId("lineage")).textContent).toBe(`${B} ← ${A}`);
    await waitFor(() => expect(patternTexts()).toEqual(["INFO block", "ERROR dfs", "\\xff\\x01x"]));
    expect(screen.getByText("3 patterns")).toBeTruthy();
  });

  it("sorts and searches patterns through the server", async () => {
    const { calls } = fakeFetch(server());
    renderWith(<DictionaryPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(screen.getAllByTestId("pattern-row")).toHaveLength(3));
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Sort by"), "frequency");
    await user.selectOptions(screen.getByLabelText("Order"), "asc");
    await waitFor(() => expect(patternTexts()).toEqual(["\\xff\\x01x", "ERROR dfs", "INFO block"]));
    const last = new URL(calls[calls.length - 1].url).searchParams;
    expect([last.get("sort"), last.get("order"), last.get("offset")]).toEqual(["frequency", "asc", "0"]);
    await user.type(screen.getByLabelText("Search patterns"), "error");
    await waitFor(() => expect(patternTexts()).toEqual(["ERROR dfs"]));
    await user.clear(screen.getByLabelText("Search patterns"));
    await user.type(screen.getByLabelText("Search patterns"), "zzz");
    expect(await screen.findByText("No pattern matches")).toBeTruthy();
  });

  it("gives viewers and operators no promote or roll back control", async () => {
    for (const me of [VIEWER, OPERATOR]) {
      fakeFetch(server());
      const { unmount } = renderWith(<DictionaryPage />, { services: makeServices(), me });
      await screen.findByTestId("ab-status");
      expect(screen.queryByRole("button", { name: /Promote/ })).toBeNull();
      expect(screen.queryByRole("button", { name: /Roll back/ })).toBeNull();
      unmount();
    }
  });

  it("lets an admin promote, and shows a refused roll back's reason", async () => {
    const { calls } = fakeFetch(server());
    renderWith(<DictionaryPage />, { services: makeServices(), me: ADMIN });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: `Promote ${C}` }));
    expect((await screen.findByRole("status")).textContent).toContain(`${C} is now current`);
    expect(calls.some((r) => r.method === "POST" && r.url.endsWith(`/api/dictionaries/${C}/promote`))).toBe(true);
    await waitFor(() => expect(screen.getByTestId("ab-status").textContent).toContain("no test running"));
    expect(screen.queryByRole("button", { name: `Promote ${A}` })).toBeTruthy();
  });

  it("shows the server's reason when a roll back is refused", async () => {
    fakeFetch(server());
    renderWith(<DictionaryPage />, { services: makeServices(), me: ADMIN });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: `Roll back ${B}` }));
    expect((await screen.findByRole("alert")).textContent).toContain("someone else changed it");
  });

  it("shows the federator being down as an error with a retry", async () => {
    fakeFetch({ "GET /api/dictionaries": () => json({ detail: "dictionaries: the federator is unavailable (UNAVAILABLE); retry" }, 503) });
    renderWith(<DictionaryPage />, { services: makeServices(), me: VIEWER });
    expect((await screen.findByRole("alert")).textContent).toContain("federator is unavailable");
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });

  it("follows lineage to its root and stops on a loop", () => {
    const byId = new Map([[A, version(A, { parent_id: C })], [B, version(B, { parent_id: A })], [C, version(C, { parent_id: B })]]);
    expect(lineage(B, byId)).toEqual([B, A, C]);
    expect(lineage("00000000000000dd", byId)).toEqual(["00000000000000dd"]);
    expect(visible("a\u0000b\nc\td")).toBe("a\\x00b\\nc\\td");
  });
});
