/**
 * The report of a short run, opened in headless Chromium: every plot is on the page as an SVG with
 * marks, hover titles are present, nothing logs a console error or fails to load, and a screenshot is
 * saved to test-results/report.png. Chromium is Debian's (/usr/bin/chromium, or MTX_CHROMIUM).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { mtx, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";

const CHROMIUM = process.env.MTX_CHROMIUM ?? "/usr/bin/chromium";
// Flags headless Chromium needs on a machine with a closed network, running as root.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

describe("the run report in a browser", () => {
  it("shows every plot with no console errors, and saves a screenshot", async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium) or set MTX_CHROMIUM`).toBe(true);
    const dir = tempDir();
    const config = join(dir, "tiny.json");
    const plugin = join(dir, "score.js");
    writeFileSync(plugin, `export default class Score { name = "score"; apply(t) { t.hooks.stepEnd.tap("score", (ctx) => { if (ctx.step % 3 === 0) t.logMetrics({ "score.value": ctx.step / 10 }); }); } }\n`);
    writeFileSync(config, JSON.stringify(tinyConfig({ checkpoint: { every: 4, keepLast: 3 }, eval: { every: 4, batches: 1 }, plugins: [plugin] })));
    // A short run with two faults at one step (their markers stack) and a plugin's own metric (its panel).
    const train = mtx(["train", "--config", config, "--steps", "12", "--out", join(dir, "run"), "--inject", "lr-spike@6:x5:2,bad-batch@6", "--json"]);
    expect(train.code, train.stderr).toBe(0);
    const report = mtx(["report", join(dir, "run"), "--json"]);
    expect(report.code, report.stderr).toBe(0);
    const { report: path, plots } = JSON.parse(report.stdout) as { report: string; plots: string[] };

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("requestfailed", (r) => problems.push(`failed request: ${r.url()}`));
      await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
      const found = await page.$$eval("figure.plot", (figs) => figs.map((f) => ({ id: f.getAttribute("data-plot"), marks: f.querySelectorAll("svg path, svg line, svg rect").length, width: f.querySelector("svg")?.getBoundingClientRect().width ?? 0 })));
      expect(found.map((f) => f.id).sort()).toEqual([...plots].sort());
      for (const f of found) {
        expect(f.marks, f.id!).toBeGreaterThan(5);
        expect(f.width, f.id!).toBeGreaterThan(100);
      }
      // Hover text of both markers at step 6, on triangles at two heights.
      const titles = await page.$$eval("figure#plot-loss svg path", (paths) => paths.map((p) => ({ title: p.querySelector("title")?.textContent ?? "", y: p.getBoundingClientRect().y })).filter((p) => p.title.startsWith("step 6: inject")));
      expect(titles.filter((t) => /lr-spike/.test(t.title)).length).toBeGreaterThan(0);
      expect(titles.filter((t) => /bad-batch/.test(t.title)).length).toBeGreaterThan(0);
      expect(new Set(titles.map((t) => Math.round(t.y))).size).toBeGreaterThan(1);
      // Every series is named in a legend; the plugin's metric has its panel.
      const legend = await page.$eval("figure#plot-loss svg", (svg) => svg.textContent ?? "");
      for (const name of ["train loss", "train loss (EMA 0.9)", "held-out loss (eval)", "inject"]) expect(legend).toContain(name);
      expect(await page.locator("figure#plot-plugin-score").count()).toBe(1);
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-results", "report.png"), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("a run whose verdict reasons carry markup: nothing runs, nothing is fetched, the text shows as text", async () => {
    const evil = `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`;
    const dir = tempDir();
    const plugin = join(dir, "evil.js");
    writeFileSync(plugin, `export default class Evil { name = ${JSON.stringify("evil" + evil)}; apply(t) { t.hooks.shouldHalt.tap(this.name, (ctx) => ctx.step === 3 ? { action: "halt", plugin: this.name, reason: ${JSON.stringify(evil)}, evidence: { html: ${JSON.stringify(evil)} } } : undefined); } }\n`);
    const config = join(dir, "tiny.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 5 })));
    const train = mtx(["train", "--config", config, "--plugins", plugin, "--out", join(dir, "run"), "--json"]);
    expect(train.code, train.stderr).toBe(3);
    const path = join(dir, "run", "report.html");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    try {
      const page = await browser.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on("request", (r) => {
        if (!r.url().startsWith("file:")) requests.push(r.url());
      });
      await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
      expect(await page.title()).not.toBe("pwned");
      expect(await page.locator("script, img, iframe").count()).toBe(0);
      expect(await page.locator("table").filter({ hasText: evil }).count()).toBeGreaterThan(0); // shown as text
      expect(dialogs).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
