// Every hook is documented, takes at most one (context) argument, and its documented kind matches its
// tapable class, so the docs page generated from HOOK_DOCS cannot drift from the code.
import { describe, expect, it } from "vitest";
import { createHooks, HOOK_DOCS } from "../../core/hooks.js";

const KIND_OF_CLASS: Record<string, string> = {
  SyncHook: "sync",
  SyncBailHook: "sync-bail",
  SyncWaterfallHook: "sync-waterfall",
  AsyncSeriesHook: "async-series",
};

describe("hook contract", () => {
  const hooks = createHooks();

  it("documents every hook and nothing else", () => {
    expect(Object.keys(HOOK_DOCS).sort()).toEqual(Object.keys(hooks).sort());
    for (const doc of Object.values(HOOK_DOCS)) {
      expect(doc.when.length).toBeGreaterThan(20);
      expect(doc.contract.length).toBeGreaterThan(10);
    }
  });

  it("gives each hook one context argument and the documented kind", () => {
    for (const [name, hook] of Object.entries(hooks)) {
      const h = hook as unknown as { _args: string[]; constructor: { name: string } };
      expect(h._args.length, name).toBeLessThanOrEqual(1);
      expect(KIND_OF_CLASS[h.constructor.name], name).toBe(HOOK_DOCS[name as keyof typeof HOOK_DOCS].kind);
    }
  });

  it("freezes the hook set", () => {
    expect(Object.isFrozen(hooks)).toBe(true);
  });
});
