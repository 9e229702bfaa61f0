import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deepMerge, loadConfig, schemaDefault, validateConfig } from "../../../core/config/loadConfig.js";
import { ConfigError } from "../../../core/errors.js";
import { ROOT, tempDir } from "../../helpers/cli.js";

describe("run config", () => {
  it("fills every default from the schema", () => {
    const c = validateConfig({});
    expect(c).toMatchObject({ seed: 1234, steps: 250, from: "bundled", backend: "auto", plugins: [] });
    expect(c.optimizer).toEqual({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1, noDecay: ["embed.*", "*norm*"] });
    expect(c.schedule).toMatchObject({ type: "warmup-cosine", peakLr: 0.0003, minLr: 0.00003, warmupSteps: 20 });
    expect(schemaDefault("schedule.peakLr")).toBe(0.0003);
    expect(schemaDefault("steps")).toBe(250);
  });

  it("layers file and flags over defaults, deep-merging objects", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "mtx.config.json"), JSON.stringify({ steps: 7, schedule: { minLr: 0.00001 } }));
    const c = loadConfig({ cwd: dir, overrides: { schedule: { peakLr: 0.01 } } });
    expect(c.steps).toBe(7);
    expect(c.schedule).toMatchObject({ minLr: 0.00001, peakLr: 0.01, type: "warmup-cosine" });
    expect(deepMerge({ a: { b: 1, c: [1] } }, { a: { c: [2] } })).toEqual({ a: { b: 1, c: [2] } });
  });

  it("names the field, the value and what is allowed", () => {
    const err = (raw: unknown) => {
      try {
        validateConfig(raw);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(err({ steps: 0 })).toMatch(/steps: got 0; must be >= 1/);
    expect(err({ schedule: { type: "cosine" } })).toMatch(/schedule.type: got "cosine"; must be one of: "warmup-cosine", "wsd", "linear", "constant"/);
    expect(err({ schedule: { peakLr: "high" } })).toMatch(/schedule.peakLr: got "high"; must be of type number or must be "from-checkpoint"/);
    expect(err({ optimiser: {} })).toMatch(/optimiser: is not a known field/);
    expect(err({ steps: 5, seed: -1 })).toMatch(/seed: got -1; must be >= 0/);
  });

  it("the generated config types are up to date with the schema", () => {
    expect(() => execFileSync(process.execPath, [join(ROOT, "scripts", "gen-types.mjs"), "--check"], { stdio: "pipe" })).not.toThrow();
  });
});
