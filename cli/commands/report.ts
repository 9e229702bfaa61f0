/**
 * `mtx report`: one self-contained HTML report of a run; or, with --png, --csv or --tensorboard, only those
 * exports (add --out to write the HTML as well).
 */
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
      .option("out", { type: "string", describe: "HTML file to write (with --png/--csv/--tensorboard the HTML is written only when --out is given)", defaultDescription: "RUN/report.html" })
      .option("png", { type: "string", describe: "Write each plot as PNG into this directory" })
      .option("csv", { type: "string", describe: "Write the per-step metrics as CSV to this file" })
      .option("tensorboard", { type: "string", describe: "Write a TensorBoard event file of the metrics and decisions into this directory (a run writes RUN/tb/ itself as it trains)" })
      .option("json", { type: "boolean", default: false, describe: "Print what was written as JSON" }) as Argv<ReportArgs>,
  handler: (argv: ArgumentsCamelCase<ReportArgs>) =>
    runCommand(async () => {
      const exportsOnly = !!(argv.png || argv.csv || argv.tensorboard) && !argv.out;
      const written: Record<string, unknown> = {};
      let run: RunRecord;
      if (exportsOnly) {
        run = loadRun(argv.run);
        if (argv.png) written.png = writePngs((await runReport(run)).plots, resolve(argv.png));
      } else {
        const r = await writeRunReport(argv.run, argv.out);
        run = r.run;
        Object.assign(written, { report: r.path, plots: r.plots.map((p) => p.id) });
        if (argv.png) written.png = writePngs(r.plots, resolve(argv.png));
      }
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
