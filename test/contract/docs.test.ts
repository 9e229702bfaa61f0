import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOOK_REFERENCE_PATH, renderHookReference } from "../../scripts/hook-reference.js";

describe("docs", () => {
  it("docs/hooks.md is generated from HOOK_DOCS and up to date (npm run docs)", () => {
    expect(readFileSync(HOOK_REFERENCE_PATH, "utf8")).toBe(renderHookReference());
  });
});
