/**
 * The `mtx serve` part of `npm run bench`: a bounded load test on this machine's loopback. The bundled base
 * is served in process (fastify on 127.0.0.1, an ephemeral port); 500 completion requests (16 new tokens
 * each, greedy, distinct prompts) go 16 at a time. Reports throughput, p50/p99 latency, errors, and
 * whether every answer is the one its prompt gets alone (no request's text in another's answer); and, in
 * the same run, the same prompts generated in process one after another, so the server's throughput is a
 * ratio to the engine's own.
 */
import { initBackend } from "../core/backend.js";
import { generateOne } from "../core/engine/LanguageModel.js";
import { TfjsModel } from "../core/engine/tfjs/TfjsModel.js";
import { BUNDLED_BASE } from "../core/paths.js";
import { serveModel } from "../core/serve/server.js";

export interface ServeBench {
  requests: number;
  concurrency: number;
  maxTokens: number;
  seconds: number;
  requestsPerSec: number;
  tokensPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  mixed: number;
  /** Tokens/s of the same prompts generated in process, one at a time (no HTTP, no queue). */
  inProcessTokensPerSec: number;
  /** Served tokens/s over in-process tokens/s. */
  ratio: number;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

export async function benchServe(o: { requests: number; concurrency: number; maxTokens: number }): Promise<ServeBench> {
  await initBackend("auto");
  const model = TfjsModel.fromCheckpoint(BUNDLED_BASE);
  const prompts0 = Array.from({ length: o.requests }, (_, i) => `Request ${i}: the ${["senate", "river", "letter", "house", "army"][i % 5]} of ${i % 17}`);
  const t00 = performance.now();
  for (const p of prompts0) await generateOne(model, Array.from(model.tokenizer.encode(p)), { maxTokens: o.maxTokens, window: model.config.contextLength });
  const inProcessTokensPerSec = Math.round((o.requests * o.maxTokens) / ((performance.now() - t00) / 1000));
  const app = serveModel(model, { name: "mtx-base", limits: { queue: o.concurrency * 2 } });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  const prompts = Array.from({ length: o.requests }, (_, i) => `Request ${i}: the ${["senate", "river", "letter", "house", "army"][i % 5]} of ${i % 17}`);
  const ask = async (prompt: string) => {
    const t0 = performance.now();
    const r = await fetch(`${address}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, max_tokens: o.maxTokens, temperature: 0 }) });
    const body = (await r.json()) as { choices?: { text: string }[] };
    return { ms: performance.now() - t0, ok: r.status === 200, text: body.choices?.[0]?.text ?? "" };
  };
  try {
    // What each of a few prompts gets alone, to check the loaded answers against.
    const alone = new Map<number, string>();
    for (const i of [0, 1, 2, 3, 4, 250, 499].filter((i) => i < o.requests)) alone.set(i, (await ask(prompts[i]!)).text);
    const results: { ms: number; ok: boolean; text: string }[] = new Array(o.requests);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.requests) {
          const i = next++;
          results[i] = await ask(prompts[i]!);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const ms = results.map((r) => r.ms);
    const mixed = [...alone].filter(([i, text]) => results[i]!.text !== text).length + results.filter((r, i) => prompts.some((p, j) => j !== i && r.text.includes(p))).length;
    return {
      requests: o.requests,
      concurrency: o.concurrency,
      maxTokens: o.maxTokens,
      seconds: +seconds.toFixed(2),
      requestsPerSec: +(o.requests / seconds).toFixed(1),
      tokensPerSec: Math.round((o.requests * o.maxTokens) / seconds),
      p50Ms: Math.round(quantile(ms, 0.5)),
      p99Ms: Math.round(quantile(ms, 0.99)),
      errors: results.filter((r) => !r.ok).length,
      mixed,
      inProcessTokensPerSec,
      ratio: +(Math.round((o.requests * o.maxTokens) / seconds) / inProcessTokensPerSec).toFixed(2),
    };
  } finally {
    await app.close();
    await model.dispose();
  }
}

export function printServe(s: ServeBench): void {
  console.log(`mtx serve (bundled base, tfjs, loopback): ${s.requests} requests of ${s.maxTokens} tokens, ${s.concurrency} at a time: ${s.seconds} s, ${s.requestsPerSec} requests/s, ${s.tokensPerSec} tokens/s; latency p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms; ${s.errors} errors, ${s.mixed} mixed answers; in process, one at a time: ${s.inProcessTokensPerSec} tokens/s (served / in process: ${s.ratio})`);
}
