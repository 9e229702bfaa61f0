/**
 * The probe worker (one per piscina thread): sets up TensorFlow.js once, then runs the probe a task names.
 * Inputs and outputs are structured-clone data.
 */
import { initBackend, type BackendChoice } from "../core/backend.js";
import { ProbeError } from "../core/errors.js";
import type { ProbeTask } from "../core/pool/ProbePool.js";
import { drift, type DriftInput } from "./drift.js";

const PROBES: Record<string, (input: never) => unknown> = {
  drift: (input: DriftInput) => drift(input),
};

export default async function runProbe(task: ProbeTask & { backend?: BackendChoice }): Promise<unknown> {
  await initBackend(task.backend ?? "wasm");
  const probe = PROBES[task.probe];
  if (!probe) throw new ProbeError(`unknown probe '${task.probe}': known probes are ${Object.keys(PROBES).join(", ")}`);
  return probe(task.input as never);
}
