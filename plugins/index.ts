/**
 * Built-in plugins by name: guardrails (act through verdicts) and training methods (change what is
 * trained). `mtx train --plugins a,b` and `plugins: [...]` in the config resolve names here first, then as a
 * file path, then as an npm package (registry.ts).
 */
import type { PluginDefinition } from "../core/plugin.js";
import { driftPlugin } from "./guardrails/drift.js";
import { longctxPlugin } from "./guardrails/longctx.js";
import { probesPlugin } from "./guardrails/probes.js";
import { spikePlugin } from "./guardrails/spike.js";
import { agenticPlugin } from "./methods/agentic.js";
import { contrastivePlugin } from "./methods/contrastive.js";
import { curriculumPlugin } from "./methods/curriculum.js";
import { irlPlugin } from "./methods/irl.js";

export const BUILTIN_PLUGINS: Readonly<Record<string, PluginDefinition<never>>> = Object.freeze({
  spike: spikePlugin as PluginDefinition<never>,
  drift: driftPlugin as PluginDefinition<never>,
  probes: probesPlugin as PluginDefinition<never>,
  longctx: longctxPlugin as PluginDefinition<never>,
  curriculum: curriculumPlugin as PluginDefinition<never>,
  contrastive: contrastivePlugin as PluginDefinition<never>,
  irl: irlPlugin as PluginDefinition<never>,
  agentic: agenticPlugin as PluginDefinition<never>,
});
