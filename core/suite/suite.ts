/** Probe suites: loading and validating suite files (suites/*.json or a user's file). */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import AjvModule, { type ValidateFunction } from "ajv";
import { formatSchemaErrors } from "../config/loadConfig.js";
import { ConfigError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";

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
let validator: ValidateFunction | undefined;

/** A bundled suite by name (`ci`) or a suite file path. */
export function loadSuite(spec: string, knownProbes: string[], cwd = process.cwd()): Suite {
  const bundled = join(SUITES_DIR, `${spec}.json`);
  const path = !spec.includes("/") && !spec.endsWith(".json") && existsSync(bundled) ? bundled : resolve(cwd, spec);
  if (!existsSync(path)) throw new ConfigError(`suite '${spec}' not found: use a bundled suite (smoke, ci, longctx, reasoning, agentic, full) or a suite file`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new ConfigError(`suite '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  validator ??= new AjvModule.default({ useDefaults: true, allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(SUITES_DIR, "suite.schema.json"), "utf8")));
  if (!validator(raw)) throw new ConfigError(`invalid suite '${path}':\n  ${formatSchemaErrors(validator.errors ?? [], raw).join("\n  ")}`);
  const suite = raw as Suite;
  for (const p of suite.probes) if (!knownProbes.includes(p.probe)) throw new ConfigError(`suite '${path}': unknown probe '${p.probe}'; known probes are ${knownProbes.join(", ")}`);
  return suite;
}
