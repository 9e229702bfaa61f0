// Every built-in plugin can be built from its schema defaults and survives a run start/end twice (a
// restart with the same instance), as Composer tests its callbacks.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_PLUGINS } from "../../plugins/index.js";
import { validateOptions } from "../../plugins/registry.js";
import { tinyRun } from "../helpers/trainer.js";

describe("built-in plugin contract", () => {
  let base = "";
  beforeAll(async () => {
    const pre = await tinyRun({ steps: 3 });
    base = join(pre.config.out, "checkpoints", "step-3");
  });

  for (const def of Object.values(BUILTIN_PLUGINS)) {
    it(`${def.name}: builds from schema defaults and survives two runs`, async () => {
      const options = validateOptions(def, {});
      expect(options).toEqual(validateOptions(def, {})); // defaults are deterministic
      const plugin = def.create(options as never);
      expect(plugin.name).toBe(def.name);
      for (let i = 0; i < 2; i++) {
        const { summary } = await tinyRun({ steps: 4, from: base }, [plugin]);
        expect(summary.status).toBe("completed");
      }
      expect(def.description.length).toBeGreaterThan(10);
      expect(def.hooks.length).toBeGreaterThan(0);
    });
  }

  it("rejects a bad option naming it", () => {
    expect(() => validateOptions(BUILTIN_PLUGINS.spike!, { threshold: -1 })).toThrow(/invalid options for plugin 'spike':\n {2}threshold: got -1; must be > 0/);
    expect(() => validateOptions(BUILTIN_PLUGINS.drift!, { acton: "halt" })).toThrow(/acton: is not a known field/);
  });
});
