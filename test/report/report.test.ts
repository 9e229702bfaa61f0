/**
 * Run reports: every plot renders to SVG inside one self-contained HTML file, verdict markers of a
 * rollback and a halt are drawn with their reasons as hover text, mtx compare overlays runs, and the
 * CSV and TensorBoard exports carry the metrics.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { MtxPlugin } from "../../core/plugin.js";
import { crc32c, metricsCsv, readTensorboard, writeTensorboard } from "../../core/report/exports.js";
import { compareReport, runReport } from "../../core/report/html.js";
import { loadRun, type RunRecord } from "../../core/report/loadRun.js";
import { addHoverTitles } from "../../core/report/render.js";
import { mtx, tempDir } from "../helpers/cli.js";
import { tinyRun } from "../helpers/trainer.js";

/** A guardrail that acts once at a fixed step, so the report has a known verdict to mark. */
function actAt(step: number, action: "rollback" | "halt", reason: string): MtxPlugin {
  let done = false;
  return {
    name: `test-${action}`,
    apply(t) {
      t.hooks.shouldHalt.tap(`test-${action}`, (ctx) => {
        if (done || ctx.step !== step) return undefined;
        done = true;
        return { action, plugin: `test-${action}`, reason };
      });
    },
  };
}

describe("mtx report", () => {
  let rolledBack = "";
  let halted = "";
  beforeAll(async () => {
    rolledBack = (await tinyRun({ steps: 10, checkpoint: { every: 3, keepLast: 5 }, eval: { every: 5, batches: 1 } }, [actAt(7, "rollback", "test: loss went the wrong way")])).config.out;
    halted = (await tinyRun({ steps: 10, checkpoint: { every: 3, keepLast: 5 } }, [actAt(8, "halt", "test: held-out regressed")])).config.out;
  });

  it("renders every plot as inline SVG in a self-contained file", async () => {
    const run = loadRun(rolledBack);
    const { html, plots } = await runReport(run);
    expect(plots.map((p) => p.id)).toEqual(expect.arrayContaining(["loss", "loss-by-source", "lr", "norms", "heldout", "mixture"]));
    for (const p of plots) expect(html).toContain(`data-plot="${p.id}"`);
    expect((html.match(/<svg /g) ?? []).length).toBe(plots.length);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org|vega\.github\.io)/); // nothing loads at view time
    expect(html).toContain("Effective config");
    expect(html).toMatch(/share of the base&#39;s pre-training compute<\/td><td>- \(random init\)/);
  });

  it("marks a rollback and a halt on the curves with the reason on hover", async () => {
    const rb = (await runReport(loadRun(rolledBack))).plots.find((p) => p.id === "loss")!;
    expect(rb.svg).toMatch(/<title>step 7: rollback by test-rollback: test: loss went the wrong way \(rolled back to step 6/);
    const h = await runReport(loadRun(halted));
    const loss = h.plots.find((p) => p.id === "loss")!;
    expect(loss.svg).toMatch(/<title>step 8: halt by test-halt: test: held-out regressed/);
    expect(h.html).toMatch(/class="status halted"/);
    // Every plot with a step axis carries the markers.
    for (const id of ["lr", "norms"]) expect(h.plots.find((p) => p.id === id)!.svg).toContain("halt by test-halt");
  });

  it("gives described marks an SVG title", () => {
    expect(addHoverTitles('<path aria-label="a &amp; b" d="M0,0"/>')).toBe('<path aria-label="a &amp; b" d="M0,0"><title>a &amp; b</title></path>');
  });

  it("overlays runs with mtx compare and tabulates their final metrics", async () => {
    const { html, plots } = await compareReport([loadRun(rolledBack, "A"), loadRun(halted, "B")]);
    expect(plots.map((p) => p.id)).toEqual(expect.arrayContaining(["loss", "lr", "norms", "decisions"]));
    expect(html).toMatch(/<th>A<\/th><th>B<\/th>/);
    expect(html).toMatch(/<td>status<\/td><td class="num">completed<\/td><td class="num">halted<\/td>/);
    const cli = mtx(["compare", rolledBack, halted, "--out", join(tempDir(), "c.html"), "--json"]);
    expect(cli.code, cli.stderr).toBe(0);
    const out = JSON.parse(cli.stdout);
    expect(existsSync(out.report)).toBe(true);
    expect(out.metrics.find((m: { metric: string }) => m.metric === "decisions").values).toEqual([1, 1]);
  });

  it("exports metrics as CSV and a TensorBoard event file", () => {
    const run = loadRun(rolledBack);
    const csv = metricsCsv(run).trim().split("\n");
    const head = csv[0]!.split(",");
    expect(head[0]).toBe("step");
    expect(head).toEqual(expect.arrayContaining(["loss", "lr", "gradNorm", "mixtureWeights.replay"]));
    expect(csv.length - 1).toBe(run.metrics.length);
    expect(Number(csv[1]!.split(",")[head.indexOf("loss")])).toBe(run.metrics[0]!.loss);
    const path = writeTensorboard(run, tempDir());
    const scalars = readTensorboard(readFileSync(path));
    const loss = scalars.filter((s) => s.tag === "loss");
    expect(loss.length).toBeGreaterThan(5);
    expect(loss.map((s) => s.step)).toEqual(run.metrics.map((m) => m.step));
    loss.forEach((s, i) => expect(s.value).toBeCloseTo(run.metrics[i]!.loss, 5));
  });

  it("writes report.html from the CLI; --png/--csv/--tensorboard write only what they are asked for; a missing run is exit 2", () => {
    const dir = tempDir();
    const html = join(halted, "report.html");
    rmSync(html, { force: true });
    const r = mtx(["report", halted, "--png", join(dir, "png"), "--csv", join(dir, "m.csv"), "--tensorboard", join(dir, "tb"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.report).toBeUndefined();
    expect(existsSync(html)).toBe(false);
    expect(out.png.length).toBeGreaterThan(3);
    for (const p of out.png) expect(readFileSync(p).subarray(1, 4).toString()).toBe("PNG");
    expect(existsSync(join(dir, "m.csv"))).toBe(true);
    expect(readTensorboard(readFileSync(out.tensorboard)).some((e) => e.tag === "decisions" && /halt/.test(e.text ?? ""))).toBe(true);
    const both = mtx(["report", halted, "--csv", join(dir, "m2.csv"), "--out", join(dir, "r.html"), "--json"]);
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout).report).toBe(join(dir, "r.html"));
    const plain = mtx(["report", halted, "--json"]);
    expect(JSON.parse(plain.stdout).report).toBe(html);
    const missing = mtx(["report", join(dir, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/run directory '.*nope' does not exist/);
  });
});

describe("reports escape everything a run wrote", () => {
  const EVIL = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`;
  /** A run whose every string field carries markup: reasons, plugin names, evidence, sources, config. */
  function evilRun(name: string): RunRecord {
    return {
      name: `${name}${EVIL}`,
      dir: `/runs/${EVIL}`,
      config: { out: EVIL, plugins: [EVIL] } as unknown as RunRecord["config"],
      summary: undefined,
      metrics: [1, 2, 3].map((step) => ({ step, loss: 3 - step / 10, lr: 1e-3, gradNorm: 1, updateNorm: 0.1, sourceLoss: { [EVIL]: 2.5 }, mixtureWeights: { [EVIL]: 1 }, terms: { [EVIL]: 0.1 }, [`probe.${EVIL}.x`]: 1 })) as unknown as RunRecord["metrics"],
      decisions: [{ step: 2, action: "halt", plugin: EVIL, reason: EVIL, outcome: EVIL, evidence: { x: EVIL } }],
      probes: [{ step: 2, probe: EVIL, metrics: { [EVIL]: 1 } }],
      mixture: { groups: { [EVIL]: { scheduled: 1, realised: 1, sequences: 3 } } },
    };
  }

  /** No element or attribute the run's strings could have made: every occurrence is escaped text. */
  function expectInert(html: string): void {
    expect(html).not.toMatch(/<script|<img|<iframe|javascript:/i);
    const occurrences = [...html.matchAll(/onerror=alert\(2\)/g)];
    expect(occurrences.length).toBeGreaterThan(5);
    for (const m of occurrences) expect(html.slice(m.index! - 40, m.index! + 12)).toMatch(/&lt;img src=x onerror/);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:;/);
  }

  it("mtx report: tables, plots, legends and hover text", async () => {
    const r = await runReport(evilRun("a"));
    expectInert(r.html);
    for (const p of r.plots) expect(p.svg).not.toMatch(/<script|<img/i);
  });

  it("mtx compare", async () => {
    expectInert((await compareReport([evilRun("a"), evilRun("b")])).html);
  });
});

describe("TensorBoard framing", () => {
  it("computes CRC-32C (Castagnoli) by its published check value", () => {
    // The check value of CRC-32C for the ASCII digits 1-9 (RFC 3720, B.4; the CRC catalogue's "check").
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // 32 zero bytes (RFC 3720, B.4)
  });
});
