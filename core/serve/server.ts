/**
 * `mtx serve`: a checkpoint as an OpenAI-compatible completions endpoint, so anything that speaks that API
 * (lm-evaluation-harness's local-completions, an agent framework, `mtx probe --checkpoint openai:URL`) can
 * use a mid-trained model.
 *
 *   POST /v1/completions   prompt (text, token ids, or a list of either), max_tokens, temperature, seed,
 *                          stop, echo, logprobs (top-k per token, up to 20); token_ids in each choice
 *   GET  /v1/models        the one model, with its context length and where its tokenizer is
 *   GET  /v1/tokenizer.json
 *   GET  /health
 *
 * Requests are validated by schema (fastify): a bad one gets 400, an oversized body 413, an unknown model or
 * route 404, a missing or wrong bearer token 401, a full queue 429, each with an OpenAI-style JSON error.
 * One request computes at a time, in arrival order (a model computes one thing at a time; nothing
 * interleaves). Loopback by default.
 */
import { randomInt } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { LanguageModel } from "../engine/LanguageModel.js";

export interface ServeLimits {
  /** Largest request body in bytes. */
  bodyBytes: number;
  /** Largest max_tokens a request may ask for. */
  maxTokens: number;
  /** Prompts per request. */
  prompts: number;
  /** Requests waiting beyond the one computing; more get 429. */
  queue: number;
  /** Longest prompt plus completion in tokens (max_model_len); 0: four times the training context. */
  maxLen: number;
}

export const DEFAULT_LIMITS: ServeLimits = { bodyBytes: 1 << 20, maxTokens: 1024, prompts: 64, queue: 256, maxLen: 0 };

export interface ServeOptions {
  /** The model's name in /v1/models and requests. */
  name: string;
  token?: string;
  limits?: Partial<ServeLimits>;
}

type Prompt = string | number[];

interface CompletionRequest {
  model?: string;
  prompt: string | string[] | number[] | number[][];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  n?: number;
  seed?: number;
  stop?: string | string[] | null;
  echo?: boolean;
  logprobs?: number | null;
  stream?: boolean;
  /** mtx's extension: decode as mtx does in process, with this context window (sliding past it). */
  mtx?: { window?: number };
}

const completionSchema = (limits: ServeLimits) => ({
  type: "object",
  required: ["prompt"],
  properties: {
    model: { type: "string" },
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", minItems: 1, maxItems: limits.prompts, items: { type: "string" } },
        { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } },
        { type: "array", minItems: 1, maxItems: limits.prompts, items: { type: "array", minItems: 1, items: { type: "integer", minimum: 0 } } },
      ],
    },
    max_tokens: { type: "integer", minimum: 0, maximum: limits.maxTokens },
    temperature: { type: "number", minimum: 0, maximum: 2 },
    top_p: { type: "number", exclusiveMinimum: 0, maximum: 1 },
    n: { type: "integer", minimum: 1, maximum: 1 },
    seed: { type: "integer" },
    stop: { anyOf: [{ type: "string" }, { type: "array", maxItems: 4, items: { type: "string" } }, { type: "null" }] },
    echo: { type: "boolean" },
    logprobs: { anyOf: [{ type: "integer", minimum: 0, maximum: 20 }, { type: "null" }] },
    stream: { type: "boolean", enum: [false] },
    mtx: { type: "object", additionalProperties: false, properties: { window: { type: "integer", minimum: 1, maximum: limits.maxLen } } },
  },
});

/** An OpenAI-style error with its HTTP status. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param?: string,
  ) {
    super(message);
  }
}

/** One computation at a time, in arrival order, with a bounded wait list. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  waiting = 0;

  constructor(private readonly limit: number) {}

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.waiting > this.limit) throw new HttpError(429, `the server is busy (${this.waiting} requests waiting); retry later`, "rate_limit_error");
    this.waiting++;
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined).finally(() => this.waiting--);
    return next;
  }
}

interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
}

/** The served model's answers, independent of HTTP. */
export class Completions {
  private readonly queue: Queue;
  private counter = 0;

  constructor(
    readonly model: LanguageModel,
    private readonly limits: ServeLimits,
  ) {
    this.queue = new Queue(limits.queue);
  }

  get waiting(): number {
    return this.queue.waiting;
  }

  private ids(p: Prompt): number[] {
    if (typeof p === "string") return Array.from(this.model.tokenizer.encode(p));
    const V = this.model.tokenizer.vocabSize;
    const bad = p.find((t) => t >= V);
    if (bad !== undefined) throw new HttpError(400, `token id ${bad} is outside the vocabulary (${V} tokens)`, "invalid_request_error", "prompt");
    return p;
  }

  /** Per-token log-probabilities of `ids` (the first is null) and the top k at each position. */
  private async score(ids: number[], k: number): Promise<Omit<Logprobs, "tokens" | "text_offset">> {
    if (ids.length < 2) return { token_logprobs: ids.map(() => null), top_logprobs: k ? ids.map(() => ({})) : null };
    const inputs = Int32Array.from(ids.slice(0, -1));
    const targets = Int32Array.from(ids.slice(1));
    const loss = await this.model.tokenLoss({ inputs, targets, size: 1, seqLen: inputs.length });
    const token_logprobs = [null, ...Array.from(loss, (x) => -x)];
    if (!k) return { token_logprobs, top_logprobs: null };
    const top = await this.model.topLogprobs({ inputs, size: 1, seqLen: inputs.length }, k);
    const decode = (id: number) => this.model.tokenizer.decode([id]);
    const top_logprobs: Record<string, number>[] = [{}];
    for (let t = 0; t < inputs.length; t++) {
      const entry: Record<string, number> = {};
      for (let j = 0; j < k; j++) {
        const s = decode(top.ids[t * k + j]!);
        if (!(s in entry)) entry[s] = top.logprobs[t * k + j]!;
      }
      top_logprobs.push(entry);
    }
    return { token_logprobs, top_logprobs };
  }

  async complete(req: CompletionRequest, served: string): Promise<Record<string, unknown>> {
    if (req.model !== undefined && req.model !== served) throw new HttpError(404, `the model '${req.model}' does not exist here; this server serves '${served}'`, "invalid_request_error", "model");
    const prompts: Prompt[] = typeof req.prompt === "string" ? [req.prompt] : typeof req.prompt[0] === "number" ? [req.prompt as number[]] : (req.prompt as Prompt[]);
    const maxTokens = req.max_tokens ?? 16;
    const k = req.logprobs ?? 0;
    const wantLogprobs = req.logprobs !== undefined && req.logprobs !== null;
    const maxLen = this.limits.maxLen;
    const encoded = prompts.map((p) => this.ids(p));
    const window = req.mtx?.window;
    for (const ids of encoded) {
      // Scoring alone (echo, max_tokens 0) reads maxLen + 1 tokens: the last one is only a target. With
      // mtx's window the model slides past it, so only the prompt is bounded.
      const room = maxTokens === 0 ? maxLen + 1 : maxLen;
      const used = window ? ids.length : ids.length + maxTokens;
      if (used > room) throw new HttpError(400, `the prompt has ${ids.length} tokens${window ? "" : ` and max_tokens is ${maxTokens}`}: more than this server's ${maxLen} (max_model_len)`, "invalid_request_error", "prompt");
    }
    const stops = req.stop == null ? [] : typeof req.stop === "string" ? [req.stop] : req.stop;
    const temperature = req.temperature ?? 1;
    const seed = req.seed ?? randomInt(2 ** 31);
    return this.queue.run(async () => {
      const choices = [];
      let promptTokens = 0;
      let completionTokens = 0;
      for (const [index, ids] of encoded.entries()) {
        let out: number[] = [];
        let finish = "length";
        if (maxTokens > 0) {
          // Without mtx's window, the window holds the prompt and the completion: no sliding.
          [out] = (await this.model.generate([ids], { maxTokens, temperature, seed: seed + index, stopTokens: [this.model.tokenizer.eosId], window: window ?? ids.length + maxTokens })) as [number[]];
          if (out.length < maxTokens) finish = "stop";
        }
        let text = this.model.tokenizer.decode(out);
        const cut = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
        if (Number.isFinite(cut)) {
          text = text.slice(0, cut);
          // The tokens of the text before the stop string.
          while (out.length && this.model.tokenizer.decode(out).length > cut) out = out.slice(0, -1);
          finish = "stop";
        }
        const promptText = typeof prompts[index] === "string" ? (prompts[index] as string) : this.model.tokenizer.decode(ids);
        let logprobs: Logprobs | null = null;
        if (wantLogprobs) {
          const all = [...ids, ...out];
          const scored = await this.score(all, k);
          // With echo the prompt's tokens come first (the first has no log-probability).
          const from = req.echo ? 0 : ids.length;
          const tokens = all.slice(from).map((t) => this.model.tokenizer.decode([t]));
          const offsets: number[] = [];
          let at = 0;
          for (const t of tokens) {
            offsets.push(at);
            at += t.length;
          }
          logprobs = { tokens, token_logprobs: scored.token_logprobs.slice(from), top_logprobs: scored.top_logprobs ? scored.top_logprobs.slice(from) : null, text_offset: offsets };
        }
        choices.push({ index, text: req.echo ? promptText + text : text, logprobs, finish_reason: finish, token_ids: out });
        promptTokens += ids.length;
        completionTokens += out.length;
      }
      return {
        id: `cmpl-${++this.counter}`,
        object: "text_completion",
        created: Math.floor(Date.now() / 1000),
        model: served,
        choices,
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      };
    });
  }
}

/** The HTTP server over a model. */
export function serveModel(model: LanguageModel, opts: ServeOptions): FastifyInstance {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (!limits.maxLen) limits.maxLen = 4 * model.config.contextLength;
  const completions = new Completions(model, limits);
  // No type coercion: a prompt of token ids must not turn into strings (fastify coerces by default).
  const app = Fastify({ bodyLimit: limits.bodyBytes, ajv: { customOptions: { coerceTypes: false } } });
  const error = (statusCode: number, message: string, type: string, param?: string) => ({ error: { message, type, param: param ?? null, code: statusCode } });
  app.addHook("onRequest", async (req, reply) => {
    if (!opts.token || req.url === "/health") return;
    if (req.headers.authorization !== `Bearer ${opts.token}`) return reply.code(401).send(error(401, "missing or wrong bearer token (Authorization: Bearer ...)", "authentication_error"));
  });
  app.setErrorHandler((e: { statusCode?: number; message: string; type?: string; param?: string; validation?: unknown; code?: string }, _req, reply) => {
    if (e instanceof HttpError) return reply.code(e.statusCode).send(error(e.statusCode, e.message, e.type, e.param));
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    const message = status === 413 ? `the request body is larger than ${limits.bodyBytes} bytes` : status === 500 ? `internal error: ${e.message}` : e.message;
    return reply.code(status).send(error(status, message, status < 500 ? "invalid_request_error" : "server_error"));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(error(404, `no route ${req.method} ${req.url}; this server has POST /v1/completions, GET /v1/models, GET /health`, "invalid_request_error")));
  app.get("/health", async () => ({ status: "ok", model: opts.name, waiting: completions.waiting }));
  app.get("/v1/models", async () => ({
    object: "list",
    data: [{ id: opts.name, object: "model", created: 0, owned_by: "mtx", max_model_len: limits.maxLen, mtx: { contextLength: model.config.contextLength, vocabSize: model.tokenizer.vocabSize, tokenizer: "/v1/tokenizer.json", where: model.where } }],
  }));
  app.get("/v1/tokenizer.json", async () => model.tokenizer.json);
  app.post("/v1/completions", { schema: { body: completionSchema(limits) } }, async (req) => completions.complete(req.body as CompletionRequest, opts.name));
  return app;
}
