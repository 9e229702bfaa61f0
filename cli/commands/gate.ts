/** `mtx gate`: a suite's gates as an exit code for CI: 0 pass, 1 regression, 2 bad input, 4 internal error. */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { runCommand } from "../output.js";
import { builder, exitCodeOf, formatReport, run, type ProbeArgs } from "./probe.js";

export const command: CommandModule<object, ProbeArgs> = {
  command: "gate",
  describe: "Gate a checkpoint against a baseline in CI: exit 0 pass, 1 regression, 2 bad input, 4 internal error",
  builder: (y: Argv) => builder(y).option("suite", { type: "string", default: "ci", describe: "Bundled suite or a suite file" }).demandOption("baseline") as Argv<ProbeArgs>,
  handler: (argv: ArgumentsCamelCase<ProbeArgs>) =>
    runCommand(async () => {
      const report = await run(argv);
      process.stdout.write(argv.json ? JSON.stringify(report) + "\n" : formatReport(report));
      return exitCodeOf(report);
    }),
};
