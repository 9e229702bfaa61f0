/**
 * Built-in plugins by name. `mtx train --plugins a,b` and `plugins: [...]` in the config resolve names
 * here first, then as a file path, then as an npm package (see registry.ts).
 */
import { agenticPlugin } from "./agentic.js";
import { contrastivePlugin } from "./contrastive.js";
import { curriculumPlugin } from "./curriculum.js";
import { driftPlugin } from "./drift.js";
import { irlPlugin } from "./irl.js";
import { longctxPlugin } from "./longctx.js";
import { probesPlugin } from "./probes.js";
import { spikePlugin } from "./spike.js";
import type { PluginDefinition } from "./types.js";

export const BUILTIN_PLUGINS: Record<string, PluginDefinition<never>> = {
  curriculum: curriculumPlugin as PluginDefinition<never>,
  drift: driftPlugin as PluginDefinition<never>,
  spike: spikePlugin as PluginDefinition<never>,
  probes: probesPlugin as PluginDefinition<never>,
  longctx: longctxPlugin as PluginDefinition<never>,
  contrastive: contrastivePlugin as PluginDefinition<never>,
  irl: irlPlugin as PluginDefinition<never>,
  agentic: agenticPlugin as PluginDefinition<never>,
};
