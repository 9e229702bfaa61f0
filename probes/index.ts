/** Every probe by name. The worker (probes/worker.ts) runs them; suites (suites/*.json) name them. */
import { choice } from "./choice.js";
import { generation } from "./generation.js";
import { heldout } from "./heldout.js";
import { induction } from "./induction.js";
import { needle } from "./needle.js";
import { positionLoss } from "./positionLoss.js";
import { code, math, selfConsistency } from "./reasoning.js";
import { toolUse } from "./tools.js";
import type { ProbeDefinition } from "./types.js";

export const PROBES: Record<string, ProbeDefinition> = Object.fromEntries(
  [heldout, positionLoss, induction, needle, math, code, selfConsistency, toolUse, generation, choice].map((p) => [p.name, p]),
);
