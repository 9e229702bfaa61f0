/** `mtx serve`: a checkpoint as an OpenAI-compatible completions endpoint (core/serve/server.ts). */
import { basename } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { initBackend } from "../../core/backend.js";
import type { LanguageModel } from "../../core/engine/LanguageModel.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import { ConfigError, ExitCodes } from "../../core/errors.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { checkPort, listenOn } from "../../core/serve/listen.js";
import { DEFAULT_LIMITS, serveModel } from "../../core/serve/server.js";
import { dim, runCommand, yellow } from "../output.js";

interface ServeArgs {
  checkpoint: string;
  engine: "tfjs" | "torch";
  device: "auto" | "cpu" | "cuda";
  host: string;
  port: number;
  name?: string;
  token?: string;
  maxTokens: number;
  maxBody: number;
  maxQueue: number;
  maxLen?: number;
}

export async function run(a: ServeArgs, onListening?: (address: string) => void, stopped?: Promise<unknown>): Promise<number> {
  for (const [flag, v] of [["max-tokens", a.maxTokens], ["max-body", a.maxBody], ["max-queue", a.maxQueue], ["max-len", a.maxLen ?? 1]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`--${flag} must be a whole number >= 1 (got ${v})`);
  }
  checkPort(a.port);
  const dir = resolveModelSource(a.checkpoint);
  const log = (m: string) => process.stderr.write(dim(m) + "\n");
  let model: LanguageModel;
  let close = async () => {};
  if (a.engine === "torch") {
    const { openTorchModel } = await import("../../core/engine/torch/TorchModel.js");
    const opened = await openTorchModel(dir, { device: a.device, log });
    model = opened.model;
    close = opened.close;
  } else {
    await initBackend("auto");
    const m = TfjsModel.fromCheckpoint(dir);
    model = m;
    close = () => m.dispose();
  }
  const name = a.name ?? (a.checkpoint === "bundled" ? "mtx-base" : basename(dir));
  const app = serveModel(model, { name, token: a.token ?? process.env.MTX_SERVE_TOKEN, limits: { maxTokens: a.maxTokens, bodyBytes: a.maxBody, queue: a.maxQueue, ...(a.maxLen ? { maxLen: a.maxLen } : {}) } });
  const address = await listenOn(app, a.host, a.port, "mtx serve").catch(async (error: unknown) => {
    await close();
    throw error;
  });
  if (a.host !== "127.0.0.1" && a.host !== "localhost" && a.host !== "::1") process.stderr.write(yellow(`mtx serve: listening on ${a.host}, beyond this machine${a.token || process.env.MTX_SERVE_TOKEN ? "" : ", without a bearer token (--token)"}\n`));
  log(`mtx serve: '${name}' (${model.where}, context ${model.config.contextLength}) from ${dir}`);
  process.stdout.write(`listening on ${address}/v1\n`);
  onListening?.(address);
  const signal = await new Promise<NodeJS.Signals | "stopped">((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
    stopped?.then(() => resolve("stopped"));
  });
  log(`mtx serve: ${signal}: finishing the requests in progress`);
  await app.close();
  await close();
  return ExitCodes.ok;
}

export const command: CommandModule<object, ServeArgs> = {
  command: "serve",
  describe: "Serve a checkpoint as an OpenAI-compatible /v1/completions endpoint (loopback by default)",
  builder: (y: Argv) =>
    y
      .option("checkpoint", { type: "string", default: "bundled", describe: "Checkpoint directory, 'bundled', or hf:DIR" })
      .option("engine", { choices: ["tfjs", "torch"] as const, default: "tfjs" as const, describe: "Where the model computes (torch: a PyTorch process, for models past the tfjs heap)" })
      .option("device", { choices: ["auto", "cpu", "cuda"] as const, default: "auto" as const, describe: "torch engine: the device" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "Address to listen on (loopback by default)" })
      .option("port", { type: "number", default: 8000, describe: "Port (0: any free port, printed)" })
      .option("name", { type: "string", describe: "The model's name in /v1/models (default: the checkpoint directory's name)" })
      .option("token", { type: "string", describe: "Require this bearer token (or set MTX_SERVE_TOKEN)" })
      .option("max-tokens", { type: "number", default: DEFAULT_LIMITS.maxTokens, describe: "Largest max_tokens a request may ask for" })
      .option("max-body", { type: "number", default: DEFAULT_LIMITS.bodyBytes, describe: "Largest request body in bytes (larger: 413)" })
      .option("max-queue", { type: "number", default: DEFAULT_LIMITS.queue, describe: "Requests that may wait (more: 429)" })
      .option("max-len", { type: "number", describe: "Longest prompt plus completion in tokens (max_model_len)", defaultDescription: "4 x the model's training context" })
      .example("$0 serve --checkpoint runs/mid/checkpoints/step-250 --port 8000", "then: mtx probe --suite ci --checkpoint openai:http://127.0.0.1:8000/v1") as unknown as Argv<ServeArgs>,
  handler: (argv: ArgumentsCamelCase<ServeArgs>) => runCommand(() => run(argv)),
};
