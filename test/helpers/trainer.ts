/** In-process tiny training runs for trainer tests. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { validateConfig } from "../../core/config/loadConfig.js";
import type { EffectiveConfig } from "../../core/config/types.js";
import { mergeLateMetrics, type StepMetrics } from "../../core/run/records.js";
import type { MtxPlugin, OnErrorPolicy } from "../../core/plugin.js";
import { Trainer } from "../../core/Trainer.js";
import { tempDir, tinyConfig } from "./cli.js";

export function tinyEffective(extra: Record<string, unknown> = {}): EffectiveConfig {
  return validateConfig({ ...tinyConfig(), out: tempDir("mtx-run-"), ...extra });
}

export async function tinyRun(extra: Record<string, unknown> = {}, plugins: MtxPlugin[] = [], opts: { policies?: Record<string, OnErrorPolicy>; resume?: boolean } = {}) {
  const config = tinyEffective(extra);
  const trainer = new Trainer(config, plugins, opts);
  const summary = await trainer.train();
  const decisions = join(config.out, "decisions.jsonl");
  return { config, summary, metrics: readMetrics(config.out), decisions: existsSync(decisions) ? readJsonl<Record<string, unknown>>(decisions) : [] };
}

/** A JSON-lines file's records; a missing file is an error (a test must not pass on an empty log). */
export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** metrics.jsonl with late results merged into the steps they measured (as the report reads it). */
export function readMetrics(runDir: string): StepMetrics[] {
  return mergeLateMetrics(readJsonl(join(runDir, "metrics.jsonl")));
}
