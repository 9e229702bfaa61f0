/** In-process tiny training runs for trainer tests. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validateConfig } from "../../core/config/loadConfig.js";
import type { EffectiveConfig } from "../../core/config/types.js";
import type { StepMetrics } from "../../core/hooks.js";
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
  return { config, summary, metrics: readJsonl<StepMetrics>(join(config.out, "metrics.jsonl")), decisions: readJsonl<Record<string, unknown>>(join(config.out, "decisions.jsonl")) };
}

export function readJsonl<T>(path: string): T[] {
  try {
    return readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as T);
  } catch {
    return [];
  }
}
