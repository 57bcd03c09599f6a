import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../test/fakes";
import { firstMessage, LiveConnection, LIVE_STRATEGIES } from "./connection";

function make(opts: Partial<ConstructorParameters<typeof LiveConnection>[0]> = {}) {
  FakeSocket.all = [];
  return new LiveConnection({
    getToken: () => "T/1",
    onUnauthorized: async () => false,
    origin: "ws://h",
    createSocket: (url) => new FakeSocket(url),
    backoff: { firstMs: 100, maxMs: 1000 },
    ...opts,
  });
}

describe("LiveConnection", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("authenticates in the first message on /api/ws, never in the URL", () => {
    expect(LIVE_STRATEGIES.map((s) => s.name)).toEqual(["first-message:/api/ws"]);
    const live = make();
    live.start();
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe("ws://h/api/ws");
    expect(ws.sent).toEqual([]);
    ws.open();
    expect(ws.sent.map((m) => JSON.parse(m))).toEqual([{ type: "auth", token: "T/1" }]);
  });

  it("dispatches messages by type and goes live on the first one", () => {
    const live = make();
    const jobs: unknown[] = [];
    const all: string[] = [];
    live.subscribe("job", (m) => jobs.push(m.job));
    live.subscribe("*", (m) => all.push(m.type));
    live.start();
    const ws = FakeSocket.all[0];
    expect(live.state).toBe("connecting");
    ws.open();
    ws.receive({ type: "snapshot", jobs: [] });
    ws.receive({ type: "job", job: { id: "j1" } });
    ws.onmessage?.({ data: "not json" } as MessageEvent);
    expect(live.state).toBe("open");
    expect(jobs).toEqual([{ id: "j1" }]);
    expect(all).toEqual(["snapshot", "job"]);
  });

  it("moves to the next strategy when an endpoint never answers, and sends the token first there", () => {
    const live = make({ strategies: [firstMessage("/api/ws-gone"), firstMessage("/api/ws")] });
    live.start();
    FakeSocket.all[0].serverClose(1006);
    const ws = FakeSocket.all[1];
    expect(ws.url).toBe("ws://h/api/ws");
    ws.open();
    expect(JSON.parse(ws.sent[0])).toEqual({ type: "auth", token: "T/1" });
    ws.receive({ type: "snapshot", jobs: [] });
    expect(live.strategy).toBe("first-message:/api/ws");
    // a later drop reconnects to the strategy that worked, after a backoff
    ws.serverClose(1006);
    expect(live.state).toBe("reconnecting");
    vi.advanceTimersByTime(200);
    expect(FakeSocket.all[2].url).toBe("ws://h/api/ws");
  });

  it("asks for a new token on 4401 and reconnects when it got one", async () => {
    const onUnauthorized = vi.fn(async () => true);
    const live = make({ onUnauthorized });
    live.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: "snapshot", jobs: [] });
    FakeSocket.all[0].serverClose(4401);
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it("stays down on 4401 when no token can be had", async () => {
    const live = make({ onUnauthorized: async () => false });
    live.start();
    FakeSocket.all[0].serverClose(4401);
    await Promise.resolve();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(live.state).toBe("unauthorized");
  });

  it("stop() closes the socket and cancels the reconnect", () => {
    const live = make();
    live.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: "snapshot", jobs: [] });
    FakeSocket.all[0].serverClose(1011);
    live.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(live.state).toBe("idle");
  });
});
