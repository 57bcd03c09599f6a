import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ADMIN, fakeFetch, json, makeServices, page, renderWith } from "../test/fakes";
import ApiKeysPage from "./ApiKeysPage";

function key(id: string, name: string, owner = "admin", role = "viewer") {
  return { id, name, owner, role, created_at: "2026-11-29T10:00:00Z", expires_at: null, last_used_at: null };
}

function keysServer() {
  const keys = [key("k1", "backup", "admin", "operator"), key("k2", "grafana", "olga")];
  const posted: unknown[] = [];
  const routes = fakeFetch({
    "GET /api/api-keys": () => json(page(keys)),
    "POST /api/api-keys": async (req) => {
      const body = await req.json();
      posted.push(body);
      if (body.name === "taken") return json({ detail: "a key cannot have more than your role (viewer)" }, 403);
      const k = { ...key("k3", body.name, "admin", body.role), key: "cpk_SECRETSECRET" };
      keys.push(key("k3", body.name, "admin", body.role));
      return json(k, 201);
    },
    "DELETE /api/api-keys/k2": () => {
      keys.splice(keys.findIndex((k) => k.id === "k2"), 1);
      return new Response(null, { status: 204 });
    },
  });
  return { ...routes, posted };
}

const rows = () => screen.getAllByTestId("key-row").map((r) => r.dataset.keyId);

describe("ApiKeysPage", () => {
  afterEach(() => vi.restoreAllMocks());

  it("lists the keys, creates one and shows its secret once", async () => {
    const { posted } = keysServer();
    renderWith(<ApiKeysPage />, { services: makeServices(), me: ADMIN });
    await waitFor(() => expect(rows()).toEqual(["k1", "k2"]));
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "nightly");
    await user.selectOptions(screen.getByLabelText("Role"), "operator");
    await user.type(screen.getByLabelText("Expires after (days, empty: never)"), "30");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByTestId("new-key")).textContent).toBe("cpk_SECRETSECRET");
    expect(posted).toEqual([{ name: "nightly", role: "operator", expires_in_days: 30 }]);
    await waitFor(() => expect(rows()).toEqual(["k1", "k2", "k3"]));
    await user.click(screen.getByRole("button", { name: "I have stored it" }));
    expect(screen.queryByTestId("new-key")).toBeNull();
    expect(document.body.textContent).not.toContain("cpk_SECRETSECRET");
  });

  it("revokes a key after a confirmation, and says why a creation was refused", async () => {
    const { calls } = keysServer();
    renderWith(<ApiKeysPage />, { services: makeServices(), me: ADMIN });
    await waitFor(() => expect(rows()).toEqual(["k1", "k2"]));
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    const user = userEvent.setup();
    const grafana = screen.getAllByTestId("key-row")[1];
    await user.click(within(grafana).getByRole("button", { name: "Revoke grafana" }));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);      // not confirmed
    await user.click(within(grafana).getByRole("button", { name: "Revoke grafana" }));
    await waitFor(() => expect(rows()).toEqual(["k1"]));
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(calls.filter((c) => c.method === "DELETE").map((c) => new URL(c.url).pathname)).toEqual(["/api/api-keys/k2"]);
    await user.type(screen.getByLabelText("Name"), "taken");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByText(/more than your role/)).closest("form")).toBeTruthy();
    expect(screen.queryByTestId("new-key")).toBeNull();
  });

  it("shows an empty state", async () => {
    fakeFetch({ "GET /api/api-keys": () => json(page([])) });
    renderWith(<ApiKeysPage />, { services: makeServices(), me: ADMIN });
    expect(await screen.findByText("No API keys yet")).toBeTruthy();
  });
});
