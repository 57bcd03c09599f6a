import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { AppRoutes } from "./App";
import { ADMIN, VIEWER, clusterNode, fakeFetch, json, makeServices, page, renderWith } from "./test/fakes";
import topology from "./api/topology.json";

describe("routing and access", () => {
  it("sends a visitor without a session to the login page and back to the page asked for", async () => {
    fakeFetch({
      "POST /api/auth/token": () => json({ access_token: "A1", token_type: "bearer", expires_in: 3600 }),
      "GET /api/audit": () => json(page([{ id: 1, at: "2026-11-29T10:00:00Z", who: "admin", action: "auth.login", job_id: null,
        outcome: "ok", detail: {}, instance: "api-1", client: "127.0.0.1" }])),
    });
    const services = makeServices({ token: null });
    renderWith(<AppRoutes />, { services, me: ADMIN, path: "/admin/audit" });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("User name"), "admin");
    await user.type(screen.getByLabelText("Password"), "secret-pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { name: "Audit log" })).toBeTruthy();
    expect(await screen.findByText("auth.login")).toBeTruthy();
  });

  it("returns to the login page when the session expires, then to the same page", async () => {
    let token = "stale";
    fakeFetch({
      "GET /api/jobs": (req) => (req.headers.get("Authorization") === `Bearer ${token}` && token !== "stale"
        ? json(page([])) : json({ detail: "token expired" }, 401)),
      "POST /api/auth/token": () => {
        token = "fresh";
        return json({ access_token: "fresh", expires_in: 3600 });
      },
    });
    const services = makeServices({ token: "stale" });
    renderWith(<AppRoutes />, { services, me: VIEWER, path: "/jobs?tab=history" });
    expect(await screen.findByText(/Your session expired/)).toBeTruthy();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("User name"), "vic");
    await user.type(screen.getByLabelText("Password"), "secret-pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("No jobs yet")).toBeTruthy();
  });

  it("keeps viewers out of the admin pages and hides their links", async () => {
    fakeFetch({ "GET /api/jobs": () => json(page([])) });
    renderWith(<AppRoutes />, { services: makeServices(), me: VIEWER, path: "/admin/users" });
    expect(await screen.findByTestId("forbidden")).toBeTruthy();
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(nav.textContent).toContain("Jobs");
    expect(nav.textContent).not.toContain("Users");
    expect(nav.textContent).not.toContain("Audit");
  });

  it("never follows a login redirect off the site", async () => {
    const { safeNext } = await import("./pages/LoginPage");
    expect(safeNext("//evil.example/x")).toBe("/jobs");
    expect(safeNext("https://evil.example")).toBe("/jobs");
    expect(safeNext("/\\evil")).toBe("/jobs");
    expect(safeNext("/jobs/abc?x=1")).toBe("/jobs/abc?x=1");
  });
});

describe("pages whose endpoints the server lacks", () => {
  it("say so, and the cluster page still draws the declared topology", async () => {
    fakeFetch({});
    renderWith(<AppRoutes />, { services: makeServices(), me: ADMIN, path: "/cluster" });
    expect((await screen.findAllByText("Something went wrong")).length).toBeGreaterThan(0);
    const picture = screen.getByTestId("topology");
    expect(picture.querySelector('[data-node="coordinator"]')).toBeTruthy();
    expect(picture.querySelector('[data-node="coordinator"]')!.textContent).toContain("uses kafka, redis");
    const edges = topology.services.reduce((n, svc) =>
      n + svc.talks_to.filter((t: string) => topology.services.some((o) => o.name === t)).length, 0);
    expect(edges).toBeGreaterThan(0);
    expect(picture.querySelectorAll('[data-kind="call"] path[marker-end]').length).toBe(edges); // the talks_to of topology.yaml
    // the data flow's edges say they have no data: the server lacks the analytics routes
    expect([...picture.querySelectorAll('[data-testid="edge-rate"]')].every((e) => e.getAttribute("data-measured") === "no")).toBe(true);
  });

  it.each([["/analytics", "Analytics"], ["/dictionaries", "The dictionary viewer"], ["/federation", "Federated rounds"]])(
    "%s shows a clear state", async (path, feature) => {
      fakeFetch({});
      renderWith(<AppRoutes />, { services: makeServices(), me: ADMIN, path });
      expect(await screen.findByText(`${feature} is not available on this server`)).toBeTruthy();
    });

  it("use the endpoint when the server declares it", async () => {
    fakeFetch({ "GET /api/cluster/nodes": () => json(page([
      clusterNode({ instance: "compressor-1", status: "alive" }), clusterNode({ instance: "compressor-2", status: "down" }),
    ])) });
    renderWith(<AppRoutes />, { services: makeServices(), me: VIEWER, path: "/cluster" });
    await waitFor(() => expect(screen.getAllByTestId("node-row")).toHaveLength(2));
    expect(screen.getByText("down")).toBeTruthy();
  });
});
