import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeSocket, OPERATOR, VIEWER, fakeFetch, job, json, makeServices, renderWith } from "../test/fakes";
import { JobsPage } from "./JobsPage";

const JOBS = [
  job({ id: "j1", name: "apache.log", status: "running", progress: 0.25, profile: "fast" }),
  job({ id: "j2", name: "hdfs.log", status: "done", progress: 1, profile: "max", ratio: 12.5 }),
  job({ id: "j3", name: "bgl.log", status: "failed", progress: 0.5, profile: "fast", reason: "boom" }),
];

function rows() {
  return screen.getAllByTestId("job-row").map((r) => r.getAttribute("data-job-id"));
}

describe("JobsPage", () => {
  it("lists the jobs, filters them, and shows the new-job form to operators", async () => {
    const { calls } = fakeFetch({ "GET /api/jobs": () => json(JOBS) });
    renderWith(<JobsPage />, { services: makeServices(), me: OPERATOR });
    await waitFor(() => expect(rows()).toEqual(["j1", "j2", "j3"]));
    expect(new URL(calls[0].url).searchParams.get("limit")).toBe("500");
    expect(calls[0].headers.get("Authorization")).toBe("Bearer tok-1");
    expect(screen.getByRole("form", { name: "New job" })).toBeTruthy();

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Status"), "failed");
    expect(rows()).toEqual(["j3"]);
    await user.selectOptions(screen.getByLabelText("Status"), "");
    await user.type(screen.getByLabelText("Name or id"), "HDFS");
    expect(rows()).toEqual(["j2"]);
    await user.clear(screen.getByLabelText("Name or id"));
    await user.type(screen.getByLabelText("Name or id"), "nothing-like-it");
    expect(screen.getByText("No job matches these filters")).toBeTruthy();
  });

  it("hides the new-job form from viewers", async () => {
    fakeFetch({ "GET /api/jobs": () => json(JOBS) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(screen.queryByRole("form", { name: "New job" })).toBeNull();
    expect(screen.queryByText("Compress")).toBeNull();
  });

  it("moves a progress bar and adds new jobs from live updates", async () => {
    fakeFetch({ "GET /api/jobs": () => json(JOBS) });
    const services = makeServices();
    renderWith(<JobsPage />, { services, me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(3));
    services.live.start();
    const ws = FakeSocket.all[0];
    act(() => {
      ws.open();
      ws.receive({ type: "job", job: job({ id: "j1", name: "apache.log", status: "running", progress: 0.75 }) });
    });
    const bar = within(screen.getAllByTestId("job-row")[0]).getByRole("progressbar");
    expect(bar.getAttribute("aria-valuenow")).toBe("75");
    act(() => ws.receive({ type: "job", job: job({ id: "j9", name: "new.log", status: "queued", progress: 0 }) }));
    expect(rows()).toEqual(["j9", "j1", "j2", "j3"]);
    services.live.stop();
  });

  it("shows the server's error with a retry, and an empty state", async () => {
    let fail = true;
    fakeFetch({ "GET /api/jobs": () => (fail ? json({ detail: "job list: service unavailable (UNAVAILABLE)" }, 503) : json([])) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await screen.findByText("job list: service unavailable (UNAVAILABLE)");
    fail = false;
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    await screen.findByText("No jobs yet");
  });

  it("pages through a long history", async () => {
    const many = Array.from({ length: 45 }, (_, i) => job({ id: `j${i}`, name: `f${i}.log` }));
    fakeFetch({ "GET /api/jobs": () => json(many) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(20));
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Next" }));
    await user.click(screen.getByRole("button", { name: "Next" }));
    expect(rows()).toEqual(["j40", "j41", "j42", "j43", "j44"]);
    expect(screen.getByText("Page 3 of 3")).toBeTruthy();
  });
});
