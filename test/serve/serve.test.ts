/**
 * `mtx serve` and the `openai:` model source: the smoke and ci suites through the endpoint give the figures
 * they give in process (log-probability metrics within 1e-4, greedy generations identical: every metric but
 * the needle's rank, which needs the full distribution the API does not return); bad requests get their
 * status and a JSON error while the server keeps serving; concurrent requests never mix; SIGTERM drains;
 * lm-evaluation-harness's local-completions agrees with mtx's `choice` probe on the same items.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heldoutMath } from "../../probes/items.js";
import { BIN, mtx, mtxAsync, PYTHON, ROOT, tempDir } from "../helpers/cli.js";

type Report = { probes: { id: string; status: string; metrics: Record<string, number>; stderr: Record<string, number> }[]; pass: boolean };

async function startServer(args: string[]): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`mtx serve exited ${code}: ${stderr}`)));
  });
  return { url, child, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("mtx serve and openai: sources", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let dir = "";
  beforeAll(async () => {
    dir = tempDir("mtx-serve-");
    server = await startServer(["--token", "s3cret", "--max-queue", "64"]);
  });
  afterAll(() => {
    server?.child.kill("SIGKILL");
  });
  const auth = { authorization: "Bearer s3cret" };

  it("runs the smoke and ci suites through openai: with the figures it gets in process", () => {
    for (const suite of ["smoke", "ci"]) {
      // In process, against itself as the baseline: a checkpoint never fails its own gates.
      const local = mtx(["probe", "--suite", suite, "--checkpoint", "bundled", "--baseline", "bundled", "--json"]);
      const remote = mtx(["probe", "--suite", suite, "--checkpoint", `openai:${server.url}`, "--json"], { env: { MTX_API_KEY: "s3cret" } });
      expect(local.code, local.stderr).toBe(0);
      expect(remote.code, remote.stderr).toBe(0);
      const a = JSON.parse(local.stdout) as Report;
      const b = JSON.parse(remote.stdout) as Report;
      let compared = 0;
      for (const [i, p] of a.probes.entries()) {
        const q = b.probes[i]!;
        expect(q.status, `${suite} ${p.id}`).toBe("ok");
        for (const [metric, value] of Object.entries(p.metrics)) {
          if (metric.startsWith("meanRank")) {
            expect(q.metrics[metric], "the rank needs the full distribution: absent through the API").toBeUndefined();
            continue;
          }
          expect(Math.abs(q.metrics[metric]! - value), `${suite} ${p.id} ${metric}: ${q.metrics[metric]} vs ${value}`).toBeLessThan(1e-4);
          compared++;
        }
        for (const metric of Object.keys(q.metrics)) expect(q.stderr[metric], `${metric} has a standard error`).toBeTypeOf("number");
      }
      expect(compared).toBeGreaterThan(suite === "ci" ? 40 : 10);
    }
    // A wrong key: exit 2 with the way out, and the key itself in no output.
    const denied = mtx(["probe", "--suite", "smoke", "--checkpoint", `openai:${server.url}`], { env: { MTX_API_KEY: "wrong-key-123" } });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/HTTP 401.*set MTX_API_KEY/);
    expect(denied.stdout + denied.stderr).not.toContain("wrong-key-123");
  });

  it("mtx generate through openai: writes what it writes in process (greedy and seeded sampling)", () => {
    const env = { MTX_API_KEY: "s3cret" };
    for (const extra of [[], ["--temperature", "0.8", "--seed", "3"]]) {
      const args = ["generate", "--prompt", "The committee reported", "--max-tokens", "12", "--json", ...extra];
      const local = mtx([...args, "--checkpoint", "bundled"]);
      const remote = mtx([...args, "--checkpoint", `openai:${server.url}`], { env });
      expect(local.code, local.stderr).toBe(0);
      expect(remote.code, remote.stderr).toBe(0);
      const a = JSON.parse(local.stdout) as { completion: string; promptTokens: number[]; completionTokens: number[] };
      const b = JSON.parse(remote.stdout) as typeof a;
      expect(a.completionTokens.length).toBeGreaterThan(0);
      expect(b.promptTokens).toEqual(a.promptTokens);
      expect(b.completion).toBe(a.completion); // one generation with one seed: mtx serve samples the stream mtx does
    }
    const tokenizerForCheckpoint = mtx(["generate", "--prompt", "x", "--checkpoint", "bundled", "--tokenizer", join(ROOT, "fixtures", "base", "tokenizer.json")]);
    expect(tokenizerForCheckpoint.code).toBe(2);
    expect(tokenizerForCheckpoint.stderr).toMatch(/--tokenizer applies to openai: endpoints only/);
  });

  it("answers bad requests with their status and a JSON error, and keeps serving", async () => {
    const cases: [string, () => Promise<Response>, number][] = [
      ["no token", () => post(server.url, { prompt: "x", max_tokens: 1 }), 401],
      ["wrong token", () => post(server.url, { prompt: "x", max_tokens: 1 }, { authorization: "Bearer nope" }), 401],
      ["malformed JSON", () => post(server.url, "{bad", auth), 400],
      ["negative max_tokens", () => post(server.url, { prompt: "x", max_tokens: -1 }, auth), 400],
      ["max_tokens over the limit", () => post(server.url, { prompt: "x", max_tokens: 100000 }, auth), 400],
      ["a token id outside the vocabulary", () => post(server.url, { prompt: [1, 999999], max_tokens: 1 }, auth), 400],
      ["a prompt longer than max_model_len", () => post(server.url, { prompt: Array.from({ length: 600 }, () => 5), max_tokens: 1 }, auth), 400],
      ["streaming", () => post(server.url, { prompt: "x", stream: true }, auth), 400],
      ["unknown model", () => post(server.url, { model: "gpt-9", prompt: "x", max_tokens: 1 }, auth), 404],
      ["unknown route", () => fetch(`${server.url}/chat/completions`, { method: "POST", headers: auth }), 404],
      ["oversized body", () => post(server.url, { prompt: "x".repeat(2 << 20) }, auth), 413],
    ];
    for (const [name, send, status] of cases) {
      const r = await send();
      expect(r.status, name).toBe(status);
      const body = (await r.json()) as { error: { message: string; type: string } };
      expect(body.error.message, name).toMatch(/\w/);
    }
    const ok = await post(server.url, { prompt: "The committee", max_tokens: 3, temperature: 0 }, auth);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { choices: { token_ids: number[] }[] }).choices[0]!.token_ids).toHaveLength(3);
    expect((await fetch(server.url.replace(/\/v1$/, "/health"))).status).toBe(200);
  });

  it("never mixes concurrent requests: each answer is the one its prompt gets alone", async () => {
    const prompts = Array.from({ length: 24 }, (_, i) => `Item ${i}: the ${["river", "senate", "letter", "house"][i % 4]} of`);
    const alone: string[] = [];
    for (const p of prompts.slice(0, 6)) alone.push(((await (await post(server.url, { prompt: p, max_tokens: 8, temperature: 0 }, auth)).json()) as { choices: { text: string }[] }).choices[0]!.text);
    const together = await Promise.all(prompts.map(async (p) => ((await (await post(server.url, { prompt: p, max_tokens: 8, temperature: 0 }, auth)).json()) as { choices: { text: string }[] }).choices[0]!.text));
    expect(together.slice(0, 6)).toEqual(alone);
    // Sampled with a seed: the same text twice.
    const sample = () => post(server.url, { prompt: "The river", max_tokens: 8, temperature: 1, seed: 7 }, auth).then(async (r) => ((await r.json()) as { choices: { text: string }[] }).choices[0]!.text);
    expect(await sample()).toBe(await sample());
  });

  it("lm-evaluation-harness's local-completions scores mtx serve as mtx's choice probe does", () => {
    // Held-out math problems as multiple choice: the right answer against three others.
    const items = heldoutMath(24).map((m, i) => {
      const wrong = [m.answer + 1, m.answer + 3, m.answer * 2 + 5];
      const choices = [m.answer, ...wrong].map((a) => ` ${a}`);
      const gold = i % 4;
      [choices[0], choices[gold]] = [choices[gold]!, choices[0]!];
      return { context: `Problem: ${m.question}\nSolution:\n${m.solution.replace(/ -?\d+$/, "")}`, choices, gold };
    });
    const file = join(dir, "items.jsonl");
    writeFileSync(file, items.map((x) => JSON.stringify(x)).join("\n") + "\n");
    writeFileSync(join(dir, "mtx_choice.yaml"), [`task: mtx_choice`, `dataset_path: json`, `dataset_kwargs:`, `  data_files:`, `    test: ${file}`, `test_split: test`, `output_type: multiple_choice`, `doc_to_text: "{{context}}"`, `doc_to_choice: "{{choices}}"`, `doc_to_target: "{{gold}}"`, `target_delimiter: ""`, `metric_list:`, `  - metric: acc`, `  - metric: acc_norm`, ""].join("\n"));
    const hf = join(dir, "hf");
    expect(mtx(["export", "--format", "hf", "--out", hf]).code).toBe(0);
    const out = join(dir, "lm-eval");
    const r = spawnSync(PYTHON, ["-m", "lm_eval", "--model", "local-completions", "--model_args", `model=mtx-base,base_url=${server.url}/completions,tokenizer_backend=huggingface,tokenizer=${hf},tokenized_requests=True,num_concurrent=1,max_retries=1`, "--tasks", "mtx_choice", "--include_path", dir, "--output_path", out], {
      encoding: "utf8",
      cwd: dir,
      env: { ...process.env, HF_DATASETS_OFFLINE: "1", HF_HUB_OFFLINE: "1", OPENAI_API_KEY: "s3cret" },
      timeout: 600_000,
    });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const resultFile = readdirSync(out, { recursive: true }).map(String).find((f) => f.endsWith(".json"))!;
    const harness = (JSON.parse(readFileSync(join(out, resultFile), "utf8")) as { results: Record<string, Record<string, number>> }).results.mtx_choice!;
    const suite = join(dir, "choice.suite.json");
    writeFileSync(suite, JSON.stringify({ name: "choice", probes: [{ probe: "choice", params: { file } }] }));
    const mine = JSON.parse(mtx(["probe", "--suite", suite, "--checkpoint", "bundled", "--json"]).stdout) as Report;
    const m = mine.probes[0]!;
    expect(m.metrics.acc).toBeCloseTo(harness["acc,none"]!, 10);
    expect(m.metrics.acc_norm).toBeCloseTo(harness["acc_norm,none"]!, 10);
    expect(m.stderr.acc).toBeCloseTo(harness["acc_stderr,none"]!, 10);
  });

  it("a server without prompt log-probabilities: scoring probes are 'not supported by this model source' and their gates fail (exit 1); generation probes run", async () => {
    // An OpenAI-compatible server that completes but ignores echo (as chat-era APIs do): no prompt logprobs.
    const tokenizer = readFileSync(join(ROOT, "fixtures", "base", "tokenizer.json"), "utf8");
    const fake = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        if (req.url === "/v1/models") return res.end(JSON.stringify({ object: "list", data: [{ id: "other", object: "model", max_model_len: 512, mtx: { tokenizer: "/v1/tokenizer" } }] }));
        if (req.url === "/v1/tokenizer") return res.end(tokenizer);
        const r = JSON.parse(body) as { prompt: unknown[] };
        res.end(JSON.stringify({ object: "text_completion", model: "other", choices: r.prompt.map((_, index) => ({ index, text: " the end", logprobs: null, finish_reason: "length" })) }));
      });
    });
    await new Promise<void>((ok) => fake.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1`;
    const suite = join(tempDir(), "suite.json");
    writeFileSync(suite, JSON.stringify({ name: "no-echo", probes: [{ probe: "heldout", params: { sequencesPerSource: 2 }, gates: [{ metric: "bpb", max: 10 }] }, { probe: "generation", params: { prompts: 2, maxTokens: 4 }, gates: [{ metric: "meanLength", min: 1 }] }] }));
    const json = await mtxAsync(["probe", "--suite", suite, "--checkpoint", `openai:${url}`, "--json"]).done;
    const table = await mtxAsync(["probe", "--suite", suite, "--checkpoint", `openai:${url}`]).done;
    fake.close();
    expect(json.code, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as Report & { probes: { status: string; gates: { status: string; pass: boolean }[]; error?: string }[] };
    expect(report.probes.map((p) => p.status)).toEqual(["not-supported", "ok"]);
    expect(report.probes[0]!.error).toMatch(/^not supported by this model source: the server returned no log-probabilities of the prompt/);
    expect(report.probes[0]!.gates).toMatchObject([{ status: "not-supported", pass: false }]);
    expect(report.probes[1]!.gates).toMatchObject([{ status: "pass" }]);
    expect(table.code).toBe(1);
    expect(table.stdout + table.stderr).toMatch(/not supported by this model source/);

    // A URL that answers HTML (a web page, not an API): exit 2 with the question to ask.
    const page = createServer((_req, res) => res.end("<html>hello</html>"));
    await new Promise<void>((ok) => page.listen(0, "127.0.0.1", ok));
    const wrong = await mtxAsync(["probe", "--suite", suite, "--checkpoint", `openai:http://127.0.0.1:${(page.address() as AddressInfo).port}/v1`]).done;
    page.close();
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/the answer is not JSON: is .* the \/v1 base of an OpenAI-compatible server\?/);
  });

  it("drains on SIGTERM: the request in progress is answered, then exit 0", async () => {
    const own = await startServer([]);
    const pending = post(own.url, { prompt: "The committee reported that", max_tokens: 64, temperature: 0 });
    await new Promise((r) => setTimeout(r, 150));
    own.child.kill("SIGTERM");
    const r = await pending;
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: { token_ids: number[] }[] }).choices[0]!.token_ids.length).toBeGreaterThan(0);
    expect(await own.exited).toBe(0);
  });
});
