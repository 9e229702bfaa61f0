/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter 2019), the update torch.optim.AdamW applies:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   theta -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + lr * wd * theta
 * with gradients first clipped to a global norm. Only trainable parameters have state, and t counts each
 * parameter's own updates (as torch's per-parameter `step`): a parameter unfrozen mid-run starts its bias
 * correction afresh. The full state
 * (m, v per parameter and the step count) is exported to checkpoints so a resume continues exactly;
 * mid-training must resume with the original moments (partial resets cause loss spikes).
 */
import * as tf from "@tensorflow/tfjs";
import type { OptimizerConfig } from "../config/types.js";
import { ADAMW_KERNEL, nativeKernelsActive } from "../native/kernels.js";
import { matchesPattern, type AdamWState } from "./state.js";

export { matchesPattern, type AdamWState } from "./state.js";

export interface UpdateStats {
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Norm of the applied parameter change. */
  updateNorm: number;
  /** Factor the gradients were scaled by (1 when not clipped). */
  clipScale: number;
}

export class AdamW {
  private t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly born = new Map<string, number>();

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly cfg: OptimizerConfig,
  ) {}

  /** Number of updates applied so far. */
  get step(): number {
    return this.t;
  }

  private decays(name: string): boolean {
    return !this.cfg.noDecay.some((p) => matchesPattern(name, p));
  }

  private slot(map: Map<string, tf.Variable>, name: string, shape: number[]): tf.Variable {
    let s = map.get(name);
    if (!s) {
      s = tf.variable(tf.zeros(shape), false);
      map.set(name, s);
      if (this.t > 1 && !this.born.has(name)) this.born.set(name, this.t - 1);
    }
    return s;
  }

  /** Global L2 norm of the gradients (one read-back). */
  static globalNorm(grads: Record<string, tf.Tensor>): number {
    return tf.tidy(() => {
      const sq = Object.values(grads).map((g) => tf.sum(tf.square(g)));
      return Math.sqrt(sq.length ? (tf.addN(sq).dataSync()[0] as number) : 0);
    });
  }

  /**
   * Apply one update with learning rate `lr`. `gradNorm` may be passed when already computed. Parameters
   * without a gradient (frozen) are left untouched and get no state.
   */
  apply(grads: Record<string, tf.Tensor>, lr: number, gradNorm = AdamW.globalNorm(grads)): UpdateStats {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd, gradClip } = this.cfg;
    const clipScale = gradClip > 0 && gradNorm > gradClip ? gradClip / (gradNorm + 1e-6) : 1;
    this.t += 1;
    const updateSq = tf.tidy(() => {
      const parts: tf.Scalar[] = [];
      for (const [name, g0] of Object.entries(grads)) {
        const p = this.params.get(name);
        if (!p) continue;
        const m = this.slot(this.m, name, p.shape);
        const v = this.slot(this.v, name, p.shape);
        const t = this.t - (this.born.get(name) ?? 0);
        const bc1 = 1 - Math.pow(b1, t);
        const bc2 = 1 - Math.pow(b2, t);
        const decay = wd > 0 && this.decays(name) ? lr * wd : 0;
        if (nativeKernelsActive()) {
          // The same update in one pass (core/native): test/core/native.test.ts holds it to this formulation.
          const attrs = { clip: clipScale, b1, b2, bc1, bc2, eps, lr, decay };
          const [p1, m1, v1, sq] = tf.engine().runKernel(ADAMW_KERNEL, { p, g: g0, m, v }, attrs) as tf.Tensor[];
          m.assign(m1!);
          v.assign(v1!);
          p.assign(p1!);
          parts.push(sq as tf.Scalar);
          continue;
        }
        const g = clipScale === 1 ? g0 : tf.mul(g0, clipScale);
        const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(m1);
        v.assign(v1);
        let delta = tf.mul(tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), eps)), lr);
        if (decay > 0) delta = tf.add(delta, tf.mul(p, decay));
        p.assign(tf.sub(p, delta));
        parts.push(tf.sum(tf.square(delta)));
      }
      return parts.length ? (tf.addN(parts).dataSync()[0] as number) : 0;
    });
    return { gradNorm, updateNorm: Math.sqrt(updateSq), clipScale };
  }

  /** Copies of the full state. */
  exportState(): AdamWState {
    const read = (map: Map<string, tf.Variable>) => new Map([...map].map(([k, t]) => [k, (t.dataSync() as Float32Array).slice()]));
    return { step: this.t, m: read(this.m), v: read(this.v), born: new Map(this.born) };
  }

  /** Replace the state (e.g. from a checkpoint). Moments for unknown parameters are an error. */
  importState(state: AdamWState): void {
    for (const map of [this.m, this.v]) {
      for (const t of map.values()) t.dispose();
      map.clear();
    }
    this.born.clear();
    for (const [which, src, dst] of [["m", state.m, this.m], ["v", state.v, this.v]] as const) {
      for (const [name, data] of src) {
        const p = this.params.get(name);
        if (!p) throw new Error(`optimizer state has ${which} for unknown parameter '${name}'`);
        dst.set(name, tf.variable(tf.tensor(data, p.shape, "float32"), false));
      }
    }
    this.t = state.step;
    for (const [name, t0] of state.born ?? []) if (this.m.has(name)) this.born.set(name, t0);
  }

  /** Drop the moments of parameters that are no longer trained (frozen keep no optimizer state). */
  dropState(names: Iterable<string>): void {
    for (const name of names) {
      for (const map of [this.m, this.v]) {
        map.get(name)?.dispose();
        map.delete(name);
      }
      this.born.delete(name);
    }
  }

  /** Parameters that have moments. */
  get stateNames(): string[] {
    return [...this.m.keys()];
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
