import { describe, expect, it } from "vitest";
import { formatBytes, formatDate, formatRatio, percent } from "./format";

describe("format", () => {
  it("writes sizes, ratios and progress", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(171_213)).toBe("167.2 KiB");
    expect(formatBytes(null)).toBe("—");
    expect(formatRatio(25.049)).toBe("25.05×");
    expect(formatRatio(null)).toBe("—");
    expect(percent(0.256)).toBe(26);
    expect(percent(7)).toBe(100);
    expect(percent(-1)).toBe(0);
  });

  it("writes dates in local time, and leaves what is not a date alone", () => {
    const d = new Date(2026, 10, 30, 7, 5, 9);
    expect(formatDate(d.toISOString())).toBe("2026-11-30 07:05:09");
    expect(formatDate(null)).toBe("—");
    expect(formatDate("yesterday")).toBe("yesterday");
  });
});
