/** `mtx compare`: several runs' curves overlaid and their final metrics side by side, as one HTML file. */
import { writeFileAtomic } from "../../core/io/files.js";
import { resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ConfigError, ExitCodes } from "../../core/errors.js";
import { compareReport, finalMetrics } from "../../core/report/html.js";
import { loadRun } from "../../core/report/loadRun.js";
import { writePngs } from "./report.js";
import { runCommand } from "../output.js";

interface CompareArgs {
  runs: string[];
  out: string;
  png?: string;
  json?: boolean;
}

export const command: CommandModule<object, CompareArgs> = {
  command: "compare <runs..>",
  describe: "Overlay the curves of two or more runs and tabulate their final metrics (HTML)",
  builder: (y: Argv) =>
    y
      .positional("runs", { type: "string", array: true, demandOption: true, describe: "Run directories" })
      .option("out", { type: "string", default: "compare.html", describe: "HTML file to write" })
      .option("png", { type: "string", describe: "Also write each plot as PNG into this directory" })
      .option("json", { type: "boolean", default: false, describe: "Print the final-metrics table as JSON instead of text" }) as Argv<CompareArgs>,
  handler: (argv: ArgumentsCamelCase<CompareArgs>) =>
    runCommand(async () => {
      if (argv.runs.length < 2) throw new ConfigError("mtx compare needs at least two run directories");
      const names = argv.runs.map((r) => resolve(r));
      // Runs with the same directory name get their parent's name too, so the legend tells them apart.
      const base = names.map((n) => n.split("/").pop()!);
      const runs = names.map((n, i) => loadRun(n, base.filter((b) => b === base[i]).length > 1 ? n.split("/").slice(-2).join("/") : base[i]));
      const report = await compareReport(runs);
      const out = resolve(argv.out);
      writeFileAtomic(out, report.html);
      if (argv.png) writePngs(report.plots, resolve(argv.png));
      const table = finalMetrics(runs);
      if (argv.json) process.stdout.write(JSON.stringify({ report: out, runs: runs.map((r) => r.name), metrics: table }) + "\n");
      else {
        const fmt = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v ?? "-"));
        const width = Math.max(...table.map((r) => r.metric.length));
        // Each run's column as wide as its name or its widest value, two spaces apart.
        const cols = runs.map((r, i) => Math.max(r.name.length, ...table.map((row) => fmt(row.values[i]).length)));
        process.stdout.write(`${"".padEnd(width)}${runs.map((r, i) => "  " + r.name.padStart(cols[i]!)).join("")}\n`);
        for (const r of table) process.stdout.write(`${r.metric.padEnd(width)}${r.values.map((v, i) => "  " + fmt(v).padStart(cols[i]!)).join("")}\n`);
        process.stdout.write(`report: ${out}\n`);
      }
      return ExitCodes.ok;
    }),
};
