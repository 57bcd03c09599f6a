import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useResource } from "./useResource";

/** A load that resolves only when the test says so. */
function deferred() {
  let resolve!: (v: string) => void;
  const promise = new Promise<string>((r) => { resolve = r; });
  return { promise, resolve };
}

describe("useResource", () => {
  it("is loading from the very render that changes the key, while the old data is still shown", async () => {
    const loads: Record<string, ReturnType<typeof deferred>> = { a: deferred(), b: deferred() };
    const { result, rerender } = renderHook(({ k }) => useResource(() => loads[k].promise, k), { initialProps: { k: "a" } });
    await act(async () => loads.a.resolve("data of a"));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.data).toBe("data of a");

    rerender({ k: "b" });
    // stale data of "a" is kept on screen, but marked as loading
    expect(result.current.data).toBe("data of a");
    expect(result.current.loading).toBe(true);

    await act(async () => loads.b.resolve("data of b"));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.data).toBe("data of b");
  });

  it("settles on an error for the current key", async () => {
    const { result } = renderHook(() => useResource(() => Promise.reject(new Error("boom")), "k"));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.error).toContain("boom");
  });

  it("is not loading when disabled", () => {
    const { result } = renderHook(() => useResource(() => Promise.resolve(1), "k", false));
    expect(result.current.loading).toBe(false);
  });
});
