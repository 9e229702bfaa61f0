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
    writeFileSync(config, JSON.stringify(tinyConfig({ checkpoint: { every: 4, keepLast: 3 }, eval: { every: 4, batches: 1 } })));
    // A short run with an injected fault, so the report has a decision marker too.
    const train = mtx(["train", "--config", config, "--steps", "12", "--out", join(dir, "run"), "--inject", "lr-spike@6:x5:2", "--json"]);
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
      expect(await page.locator("figure#plot-loss svg title").count()).toBeGreaterThan(0); // hover text of the markers
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
