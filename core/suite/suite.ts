/** Probe suites: loading and validating suite files (suites/*.json or a user's file). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { didYouMean } from "../lookup.js";
import { dirname, join, resolve } from "node:path";
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
  /** Relative gates fail only when the difference is also beyond this many standard errors. */
  beyondSe?: number;
}

export interface SuiteProbe {
  id?: string;
  /** As written: a built-in name, a file path (relative to the suite file) or a package name. */
  probe: string;
  /** What workers load: the built-in name, or the module's file URL. */
  ref: string;
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

/** What a suite needs to know of a probe: where workers load it from, and the metrics it produces. */
export interface ProbeInfo {
  ref: string;
  metrics?(params: Record<string, unknown>): string[];
}

export type ProbeResolver = (spec: string, cwd: string) => Promise<ProbeInfo>;

/** `bpb.*` matches `bpb.sotu`; `*` is any run of characters. */
export function metricMatches(pattern: string, name: string): boolean {
  return new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(name);
}

/**
 * A bundled suite by name (`ci`) or a suite file path, with every probe resolved (custom probes by path
 * relative to the suite file, or package) and every gate's metric checked against what its probe produces.
 */
export async function loadSuite(spec: string, resolveProbe: ProbeResolver, cwd = process.cwd()): Promise<Suite> {
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
  for (const p of suite.probes) {
    const info = await resolveProbe(p.probe, dirname(path));
    p.ref = info.ref;
    const produced = info.metrics?.(p.params);
    if (!produced) continue;
    for (const g of p.gates) {
      if (!produced.some((m) => metricMatches(m, g.metric))) {
        throw new ConfigError(`suite '${path}': a gate of probe '${p.id ?? p.probe}' reads metric '${g.metric}', which the probe does not produce${didYouMean(g.metric, produced)}; it produces ${produced.join(", ")}`);
      }
    }
  }
  return suite;
}
