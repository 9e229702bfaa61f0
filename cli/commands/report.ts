/** `mtx report`: one self-contained HTML report of a run, with optional PNGs, CSV and TensorBoard exports. */
import { mkdirSync, writeFileSync } from "node:fs";
import { writeFileAtomic } from "../../core/io/files.js";
import { join, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ExitCodes } from "../../core/errors.js";
import { metricsCsv, writeTensorboard } from "../../core/report/exports.js";
import { runReport, type RenderedPlot } from "../../core/report/html.js";
import { loadRun, type RunRecord } from "../../core/report/loadRun.js";
import { svgToPng } from "../../core/report/render.js";
import { runCommand } from "../output.js";

interface ReportArgs {
  run: string;
  out?: string;
  png?: string;
  csv?: string;
  tensorboard?: string;
  json?: boolean;
}

/** Write PNGs of the plots into `dir`; returns the paths. */
export function writePngs(plots: RenderedPlot[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return plots.map((p) => {
    const path = join(dir, `${p.id}.png`);
    writeFileSync(path, svgToPng(p.svg));
    return path;
  });
}

/** Write RUN/report.html (or `out`) atomically; returns the path, the plots and the run it read. */
export async function writeRunReport(runDir: string, out?: string): Promise<{ path: string; plots: RenderedPlot[]; run: RunRecord }> {
  const run = loadRun(runDir);
  const report = await runReport(run);
  const path = resolve(out ?? join(run.dir, "report.html"));
  writeFileAtomic(path, report.html);
  return { path, plots: report.plots, run };
}

export const command: CommandModule<object, ReportArgs> = {
  command: "report <run>",
  describe: "Write a self-contained HTML report of a run (plots of every signal, decisions, probes, config)",
  builder: (y: Argv) =>
    y
      .positional("run", { type: "string", demandOption: true, describe: "Run directory (the --out of mtx train)" })
      .option("out", { type: "string", describe: "HTML file to write", defaultDescription: "RUN/report.html" })
      .option("png", { type: "string", describe: "Also write each plot as PNG into this directory" })
      .option("csv", { type: "string", describe: "Also write the per-step metrics as CSV to this file" })
      .option("tensorboard", { type: "string", describe: "Also write a TensorBoard event file of the metrics into this directory" })
      .option("json", { type: "boolean", default: false, describe: "Print what was written as JSON" }) as Argv<ReportArgs>,
  handler: (argv: ArgumentsCamelCase<ReportArgs>) =>
    runCommand(async () => {
      const { path, plots, run } = await writeRunReport(argv.run, argv.out);
      const written: Record<string, unknown> = { report: path, plots: plots.map((p) => p.id) };
      if (argv.png) written.png = writePngs(plots, resolve(argv.png));
      if (argv.csv) {
        writeFileSync(resolve(argv.csv), metricsCsv(run));
        written.csv = resolve(argv.csv);
      }
      if (argv.tensorboard) written.tensorboard = writeTensorboard(run, resolve(argv.tensorboard));
      if (argv.json) process.stdout.write(JSON.stringify(written) + "\n");
      else for (const [k, v] of Object.entries(written)) process.stdout.write(`${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}\n`);
      return ExitCodes.ok;
    }),
};
