/**
 * `mtx guard`: guard a training loop mtx does not run. It serves a small JSON API on loopback that the
 * Python client (core/torch/mtx_torch/guard.py: `Guard`, or the Hugging Face callback) calls each step;
 * the guardrail plugins answer with verdicts. One session per server: it ends when the loop finishes (exit
 * 0, or 3 when a guardrail halted it) or on SIGINT/SIGTERM.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { loadConfig } from "../../core/config/loadConfig.js";
import { ConfigError, ExitCodes } from "../../core/errors.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { checkPort, listenOn } from "../../core/serve/listen.js";
import { GuardSession, type StepReport } from "../../core/guard/GuardSession.js";
import { parsePluginList, resolvePlugins } from "../../plugins/registry.js";
import { dim, runCommand, yellow } from "../output.js";

interface GuardArgs {
  plugins?: string;
  config?: string;
  out: string;
  host: string;
  port: number;
  token?: string;
  base?: string;
  steps?: number;
}

const stepSchema = {
  type: "object",
  required: ["step", "loss", "gradNorm", "lr"],
  additionalProperties: false,
  properties: {
    step: { type: "integer", minimum: 1 },
    loss: { anyOf: [{ type: "number" }, { type: "string", enum: ["NaN", "Infinity", "-Infinity"] }] },
    gradNorm: { anyOf: [{ type: "number" }, { type: "string", enum: ["NaN", "Infinity", "-Infinity"] }] },
    lr: { type: "number", minimum: 0 },
    tokens: { type: "integer", minimum: 0 },
    samples: { type: "array", items: { type: "string" }, maxItems: 100000 },
    sources: { type: "array", items: { type: "string" }, maxItems: 100000 },
    metrics: { type: "object", additionalProperties: { type: "number" } },
  },
};

/** NaN and infinities arrive as strings ("NaN", "Infinity"): a loss may be non-finite. */
const num = (x: unknown) => (typeof x === "number" ? x : x === "NaN" ? NaN : x === "Infinity" ? Infinity : x === "-Infinity" ? -Infinity : Number(x));

/** The guard's HTTP API over a session. */
export function guardServer(session: GuardSession, opts: { token?: string; onFinish: (exitCode: number) => void; ready?: Promise<unknown> }): FastifyInstance {
  const app = Fastify({ bodyLimit: 16 << 20, ajv: { customOptions: { coerceTypes: false } } });
  app.addHook("onRequest", async (req, reply) => {
    // A loop that calls before the session has opened waits for it (the port is bound first, so that a
    // port in use is refused before anything is written).
    await opts.ready;
    if (!opts.token || req.url === "/health") return;
    if (req.headers.authorization !== `Bearer ${opts.token}`) return reply.code(401).send({ error: { message: "missing or wrong bearer token", type: "unauthorized" } });
  });
  app.setErrorHandler((error: { statusCode?: number; message: string }, _req, reply) => {
    const code = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : error instanceof ConfigError ? 400 : 500;
    return reply.code(code).send({ error: { message: error.message, type: code < 500 ? "invalid_request" : "internal" } });
  });
  app.get("/health", async () => ({ ok: true }));
  app.post("/v1/step", { schema: { body: stepSchema } }, async (req) => {
    const b = req.body as Record<string, unknown>;
    return session.step({ ...(b as unknown as StepReport), loss: num(b.loss), gradNorm: num(b.gradNorm) });
  });
  app.post("/v1/end_step", { schema: { body: { type: "object", required: ["step"], additionalProperties: false, properties: { step: { type: "integer", minimum: 1 }, updateNorm: { type: "number", minimum: 0 } } } } }, async (req) => session.endStep(req.body as { step: number; updateNorm?: number }));
  app.post("/v1/checkpoint", { schema: { body: { type: "object", required: ["step", "path"], additionalProperties: false, properties: { step: { type: "integer", minimum: 0 }, path: { type: "string", minLength: 1 } } } } }, async (req) => session.checkpoint(req.body as { step: number; path: string }));
  app.post("/v1/finish", { schema: { body: { type: "object", additionalProperties: false, properties: { status: { type: "string", enum: ["completed", "halted", "interrupted", "failed"] } } } } }, async (req) => {
    const summary = await session.finish((req.body as { status?: "completed" } | undefined)?.status);
    setImmediate(() => opts.onFinish(summary.exitCode));
    return summary;
  });
  return app;
}

export async function run(a: GuardArgs, onListening?: (address: string) => void): Promise<number> {
  checkPort(a.port);
  const base = a.base === undefined ? undefined : resolveModelSource(a.base);
  const overrides = { out: a.out, ...(a.plugins !== undefined ? { plugins: parsePluginList(a.plugins) } : {}), ...(a.steps !== undefined ? { steps: a.steps } : {}) };
  const config = loadConfig({ file: a.config, overrides });
  const resolved = await resolvePlugins(config.plugins);
  const write = (line: string) => process.stderr.write(line + "\n");
  const log = { info: (m: string) => write(dim(m)), warn: (m: string) => write(yellow(m)) };
  const session = new GuardSession(config, resolved.map((r) => r.plugin), { policies: Object.fromEntries(resolved.map((r) => [r.plugin.name, r.onError])), log, base, totalSteps: a.steps });
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (done = resolve));
  let opened: () => void = () => {};
  const ready = new Promise<void>((resolve) => (opened = resolve));
  const app = guardServer(session, { token: a.token ?? process.env.MTX_GUARD_TOKEN, onFinish: (code) => done(code), ready });
  const address = await listenOn(app, a.host, a.port, "mtx guard");
  try {
    await session.open();
  } catch (error) {
    await app.close();
    throw error;
  }
  opened();
  log.info(`mtx guard: plugins ${resolved.map((r) => r.plugin.name).join(", ") || "(none)"}; run directory ${session.runDir}`);
  process.stdout.write(`listening on ${address}\n`);
  onListening?.(address);
  const stop = (signal: NodeJS.Signals) => async () => {
    log.warn(`${signal}: finishing the guarded run`);
    const s = await session.finish("interrupted").catch(() => undefined);
    done(s ? (signal === "SIGINT" ? ExitCodes.interrupted : ExitCodes.terminated) : ExitCodes.internal);
  };
  const onInt = stop("SIGINT");
  const onTerm = stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  try {
    return await finished;
  } finally {
    process.removeListener("SIGINT", onInt);
    process.removeListener("SIGTERM", onTerm);
    await app.close();
  }
}

export const command: CommandModule<object, GuardArgs> = {
  command: "guard",
  describe: "Guard a training loop mtx does not run: the Python client reports each step, the guardrails answer with verdicts",
  builder: (y: Argv) =>
    y
      .option("plugins", { type: "string", describe: "Comma list of guardrail plugins (built-in names, ./file.js paths or package names)", defaultDescription: "the config's" })
      .option("config", { type: "string", describe: "Run config JSON (plugin options, checkpoint.suspectWindow)" })
      .option("out", { type: "string", default: "runs/guard", describe: "Run directory for the guarded run's records" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "Address to listen on (loopback by default)" })
      .option("port", { type: "number", default: 7711, describe: "Port (0: any free port, printed)" })
      .option("token", { type: "string", describe: "Require this bearer token (or set MTX_GUARD_TOKEN)" })
      .option("base", { type: "string", describe: "The checkpoint the loop started from (drift's base), in mtx's format" })
      .option("steps", { type: "number", describe: "Steps the loop will run (plugins that schedule work use it)" }) as Argv<GuardArgs>,
  handler: (argv: ArgumentsCamelCase<GuardArgs>) => runCommand(() => run(argv)),
};
