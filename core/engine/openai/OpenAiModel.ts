/**
 * A model behind an OpenAI-compatible `/v1/completions` endpoint (vLLM, llama.cpp's server, TGI, Ollama,
 * `mtx serve`) as a LanguageModel, so probes and suites measure it as they measure a local checkpoint.
 *
 * - Scoring: prompts go as token ids with `echo: true`, `logprobs: 1` and `max_tokens: 0` (retried with 1
 *   for servers that refuse 0), and `token_logprobs` are the log-probabilities of each prompt token given
 *   its prefix. A server that returns none cannot be scored: "not supported by this model source".
 * - Generation: ordinary completions with `temperature`, `seed` and the stop tokens' text; the completion's
 *   ids come from the server's `token_ids` when it sends them (mtx serve, vLLM), else from re-encoding.
 * - The full next-token distribution and KL to another model are not available through the API.
 *
 * The tokenizer is the served model's: mtx serve publishes it (`/v1/models` names its URL); for other servers
 * pass it (`--tokenizer`, a tokenizer.json or an exported directory). The API key comes from $MTX_API_KEY
 * (else $OPENAI_API_KEY) and is sent only as the Authorization header, never written anywhere.
 */
import type { ModelConfig } from "../../config/types.js";
import { Tokenizer } from "../../data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../../data/tokenizer/trainBpe.js";
import { ConfigError, NotSupportedError, ProbeError } from "../../errors.js";
import type { LanguageModel } from "../LanguageModel.js";
import type { GenerateOptions, TokenRows } from "../types.js";

export interface EndpointSpec {
  /** Base URL ending in /v1. */
  url: string;
  /** Model name; default: the first model the server lists. */
  model?: string;
  /** A tokenizer.json to use instead of the one the server publishes. */
  tokenizerJson?: unknown;
}

/** `openai:URL[#model]` as an endpoint spec. */
export function parseEndpoint(spec: string): EndpointSpec {
  const rest = spec.slice("openai:".length);
  const [url, model] = rest.split("#") as [string, string | undefined];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`'${spec}' is not an endpoint: write openai:http://HOST:PORT/v1 (optionally #MODEL)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new ConfigError(`'${spec}': the endpoint must be http:// or https://`);
  return { url: url.replace(/\/+$/, ""), model: model || undefined };
}

interface Choice {
  text: string;
  logprobs?: { token_logprobs?: (number | null)[]; tokens?: string[] } | null;
  token_ids?: number[];
  finish_reason?: string;
}

export class OpenAiModel implements LanguageModel {
  private constructor(
    private readonly spec: EndpointSpec & { model: string; mtx: boolean },
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
  ) {}

  get where(): string {
    return `openai ${this.spec.url} (${this.spec.model})`;
  }

  /** Connect: list the models, pick one, and find its tokenizer and context length. */
  static async connect(spec: EndpointSpec): Promise<OpenAiModel> {
    // Refusals here (a wrong key, a wrong URL) are the user's to fix: exit 2.
    const models = (await request(spec.url, "GET", "/models").catch((e: Error) => {
      if (e instanceof EndpointError) throw new ConfigError(e.message);
      throw e instanceof ProbeError ? new ConfigError(`${e.message}: is ${spec.url} the /v1 base of an OpenAI-compatible server?`) : e;
    })) as { data?: { id: string; max_model_len?: number; mtx?: { tokenizer?: string; contextLength?: number } }[] };
    const list = models.data ?? [];
    const card = spec.model ? list.find((m) => m.id === spec.model) : list[0];
    if (!card) throw new ConfigError(`${spec.url}: ${spec.model ? `no model '${spec.model}' (the server lists ${list.map((m) => m.id).join(", ") || "none"})` : "the server lists no model"}`);
    let json = spec.tokenizerJson;
    if (!json && card.mtx?.tokenizer) json = await request(spec.url, "GET", card.mtx.tokenizer.replace(/^\/v1/, ""));
    if (!json) throw new ConfigError(`${spec.url}: the server does not publish its tokenizer; pass --tokenizer (a tokenizer.json, or the model's exported Hugging Face directory)`);
    const tokenizer = new Tokenizer(json as TokenizerJson);
    const contextLength = card.mtx?.contextLength ?? card.max_model_len;
    if (!contextLength) throw new ConfigError(`${spec.url}: the server does not say model '${card.id}''s context length (max_model_len)`);
    const config = { vocabSize: tokenizer.vocabSize, contextLength, dModel: 0, nLayers: 0, nHeads: 1 } as unknown as ModelConfig;
    return new OpenAiModel({ ...spec, model: card.id, mtx: !!card.mtx }, config, tokenizer);
  }

  private complete(body: Record<string, unknown>): Promise<{ choices: Choice[] }> {
    return request(this.spec.url, "POST", "/completions", { model: this.spec.model, ...body }) as Promise<{ choices: Choice[] }>;
  }

  async tokenLoss(rows: TokenRows): Promise<Float32Array> {
    const { size, seqLen, inputs, targets } = rows;
    const prompts: number[][] = [];
    for (let r = 0; r < size; r++) {
      const ids = [inputs[r * seqLen]!];
      for (let t = 0; t < seqLen; t++) {
        if (t + 1 < seqLen && targets[r * seqLen + t] !== inputs[r * seqLen + t + 1]) throw new NotSupportedError("scoring targets that are not the next inputs");
        ids.push(targets[r * seqLen + t]!);
      }
      prompts.push(ids);
    }
    let res: { choices: Choice[] };
    try {
      res = await this.complete({ prompt: prompts, echo: true, logprobs: 1, max_tokens: 0, temperature: 0 });
    } catch (error) {
      if (!(error instanceof EndpointError) || error.status !== 400) throw error;
      res = await this.complete({ prompt: prompts, echo: true, logprobs: 1, max_tokens: 1, temperature: 0 });
    }
    const out = new Float32Array(size * seqLen);
    for (let r = 0; r < size; r++) {
      const lp = res.choices[r]?.logprobs?.token_logprobs;
      if (!lp || lp.length < seqLen + 1) throw new NotSupportedError(`the server returned no log-probabilities of the prompt (echo with logprobs)`);
      for (let t = 0; t < seqLen; t++) out[r * seqLen + t] = -(lp[t + 1] ?? NaN);
    }
    return out;
  }

  async topLogprobs(): Promise<{ ids: Int32Array; logprobs: Float32Array }> {
    throw new NotSupportedError("top log-probabilities at every position");
  }

  async nextTokenLogprobs(): Promise<Float32Array[]> {
    throw new NotSupportedError("the full next-token distribution (the API returns only the top log-probabilities)");
  }

  async generate(prompts: number[][], opts: GenerateOptions): Promise<number[][]> {
    const window = opts.window ?? this.config.contextLength;
    const stop = (opts.stopTokens ?? []).map((t) => this.tokenizer.decode([t])).filter((s) => s.length > 0);
    const re = opts.stopPattern ? new RegExp(opts.stopPattern) : undefined;
    const out: number[][] = [];
    for (const [i, p] of prompts.entries()) {
      // mtx serve decodes with the window as mtx does in process (sliding past it); other servers get the
      // prompt's last tokens that leave room for the completion.
      const prompt = this.spec.mtx ? p : p.slice(Math.max(0, p.length - Math.max(1, window - opts.maxTokens)));
      const res = await this.complete({ prompt: [prompt], max_tokens: opts.maxTokens, temperature: opts.temperature ?? 0, seed: (opts.seed ?? 0) + i, ...(stop.length ? { stop } : {}), ...(this.spec.mtx ? { mtx: { window } } : {}) });
      const c = res.choices[0]!;
      let ids = c.token_ids ?? Array.from(this.tokenizer.encode(c.text));
      if (opts.stopTokens?.length) {
        const at = ids.findIndex((t) => opts.stopTokens!.includes(t));
        if (at >= 0) ids = ids.slice(0, at);
      }
      if (re) {
        // Cut after the first token at which the decoded text matches, as the local engines stop there.
        for (let n = 1; n <= ids.length; n++) {
          if (re.test(this.tokenizer.decode(ids.slice(0, n)))) {
            ids = ids.slice(0, n);
            break;
          }
        }
      }
      out.push(ids);
    }
    return out;
  }

  async klFrom(): Promise<number | undefined> {
    return undefined;
  }

  async dispose(): Promise<void> {}
}

/** An HTTP error from the endpoint, with its status. */
export class EndpointError extends ProbeError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function apiKey(): string | undefined {
  return process.env.MTX_API_KEY ?? process.env.OPENAI_API_KEY;
}

async function request(base: string, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const key = apiKey();
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(Number(process.env.MTX_ENDPOINT_TIMEOUT_SEC ?? 600) * 1000),
    });
  } catch (cause) {
    throw new ConfigError(`cannot reach ${base}${path}: ${(cause as Error).message}${(cause as { cause?: Error }).cause ? ` (${(cause as { cause: Error }).cause.message})` : ""}`, { cause });
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 300);
    try {
      const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
      detail = typeof j.error === "string" ? j.error : (j.error?.message ?? j.message ?? detail);
    } catch {
      // Not JSON: the text says it.
    }
    const hint = res.status === 401 || res.status === 403 ? " (set MTX_API_KEY to the server's key)" : "";
    throw new EndpointError(res.status, `${base}${path}: HTTP ${res.status}: ${detail}${hint}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProbeError(`${base}${path}: the answer is not JSON`);
  }
}
