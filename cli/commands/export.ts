/** `mtx export`: a checkpoint as a Hugging Face Llama directory or a GGUF file for llama.cpp. */
import { resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ConfigError, ExitCodes } from "../../core/errors.js";
import { exportGguf, exportHf, type ExportFormat } from "../../core/interop/export.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { runCommand } from "../output.js";

interface ExportArgs {
  checkpoint: string;
  format: ExportFormat;
  out: string;
  dtype?: string;
  json?: boolean;
}

const DTYPES: Record<ExportFormat, string[]> = { hf: ["f32", "bf16"], gguf: ["f32", "f16", "q8_0"] };

export const command: CommandModule<object, ExportArgs> = {
  command: "export",
  describe: "Write a checkpoint as a Hugging Face LlamaForCausalLM directory (--format hf) or a GGUF file for llama.cpp (--format gguf)",
  builder: (y: Argv) =>
    y
      .option("checkpoint", { type: "string", default: "bundled", describe: "Checkpoint directory (or 'bundled')" })
      .option("format", { choices: ["hf", "gguf"] as const, demandOption: true, describe: "hf: config.json + model.safetensors + tokenizer; gguf: one file llama.cpp loads" })
      .option("out", { type: "string", demandOption: true, describe: "Directory (hf) or file (gguf) to write; must not exist yet" })
      .option("dtype", { type: "string", describe: "Tensor type: hf f32 (default) | bf16; gguf f32 (default) | f16 | q8_0" })
      .option("json", { type: "boolean", default: false, describe: "Print the result as JSON" })
      .example("$0 export --checkpoint runs/mid/checkpoints/step-250 --format gguf --out mid.gguf", "for llama.cpp, Ollama, LM Studio")
      .example("$0 export --checkpoint runs/mid/checkpoints/step-250 --format hf --out mid-hf", "for transformers, vLLM, lm-evaluation-harness") as Argv<ExportArgs>,
  handler: (argv: ArgumentsCamelCase<ExportArgs>) =>
    runCommand(async () => {
      const dtype = (argv.dtype ?? "f32").toLowerCase();
      if (!DTYPES[argv.format].includes(dtype)) throw new ConfigError(`--dtype ${argv.dtype} is not available for --format ${argv.format} (choose ${DTYPES[argv.format].join(", ")})`);
      const dir = resolveModelSource(argv.checkpoint);
      const out = resolve(argv.out);
      const r = argv.format === "hf" ? exportHf(dir, out, { dtype: dtype.toUpperCase() as "F32" | "BF16" }) : exportGguf(dir, out, { type: dtype.toUpperCase() as "F32" | "F16" | "Q8_0" });
      if (argv.json) process.stdout.write(JSON.stringify(r) + "\n");
      else {
        const what = argv.format === "hf" ? "Hugging Face LlamaForCausalLM directory" : "GGUF file (llama.cpp, architecture llama)";
        process.stdout.write(`wrote ${what} ${r.out}: ${r.parameters.toLocaleString("en-US")} parameters in ${r.dtype}, ${(r.bytes / 2 ** 20).toFixed(1)} MB${r.mergedAdapters ? " (adapters merged into the weights)" : ""}\n`);
      }
      return ExitCodes.ok;
    }),
};
