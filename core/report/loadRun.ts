/**
 * A run directory as the report reads it: config, summary, per-step metrics, decisions, the mixture
 * audit and probe measurements. Missing optional files give empty lists; a directory that is not a run
 * is a clear error.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { EffectiveConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { mergeLateMetrics, type DecisionRecord, type LateMetrics, type ProbeRecord, type RunSummary, type StepMetrics } from "../run/records.js";

export type { DecisionRecord, ProbeRecord };

export interface RunRecord {
  name: string;
  dir: string;
  config: EffectiveConfig | undefined;
  summary: RunSummary | undefined;
  /** One record per step, late results merged into the step they measured. */
  metrics: StepMetrics[];
  decisions: DecisionRecord[];
  probes: ProbeRecord[];
  mixture: Record<string, unknown> | undefined;
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (cause) {
    throw new ConfigError(`${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        out.push(JSON.parse(line) as T);
      } catch {
        throw new ConfigError(`${path}:${i + 1} is not valid JSON; the run's log is damaged`);
      }
    });
  return out;
}

export function loadRun(dir: string, name?: string): RunRecord {
  const path = resolve(dir);
  if (!existsSync(path)) throw new ConfigError(`run directory '${dir}' does not exist`);
  const has = (f: string) => existsSync(join(path, f));
  if (!has("metrics.jsonl") && !has("summary.json") && !has("config.json")) {
    throw new ConfigError(`'${dir}' is not an mtx run directory (no metrics.jsonl, summary.json or config.json); give the --out directory of a \`mtx train\` run`);
  }
  return {
    name: name ?? basename(path),
    dir: path,
    config: readJson<EffectiveConfig>(join(path, "config.json")),
    summary: readJson<RunSummary>(join(path, "summary.json")),
    metrics: mergeLateMetrics(readJsonl<StepMetrics | LateMetrics>(join(path, "metrics.jsonl"))),
    decisions: readJsonl(join(path, "decisions.jsonl")),
    probes: readJsonl(join(path, "probes.jsonl")),
    mixture: readJson(join(path, "mixture.json")),
  };
}
