#!/usr/bin/env node
/** The mtx command line: parses arguments and hands each command to its run() in cli/commands. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ErrorCodes, ExitCodes, MtxError } from "../core/errors.js";
import { packageVersion } from "../core/paths.js";
import * as backend from "./commands/backend.js";
import * as config from "./commands/config.js";
import * as data from "./commands/data.js";
import * as gate from "./commands/gate.js";
import * as merge from "./commands/merge.js";
import * as report from "./commands/report.js";
import * as compare from "./commands/compare.js";
import * as probe from "./commands/probe.js";
import * as plugins from "./commands/plugins.js";
import * as train from "./commands/train.js";
import { red } from "./output.js";

class UsageError extends MtxError {
  constructor(message: string) {
    super(ErrorCodes.usage, message);
  }
}

try {
  await yargs(hideBin(process.argv))
    .scriptName("mtx")
    .usage("$0 <command> [options]\n\nMid-training harness: a hook-driven trainer with guardrail plugins, probes and CI gates.")
    .command(train.command)
    .command(config.command)
    .command(data.command)
    .command(probe.command)
    .command(gate.command)
    .command(merge.command)
    .command(report.command)
    .command(compare.command)
    .command(plugins.command)
    .command(backend.command)
    .demandCommand(1, "Name a command (see --help).")
    .recommendCommands()
    .strict()
    .version(packageVersion())
    .help()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      // Throwing stops yargs before any command handler runs.
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${red("mtx: error:")} ${error.message}\nRun 'mtx --help' for usage.\n`);
  process.exitCode = ExitCodes.badInput;
}
