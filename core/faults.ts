/**
 * Fault injection, for testing guardrails: `lr-spike@120:x20`, `lr-spike@120:x20:5` (5 steps),
 * `nan@200`, `bad-batch@150`, `weight-noise@300:0.05`. Each fault fires once per run (a replay of the
 * same step after a rollback does not fire it again) unless it ends in `:recur` (a fault in the data or the
 * machine that is there again on every pass), and is recorded in decisions.jsonl.
 */
import { ConfigError } from "./errors.js";

export type Fault = (
  | { kind: "lr-spike"; step: number; factor: number; steps: number }
  | { kind: "nan"; step: number }
  | { kind: "bad-batch"; step: number }
  | { kind: "weight-noise"; step: number; scale: number }
) & { recur?: boolean };

const FORMS = "lr-spike@STEP:xFACTOR[:STEPS], nan@STEP, bad-batch@STEP, weight-noise@STEP:SCALE, each optionally ending in :recur";

export function parseFault(spec: string): Fault {
  const recur = /:recur$/.test(spec.trim());
  const f = parseOnce(spec, spec.trim().replace(/:recur$/, ""));
  return recur ? { ...f, recur } : f;
}

function parseOnce(spec: string, body: string): Fault {
  const m = /^([a-z-]+)@(\d+)(?::(.*))?$/.exec(body);
  const bad = (why: string) => new ConfigError(`inject: '${spec}' ${why}; use ${FORMS}`);
  if (!m) throw bad("is not of the form KIND@STEP[:ARGS]");
  const [, kind, stepText, args] = m;
  const step = Number(stepText);
  if (step < 1) throw bad("names a step below 1");
  switch (kind) {
    case "lr-spike": {
      const a = /^x(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(args ?? "");
      if (!a) throw bad("needs a factor, e.g. lr-spike@120:x20");
      return { kind, step, factor: Number(a[1]), steps: a[2] ? Number(a[2]) : 1 };
    }
    case "nan":
    case "bad-batch":
      if (args) throw bad("takes no arguments");
      return { kind, step };
    case "weight-noise": {
      const scale = Number(args);
      if (!args || !(scale > 0)) throw bad("needs a positive relative scale, e.g. weight-noise@300:0.05");
      return { kind, step, scale };
    }
    default:
      throw bad(`has an unknown kind '${kind}'`);
  }
}

export function parseFaults(specs: string[]): Fault[] {
  return specs.flatMap((s) => s.split(",")).filter((s) => s.trim()).map(parseFault);
}

export function faultLabel(f: Fault): string {
  return baseLabel(f) + (f.recur ? ":recur" : "");
}

function baseLabel(f: Fault): string {
  switch (f.kind) {
    case "lr-spike":
      return `lr-spike@${f.step}:x${f.factor}${f.steps > 1 ? `:${f.steps}` : ""}`;
    case "weight-noise":
      return `weight-noise@${f.step}:${f.scale}`;
    default:
      return `${f.kind}@${f.step}`;
  }
}
