// Bad configs and flags: exit code 2, a message naming the field, no stack trace.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, tempDir } from "../helpers/cli.js";

const BAD: [string, unknown, RegExp][] = [
  ["steps below 1", { steps: 0 }, /steps: got 0; must be >= 1/],
  ["steps not an integer", { steps: 2.5 }, /steps: got 2.5; must be integer|steps: got 2.5; must be of type integer/],
  ["unknown top-level field", { stepz: 10 }, /stepz: is not a known field/],
  ["unknown nested field", { optimizer: { momentum: 0.9 } }, /optimizer.momentum: is not a known field/],
  ["beta2 of 1", { optimizer: { beta2: 1 } }, /optimizer.beta2: got 1; must be < 1/],
  ["negative weight decay", { optimizer: { weightDecay: -0.1 } }, /optimizer.weightDecay: got -0.1; must be >= 0/],
  ["unknown schedule", { schedule: { type: "cosine" } }, /schedule.type: got "cosine"; must be one of/],
  ["peakLr as a word", { schedule: { peakLr: "max" } }, /schedule.peakLr: got "max"/],
  ["minLr above peakLr", { schedule: { peakLr: 0.001, minLr: 0.01 } }, /schedule.minLr: got 0.01; must not exceed schedule.peakLr/],
  ["unknown backend", { backend: "cuda" }, /backend: got "cuda"; must be one of: "auto", "wasm", "cpu", "tensorflow", "tensorflow-gpu"/],
  ["batch size of 0", { data: { batchSize: 0 } }, /data.batchSize: got 0; must be >= 1/],
  ["a removed or misspelt data field", { data: { sources: ["brown"] } }, /data.sources: is not a known field/],
  ["a recipe that does not exist", { steps: 1, data: { recipe: "/nonexistent/recipe.json" } }, /recipe '\/nonexistent\/recipe.json' not found/],
  ["heads that do not divide the width", { from: null, model: { dModel: 30, nHeads: 4 } }, /model.dModel \(30\) must be divisible by model.nHeads \(4\)/],
  ["plugin entry without a name", { plugins: [{ options: {} }] }, /plugins.0.name: is required|plugins.0: got/],
  ["bad onError policy", { plugins: [{ name: "x", onError: "ignore" }] }, /plugins.0.onError: got "ignore"; must be one of: "halt", "disable", "warn"/],
  ["config that is not an object", [1, 2], /must (contain|be) a JSON object/],
];

describe("bad configs exit 2 and name the field", () => {
  for (const [what, config, message] of BAD) {
    it(what, () => {
      const dir = tempDir();
      const file = join(dir, "bad.json");
      writeFileSync(file, JSON.stringify(config));
      const r = mtx(["train", "--config", file, "--out", join(dir, "run")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it("a config file that is not JSON names the file", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "broken.json"), "{ steps: 3 ");
    const r = mtx(["train", "--config", join(dir, "broken.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config file '.*broken.json' is not valid JSON/);
  });

  it("a missing config file, an unknown flag, an unknown plugin and a bad flag value exit 2", () => {
    expect(mtx(["train", "--config", "/nonexistent.json"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/config file '\/nonexistent.json' does not exist/) });
    expect(mtx(["train", "--stepz", "3"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown argument --stepz \(did you mean --steps\?\)/) });
    expect(mtx(["train", "--backend", "cuda"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Invalid values/) });
    const r = mtx(["train", "--plugins", "nosuchplugin", "--steps", "1", "--out", join(tempDir(), "r")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown plugin 'nosuchplugin'.*mtx plugins list/);
    expect(mtx(["train", "--steps", "-3"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/steps: got -3; must be >= 1/) });
  });

  it("mtx config prints the effective config with flags applied", () => {
    const r = mtx(["config", "--steps", "12", "--lr", "0.0005"]);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.steps).toBe(12);
    expect(c.schedule.peakLr).toBe(0.0005);
    expect(c.optimizer.beta2).toBe(0.95);
  });
});
