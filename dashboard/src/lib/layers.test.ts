import { describe, expect, it } from "vitest";
import { parseLayers } from "./layers";

describe("parseLayers", () => {
  it("accepts numbers and ranges as the codec does", () => {
    expect(parseLayers("1-4")).toEqual([1, 2, 3, 4]);
    expect(parseLayers("1,2,6-7")).toEqual([1, 2, 6, 7]);
    expect(parseLayers(" 7 , 3 - 4 ,3")).toEqual([3, 4, 7]);
  });

  it.each([["0"], ["8"], ["1-"], ["4-2"], ["a"], ["1,,2"], ["1;2"], ["1-4-6"], ["../1"]])("refuses %j with a reason", (bad) => {
    expect(() => parseLayers(bad)).toThrow(/layer|range|backwards/);
  });
});
