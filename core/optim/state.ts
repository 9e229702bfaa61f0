/** AdamW's state as checkpoints hold it, and the parameter-name patterns the optimizer and freezing use. */

/** Whether a dotted parameter name matches a pattern with `*` wildcards. */
export function matchesPattern(name: string, pattern: string): boolean {
  const re = new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  return re.test(name);
}

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  /** Global step at which a parameter's moments started, for those that did not start at 0. */
  born?: Map<string, number>;
}
