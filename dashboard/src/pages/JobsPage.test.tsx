import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FakeSocket, OPERATOR, VIEWER, fakeFetch, job, json, makeServices, page, renderWith } from "../test/fakes";
import { JobsPage } from "./JobsPage";

const JOBS = [
  job({ id: "j1", name: "apache.log", status: "running", progress: 0.25, profile: "fast" }),
  job({ id: "j2", name: "hdfs.log", status: "done", progress: 1, profile: "max", ratio: 12.5 }),
  job({ id: "j3", name: "bgl.log", status: "failed", progress: 0.5, profile: "fast", reason: "boom" }),
];

/** GET /api/jobs as the API answers it: filters by status, profile, q (name), then one page. */
function jobsServer(all: ReturnType<typeof job>[]) {
  return (req: Request) => {
    const p = new URL(req.url).searchParams;
    const q = (p.get("q") ?? "").toLowerCase();
    const hits = all.filter((j) => (!p.get("status") || j.status === p.get("status"))
      && (!p.get("profile") || j.profile === p.get("profile"))
      && (!q || String(j.name).toLowerCase().includes(q)));
    const limit = Number(p.get("limit") ?? 100);
    const offset = Number(p.get("offset") ?? 0);
    return json(page(hits.slice(offset, offset + limit), hits.length, limit, offset));
  };
}

function rows() {
  return screen.getAllByTestId("job-row").map((r) => r.getAttribute("data-job-id"));
}

function lastQuery(calls: Request[]) {
  return new URL(calls[calls.length - 1].url).searchParams;
}

describe("JobsPage", () => {
  it("lists the jobs, sends the filters to the server, and shows the new-job form to operators", async () => {
    const { calls } = fakeFetch({ "GET /api/jobs": jobsServer(JOBS) });
    renderWith(<JobsPage />, { services: makeServices(), me: OPERATOR });
    await waitFor(() => expect(rows()).toEqual(["j1", "j2", "j3"]));
    expect(lastQuery(calls).get("limit")).toBe("20");
    expect(lastQuery(calls).get("offset")).toBe("0");
    expect(calls[0].headers.get("Authorization")).toBe("Bearer tok-1");
    expect(screen.getByRole("form", { name: "New job" })).toBeTruthy();
    expect(screen.getByText("3 jobs")).toBeTruthy();

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Status"), "failed");
    await waitFor(() => expect(rows()).toEqual(["j3"]));
    expect(lastQuery(calls).get("status")).toBe("failed");
    await user.selectOptions(screen.getByLabelText("Status"), "");
    await user.type(screen.getByLabelText("Name contains"), "HDFS");
    await waitFor(() => expect(rows()).toEqual(["j2"]));
    expect(lastQuery(calls).get("q")).toBe("HDFS");
    expect(lastQuery(calls).has("status")).toBe(false);
    await user.clear(screen.getByLabelText("Name contains"));
    await user.type(screen.getByLabelText("Name contains"), "nothing-like-it");
    expect(await screen.findByText("No job matches these filters")).toBeTruthy();
  });

  it("sends the date and size filters as the API's since and min_bytes", async () => {
    const { calls } = fakeFetch({ "GET /api/jobs": jobsServer(JOBS) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(3));
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("At least (MiB)"), "2");
    await waitFor(() => expect(lastQuery(calls).get("min_bytes")).toBe(String(2 * 1024 * 1024)));
    await user.type(screen.getByLabelText("Since"), "2026-11-29");
    await waitFor(() => expect(lastQuery(calls).get("since")).toBe(new Date("2026-11-29T00:00:00").toISOString()));
  });

  it("hides the new-job form from viewers", async () => {
    fakeFetch({ "GET /api/jobs": jobsServer(JOBS) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(screen.queryByRole("form", { name: "New job" })).toBeNull();
    expect(screen.queryByText("Compress")).toBeNull();
  });

  it("moves a progress bar and adds new jobs from live updates (only those the filters let in)", async () => {
    fakeFetch({ "GET /api/jobs": jobsServer(JOBS) });
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
    expect(screen.getByText("4 jobs")).toBeTruthy();

    await userEvent.setup().selectOptions(screen.getByLabelText("Status"), "done");
    await waitFor(() => expect(rows()).toEqual(["j2"]));
    act(() => ws.receive({ type: "job", job: job({ id: "j10", name: "other.log", status: "running" }) }));
    expect(rows()).toEqual(["j2"]);
    services.live.stop();
  });

  it("shows the server's error with a retry, and an empty state", async () => {
    let fail = true;
    fakeFetch({ "GET /api/jobs": () => (fail ? json({ detail: "job list: service unavailable (UNAVAILABLE)" }, 503) : json(page([]))) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await screen.findByText("job list: service unavailable (UNAVAILABLE)");
    fail = false;
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    await screen.findByText("No jobs yet");
  });

  it("pages through a long history with the server's offset", async () => {
    const many = Array.from({ length: 45 }, (_, i) => job({ id: `j${i}`, name: `f${i}.log` }));
    const { calls } = fakeFetch({ "GET /api/jobs": jobsServer(many) });
    renderWith(<JobsPage />, { services: makeServices(), me: VIEWER });
    await waitFor(() => expect(rows()).toHaveLength(20));
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(rows()[0]).toBe("j20"));
    await user.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(rows()).toEqual(["j40", "j41", "j42", "j43", "j44"]));
    expect(lastQuery(calls).get("offset")).toBe("40");
    expect(screen.getByText("Page 3 of 3")).toBeTruthy();
  });
});
