/**
 * A LanguageModel held by a PyTorch engine process: the model being trained ("live"), a frozen reference
 * loaded next to it, or a checkpoint the eval process loaded for probes. Every call is a request.
 */
import type { ModelConfig } from "../../config/types.js";
import type { Tokenizer } from "../../data/tokenizer/Tokenizer.js";
import type { LanguageModel } from "../LanguageModel.js";
import type { GenerateOptions, TokenRows } from "../types.js";
import type { TorchProcess } from "./TorchProcess.js";

export class TorchModel implements LanguageModel {
  constructor(
    private readonly proc: TorchProcess,
    /** "live", or the id of a model the process loaded. */
    readonly id: string,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
  ) {}

  get where(): string {
    return `torch (${String(this.proc.hello.device)}, pid ${this.proc.pid})`;
  }

  async tokenLoss(rows: TokenRows): Promise<Float32Array> {
    const r = await this.proc.request("token_loss", { model: this.id, size: rows.size, seqLen: rows.seqLen }, { inputs: rows.inputs, targets: rows.targets });
    return r.buffers.loss as Float32Array;
  }

  async topLogprobs(rows: Omit<TokenRows, "targets">, k: number): Promise<{ ids: Int32Array; logprobs: Float32Array }> {
    const r = await this.proc.request("top_logprobs", { model: this.id, size: rows.size, seqLen: rows.seqLen, k }, { inputs: rows.inputs });
    return { ids: r.buffers.ids as Int32Array, logprobs: r.buffers.logprobs as Float32Array };
  }

  async nextTokenLogprobs(prompts: number[][]): Promise<Float32Array[]> {
    const r = await this.proc.request("next_logprobs", { model: this.id, lengths: prompts.map((p) => p.length) }, { ids: Int32Array.from(prompts.flat()) });
    const all = r.buffers.logprobs as Float32Array;
    const V = all.length / Math.max(1, prompts.length);
    return prompts.map((_, i) => all.slice(i * V, (i + 1) * V));
  }

  async generate(prompts: number[][], opts: GenerateOptions): Promise<number[][]> {
    const r = await this.proc.request("generate", { model: this.id, lengths: prompts.map((p) => p.length), options: opts }, { ids: Int32Array.from(prompts.flat()) });
    const ids = Array.from(r.buffers.ids ?? []);
    const out: number[][] = [];
    let at = 0;
    for (const n of r.header.lengths as number[]) {
      out.push(ids.slice(at, at + n));
      at += n;
    }
    return out;
  }

  async klFrom(reference: LanguageModel, rows: TokenRows): Promise<number | undefined> {
    if (!(reference instanceof TorchModel) || reference.proc !== this.proc) return undefined;
    const r = await this.proc.request("kl", { model: this.id, reference: reference.id, size: rows.size, seqLen: rows.seqLen }, { inputs: rows.inputs });
    return r.header.kl as number;
  }

  async dispose(): Promise<void> {
    if (this.id === "live") return;
    try {
      await this.proc.request("drop_model", { id: this.id });
    } catch {
      // The process is gone: so is the model.
    }
  }
}

/**
 * A checkpoint loaded into a PyTorch process of its own (one rank), for serving and probing a model the
 * TensorFlow.js engine cannot hold. Close it to end the process.
 */
export async function openTorchModel(dir: string, opts: { device?: "auto" | "cpu" | "cuda"; python?: string; log?: (line: string) => void } = {}): Promise<{ model: TorchModel; close(): Promise<void> }> {
  const { resolvePython } = await import("./python.js");
  const { TorchProcess } = await import("./TorchProcess.js");
  const { verifyCheckpoint } = await import("../../checkpoint/Checkpoint.js");
  const { Tokenizer } = await import("../../data/tokenizer/Tokenizer.js");
  const v = verifyCheckpoint(dir, { withOptimizer: false });
  const python = resolvePython({ configured: opts.python, install: true, log: opts.log ?? (() => {}) });
  const proc = await TorchProcess.launch({ python: python.python, nproc: 1, device: opts.device ?? "auto", strategy: "auto", timeoutSec: 600 });
  await proc.ready();
  const r = await proc.request("load_model", { dir });
  return { model: new TorchModel(proc, String(r.header.id), v.state.model, new Tokenizer(v.tokenizerJson)), close: () => proc.close() };
}
