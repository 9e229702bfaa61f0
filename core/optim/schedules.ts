/**
 * Learning-rate schedules, as pure functions of the (1-based) step, so a resumed run gets the same LR.
 * - warmup-cosine: linear re-warmup to the peak, then cosine decay to `minLr` (the mid-training default).
 * - wsd: warmup, stable at the peak, then a linear decay to `minLr` over the last `decayFraction` of steps
 *   (MiniCPM, Hu et al. 2024: ~10% of the run suffices).
 * - linear: linear to zero after the warmup (OLMo 2 stage 2 uses it with no warmup).
 * - constant: the peak after the warmup.
 */
import type { ScheduleConfig } from "../config/types.js";

export interface ResolvedSchedule extends Omit<ScheduleConfig, "peakLr"> {
  peakLr: number;
  totalSteps: number;
}

export function learningRate(step: number, s: ResolvedSchedule): number {
  const { peakLr: peak, minLr, warmupSteps: warm, totalSteps: total } = s;
  if (warm > 0 && step <= warm) return (peak * step) / warm;
  const span = Math.max(1, total - warm);
  const progress = Math.min(1, Math.max(0, (step - warm) / span));
  switch (s.type) {
    case "constant":
      return peak;
    case "linear":
      return peak * (1 - progress);
    case "wsd": {
      const decaySteps = Math.max(1, Math.round(total * s.decayFraction));
      const decayStart = total - decaySteps;
      if (step <= decayStart) return peak;
      return peak + (minLr - peak) * Math.min(1, (step - decayStart) / decaySteps);
    }
    case "warmup-cosine":
    default:
      return minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * progress));
  }
}
