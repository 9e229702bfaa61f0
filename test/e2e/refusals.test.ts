// Bad input that used to crash (exit 4), hang or run forever: each is refused with exit 2, a message naming
// what was wrong and how to fix it, and no stack trace.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_BASE } from "../../core/paths.js";
import { mtx, tempDir, tinyConfig } from "../helpers/cli.js";

function refused(r: { code: number | null; stderr: string }, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toMatch(/run report/); // one clear error, no noise from a report of a run that never began
}

describe("numbers must be finite", () => {
  it("refuses Infinity, 1e309 and words as flag values", () => {
    refused(mtx(["train", "--steps", "Infinity"]), /--steps: 'Infinity' is not a finite number/);
    refused(mtx(["train", "--steps", "1e309"]), /--steps: '1e309' is not a finite number/);
    refused(mtx(["train", "--lr", "1e309"]), /--lr: '1e309' is not a finite number/);
    refused(mtx(["train", "--steps", "abc"]), /--steps: 'abc' is not a finite number/);
    refused(mtx(["probe", "--checkpoint", "bundled", "--workers", "NaN"]), /--workers: 'NaN' is not a finite number/);
  });

  it("refuses non-finite numbers in a config file, a suite and plugin options, naming the field", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.json"), '{ "steps": 1e309, "schedule": { "peakLr": 1e309 } }');
    const r = mtx(["train", "--config", join(dir, "c.json")]);
    refused(r, /steps: got Infinity; must be a finite number/);
    expect(r.stderr).toMatch(/schedule\.peakLr: got Infinity; must be a finite number/);
    writeFileSync(join(dir, "p.json"), JSON.stringify({ ...tinyConfig({ steps: 1 }), plugins: [{ name: "spike", options: {} }] }).replace('"options":{}', '"options":{"threshold":1e309}'));
    refused(mtx(["train", "--config", join(dir, "p.json"), "--out", join(dir, "run")]), /plugins\[0\]\.options\.threshold: got Infinity; must be a finite number/);
    writeFileSync(join(dir, "s.json"), '{ "name": "s", "probes": [{ "probe": "heldout", "params": {}, "gates": [{ "metric": "bpb", "max": 1e309 }] }] }');
    refused(mtx(["probe", "--suite", join(dir, "s.json"), "--checkpoint", "bundled"]), /probes\[0\]\.gates\[0\]\.max: got Infinity; must be a finite number/);
  });
});

describe("--out must be a directory mtx can write", () => {
  it("refuses a regular file, /sys and /proc at once (no hang)", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "x");
    refused(mtx(["train", "--steps", "1", "--out", join(dir, "file")]), /--out '.*file' is a file, not a directory/);
    refused(mtx(["train", "--steps", "1", "--out", join(dir, "file", "run")]), /'.*file' is a file, not a directory/);
    refused(mtx(["train", "--steps", "1", "--out", "/sys/kernel/mtx-run"]), /under \/sys, a virtual file system/);
    const t0 = Date.now();
    refused(mtx(["train", "--steps", "1", "--out", "/proc/mtx-run"]), /under \/proc, a virtual file system/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe("the other commands' outputs and ports", () => {
  it("export refuses /proc and a file in the way, creates a missing folder; serve and guard refuse a port out of range or in use, guard a missing --base", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "x");
    refused(mtx(["export", "--checkpoint", "bundled", "--format", "gguf", "--out", "/proc/mtx.gguf"]), /under \/proc, a virtual file system/);
    refused(mtx(["export", "--checkpoint", "bundled", "--format", "hf", "--out", join(dir, "file", "hf")]), /'.*file' is a file, not a directory/);
    const made = mtx(["export", "--checkpoint", "bundled", "--format", "gguf", "--out", join(dir, "new", "folder", "m.gguf")]);
    expect(made.code, made.stderr).toBe(0);
    refused(mtx(["serve", "--checkpoint", "bundled", "--port", "99999"]), /--port must be a whole number from 0 to 65535 \(got 99999\)/);
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, "127.0.0.1", ok));
    const port = (busy.address() as AddressInfo).port;
    refused(mtx(["serve", "--checkpoint", "bundled", "--port", String(port)]), new RegExp(`port ${port} is in use by another program: choose another --port`));
    refused(mtx(["guard", "--plugins", "spike", "--port", String(port), "--out", join(dir, "g")]), /mtx guard: cannot listen on 127\.0\.0\.1:\d+: port \d+ is in use/);
    busy.close();
    refused(mtx(["guard", "--plugins", "drift", "--base", join(dir, "nope"), "--out", join(dir, "g")]), /checkpoint '.*nope' does not exist/);
  });
});

describe("names are looked up as names", () => {
  it("toString, __proto__ and constructor are unknown plugins, not Object.prototype members", () => {
    for (const name of ["toString", "__proto__", "constructor", "hasOwnProperty"]) {
      refused(mtx(["train", "--steps", "1", "--plugins", name, "--out", join(tempDir(), "r")]), new RegExp(`unknown plugin '${name}'`));
    }
  });

  it("suggests the nearest plugin, option and suite", () => {
    refused(mtx(["train", "--steps", "1", "--plugins", "spkie", "--out", join(tempDir(), "r")]), /unknown plugin 'spkie' \(did you mean 'spike'\?\)/);
    refused(mtx(["train", "--plugin", "spike"]), /unknown argument --plugin \(did you mean --plugins\?\)/);
    refused(mtx(["probe", "--suite", "smok", "--checkpoint", "bundled"]), /suite 'smok' not found \(did you mean 'smoke'\?\)/);
  });
});

describe("plugins that fail to load say why", () => {
  it("a syntax error, ES module syntax in a CommonJS package, and a missing package are told apart", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "broken.js"), "export default class {{ }\n");
    refused(mtx(["train", "--steps", "1", "--plugins", "./broken.js", "--out", "run"], { cwd: dir }), /plugin file '.*broken\.js' failed to load: .*Unexpected token/);
    const cjs = join(dir, "cjs");
    mkdirSync(cjs);
    writeFileSync(join(cjs, "package.json"), '{ "type": "commonjs" }');
    writeFileSync(join(cjs, "guard.js"), 'export default class Guard { name = "guard"; apply() {} }\n');
    const r = mtx(["train", "--steps", "1", "--plugins", "./cjs/guard.js", "--out", "run"], { cwd: dir });
    refused(r, /plugin file '.*cjs\/guard\.js' failed to load/);
    expect(r.stderr).toMatch(/ES module syntax .* rename it to \.mjs, or add "type": "module"/);
    refused(mtx(["train", "--steps", "1", "--plugins", "mtx-plugin-that-is-not-installed", "--out", "run"], { cwd: dir }), /unknown plugin 'mtx-plugin-that-is-not-installed': it is not a built-in plugin/);
  });
});

describe("config files and --plugins", () => {
  it("a plugin path in a config file resolves against the config file's folder", () => {
    const dir = tempDir();
    const conf = join(dir, "conf");
    mkdirSync(conf);
    writeFileSync(join(conf, "mark.js"), 'export default class Mark { name = "mark"; apply(t) { t.hooks.stepEnd.tap("mark", () => t.logMetrics({ "mark.ran": 1 })); } }\n');
    writeFileSync(join(conf, "run.json"), JSON.stringify({ ...tinyConfig({ steps: 2 }), plugins: ["./mark.js"] }));
    const r = mtx(["train", "--config", join(conf, "run.json"), "--out", join(dir, "run")], { cwd: tempDir() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/plugins: mark/);
  });

  it("--plugins selects from the config's plugins keeping their options, adds others, and says what it dropped", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.json"), JSON.stringify({ plugins: [{ name: "spike", options: { threshold: 4 }, onError: "warn" }, "drift"] }));
    const r = mtx(["config", "--config", join(dir, "c.json"), "--plugins", "spike,curriculum"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).plugins).toEqual([{ name: "spike", options: { threshold: 4 }, onError: "warn" }, "curriculum"]);
    expect(r.stderr).toMatch(/--plugins selects spike, curriculum; the config's drift will not run/);
  });
});

describe("runs that could never work are refused before they start", () => {
  it("a model too large for the wasm heap: exit 2 with the estimate and what to do", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "big.json"), JSON.stringify(tinyConfig({ model: { dModel: 1024, nLayers: 12, nHeads: 16, contextLength: 256 }, data: { batchSize: 8, recipe: tinyConfig().data && (tinyConfig().data as { recipe: string }).recipe } })));
    const r = mtx(["train", "--config", join(dir, "big.json"), "--steps", "1", "--out", join(dir, "run")]);
    refused(r, /a 15\d\.\d M-parameter model .* needs about \d+\.\d GB of the TensorFlow\.js engine's 4\.0 GB WebAssembly heap/);
    expect(r.stderr).toMatch(/--engine torch/);
  });

  it("a checkpoint too large for the wasm heap to probe or generate: exit 2 with the estimate and the way through mtx serve --engine torch, before any weight is read", () => {
    // A 6.5 B-parameter checkpoint's state and tokenizer, verified by its manifest, and no weights at all:
    // reading them would fail differently (model.safetensors cannot be read).
    const dir = join(tempDir(), "big");
    mkdirSync(dir);
    const state = JSON.parse(readFileSync(join(BUNDLED_BASE, "state.json"), "utf8"));
    state.model = { ...state.model, dModel: 4096, nLayers: 32, nHeads: 32, nKvHeads: 32, intermediate: 11008 };
    writeFileSync(join(dir, "state.json"), JSON.stringify(state));
    copyFileSync(join(BUNDLED_BASE, "tokenizer.json"), join(dir, "tokenizer.json"));
    const manifest = JSON.parse(readFileSync(join(BUNDLED_BASE, "manifest.json"), "utf8"));
    for (const f of ["state.json", "tokenizer.json"]) {
      const bytes = readFileSync(join(dir, f));
      manifest.files[f] = { sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length };
    }
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    const heap = /a 6493\.0 M-parameter model needs about 29\.0 GB of the TensorFlow\.js engine's 4\.0 GB WebAssembly heap to score one sequence .*mtx serve --checkpoint .* --engine torch.*openai:/;
    refused(mtx(["generate", "--checkpoint", dir, "--prompt", "The"]), heap);
    refused(mtx(["probe", "--suite", "ci", "--checkpoint", dir]), heap);
    refused(mtx(["gate", "--suite", "ci", "--checkpoint", dir, "--baseline", "bundled"]), heap);
  });

  it("a fault past the last step", () => {
    refused(mtx(["train", "--steps", "1", "--inject", "nan@500", "--out", join(tempDir(), "r")]), /inject: 'nan@500' fires at step 500, after the run's last step \(1\)/);
  });
});

describe("one meaning of --json", () => {
  it("--json prints JSON on stdout for probe (and --json-out writes a file)", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "s.json"), JSON.stringify({ name: "tiny", probes: [{ probe: "heldout", params: { seqLen: 32, sequencesPerSource: 1 }, gates: [] }] }));
    const r = mtx(["probe", "--suite", join(dir, "s.json"), "--checkpoint", "bundled", "--json", "--json-out", join(dir, "out.json"), "--workers", "1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ suite: "tiny", probes: [{ id: "heldout" }] });
    expect(mtx(["probe", "--suite", join(dir, "s.json"), "--checkpoint", "bundled", "--json", "value", "--workers", "1"]).code).toBe(2);
  });
});
