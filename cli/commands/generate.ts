/** `mtx generate`: what a model writes after a prompt (greedy, or sampled with a seed): a checkpoint in process, or an endpoint. */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { initBackend } from "../../core/backend.js";
import type { LanguageModel } from "../../core/engine/LanguageModel.js";
import { OpenAiModel } from "../../core/engine/openai/OpenAiModel.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import { ConfigError, ExitCodes } from "../../core/errors.js";
import { isEndpointSource, resolveEndpoint, resolveModelSource } from "../../core/interop/modelSource.js";
import { runCommand } from "../output.js";

interface GenerateArgs {
  checkpoint: string;
  tokenizer?: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  stopAtEos: boolean;
  json: boolean;
}

export const command: CommandModule<object, GenerateArgs> = {
  command: "generate",
  describe: "Continue a prompt with a checkpoint (greedy by default; sampled with --temperature and --seed)",
  builder: (y: Argv) =>
    y
      .option("checkpoint", { type: "string", default: "bundled", describe: "Checkpoint directory, 'bundled', hf:DIR (a Hugging Face Llama directory) or openai:URL[#model] (an OpenAI-compatible endpoint)" })
      .option("tokenizer", { type: "string", describe: "For an openai: endpoint that does not publish its tokenizer: a tokenizer.json, or a model source holding one" })
      .option("prompt", { type: "string", demandOption: true, describe: "Text to continue" })
      .option("max-tokens", { type: "number", default: 64, describe: "Tokens to generate at most" })
      .option("temperature", { type: "number", default: 0, describe: "0: greedy (the most likely token each time); > 0: sample" })
      .option("seed", { type: "number", default: 0, describe: "Seed of the sampling stream (same seed, same text)" })
      .option("stop-at-eos", { type: "boolean", default: true, describe: "Stop at the end-of-text token" })
      .option("json", { type: "boolean", default: false, describe: "Print prompt, completion and token ids as JSON" })
      .example("$0 generate --checkpoint runs/mid/checkpoints/step-250 --prompt 'The committee reported'", "greedy continuation")
      .example("$0 generate --checkpoint openai:http://127.0.0.1:8000/v1 --prompt 'The committee reported'", "the same through a server") as unknown as Argv<GenerateArgs>,
  handler: (argv: ArgumentsCamelCase<GenerateArgs>) =>
    runCommand(async () => {
      if (!Number.isInteger(argv.maxTokens) || argv.maxTokens < 1) throw new ConfigError(`--max-tokens must be a whole number >= 1 (got ${argv.maxTokens})`);
      if (!(argv.temperature >= 0)) throw new ConfigError(`--temperature must be >= 0 (got ${argv.temperature})`);
      if (!argv.prompt.length) throw new ConfigError("--prompt is empty: give the text to continue");
      const model = await openModel(argv.checkpoint, argv.tokenizer);
      try {
        const prompt = Array.from(model.tokenizer.encode(argv.prompt));
        const t0 = performance.now();
        const [ids] = await model.generate([prompt], { maxTokens: argv.maxTokens, temperature: argv.temperature, seed: argv.seed, stopTokens: argv.stopAtEos ? [model.tokenizer.eosId] : [] });
        const seconds = (performance.now() - t0) / 1000;
        const completion = model.tokenizer.decode(ids!);
        if (argv.json) process.stdout.write(JSON.stringify({ prompt: argv.prompt, completion, promptTokens: prompt, completionTokens: ids, tokensPerSec: ids!.length / seconds }) + "\n");
        else process.stdout.write(`${argv.prompt}${completion}\n`);
      } finally {
        await model.dispose();
      }
      return ExitCodes.ok;
    }),
};

/** The model a source names: weights run in process, an endpoint through its completions API. */
async function openModel(source: string, tokenizer: string | undefined): Promise<LanguageModel> {
  if (isEndpointSource(source)) return OpenAiModel.connect(resolveEndpoint(source, { tokenizer }));
  if (tokenizer) throw new ConfigError("--tokenizer applies to openai: endpoints only (a checkpoint brings its own tokenizer)");
  await initBackend("auto");
  return TfjsModel.fromCheckpoint(resolveModelSource(source));
}
