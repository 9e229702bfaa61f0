/**
 * Training progress for people: a progress bar on a TTY, otherwise one line every `log.every` steps.
 * An observer plugin: it reads step metrics and never changes training state.
 */
import cliProgress from "cli-progress";
import type { MtxPlugin, TrainerApi } from "../core/plugin.js";

const NAME = "progress";

export class ProgressReporter implements MtxPlugin {
  readonly name = NAME;
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly opts: { tty: boolean; every: number; write: (line: string) => void }) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tap(NAME, (run) => {
      if (this.opts.tty) {
        this.bar = new cliProgress.SingleBar(
          { format: "train |{bar}| {value}/{total} steps | loss {loss} | lr {lr} | {tps} tok/s | eta {eta_formatted}", hideCursor: true, clearOnComplete: false },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(run.totalSteps, run.startStep, { loss: "-", lr: "-", tps: "-" });
      } else {
        this.opts.write(`training steps ${run.startStep + 1}..${run.totalSteps}`);
      }
    });
    hooks.stepEnd.tap(NAME, (ctx) => {
      const m = ctx.metrics!;
      if (this.bar) this.bar.update(m.step, { loss: m.loss.toFixed(4), lr: m.lr.toExponential(2), tps: Math.round(m.tokensPerSec) });
      else if (m.step % this.opts.every === 0) {
        this.opts.write(`step ${m.step} loss ${m.loss.toFixed(4)} gnorm ${m.gradNorm.toFixed(3)} lr ${m.lr.toExponential(2)} ${Math.round(m.tokensPerSec)} tok/s${m.skipped ? " (skipped)" : ""}`);
      }
    });
    hooks.evalEnd.tap(NAME, (r) => {
      const line = `eval step ${r.step}: held-out loss ${r.heldoutLoss.toFixed(4)}, ${r.heldoutBpb.toFixed(4)} bits/byte`;
      if (this.bar) this.bar.updateETA();
      if (!this.bar) this.opts.write(line);
    });
    hooks.shutdown.tap(NAME, () => {
      this.bar?.stop();
      this.bar = undefined;
    });
  }
}
