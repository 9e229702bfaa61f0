/** Probe suites: loading and validating suite files (suites/*.json or a user's file). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { didYouMean } from "../lookup.js";
import { join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { validateData } from "../schema.js";

export interface Gate {
  metric: string;
  min?: number;
  max?: number;
  maxRelative?: number;
  maxIncrease?: number;
  maxDrop?: number;
  z: number;
}

export interface SuiteProbe {
  id?: string;
  probe: string;
  params: Record<string, unknown>;
  timeoutMs: number;
  gates: Gate[];
}

export interface Suite {
  name: string;
  description: string;
  seed: number;
  probes: SuiteProbe[];
}

export const SUITES_DIR = join(PACKAGE_ROOT, "suites");
let suiteSchema: object | undefined;

/** Names of the bundled suites. */
export function bundledSuites(): string[] {
  return readdirSync(SUITES_DIR).filter((f) => f.endsWith(".json") && f !== "suite.schema.json").map((f) => f.slice(0, -5)).sort();
}

/** A bundled suite by name (`ci`) or a suite file path. */
export function loadSuite(spec: string, knownProbes: string[], cwd = process.cwd()): Suite {
  const bundled = join(SUITES_DIR, `${spec}.json`);
  const path = !spec.includes("/") && !spec.endsWith(".json") && existsSync(bundled) ? bundled : resolve(cwd, spec);
  if (!existsSync(path)) throw new ConfigError(`suite '${spec}' not found${didYouMean(spec, bundledSuites())}: use a bundled suite (${bundledSuites().join(", ")}) or a suite file`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`suite '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  suiteSchema ??= JSON.parse(readFileSync(join(SUITES_DIR, "suite.schema.json"), "utf8")) as object;
  const suite = validateData<Suite>(suiteSchema, raw, `suite '${path}'`, (m) => new ConfigError(m));
  for (const p of suite.probes) if (!knownProbes.includes(p.probe)) throw new ConfigError(`suite '${path}': unknown probe '${p.probe}'${didYouMean(p.probe, knownProbes)}; known probes are ${knownProbes.join(", ")}`);
  return suite;
}
