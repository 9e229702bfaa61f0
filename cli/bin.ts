#!/usr/bin/env node
/** The mtx command line: parses arguments and hands each command to its run() in cli/commands. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ExitCodes } from "../core/errors.js";
import { packageVersion } from "../core/paths.js";
import * as config from "./commands/config.js";
import * as data from "./commands/data.js";
import * as plugins from "./commands/plugins.js";
import * as train from "./commands/train.js";
import { red } from "./output.js";

await yargs(hideBin(process.argv))
  .scriptName("mtx")
  .usage("$0 <command> [options]\n\nMid-training harness: a hook-driven trainer with guardrail plugins, probes and CI gates.")
  .command(train.command)
  .command(config.command)
  .command(data.command)
  .command(plugins.command)
  .demandCommand(1, "Name a command (see --help).")
  .recommendCommands()
  .strict()
  .version(packageVersion())
  .help()
  .wrap(Math.min(110, process.stdout.columns || 100))
  .fail((msg, err) => {
    if (err) throw err;
    // yargs may report twice (a suggestion, then the unknown argument); print the first only.
    if (process.exitCode === ExitCodes.badInput) return;
    process.stderr.write(`${red("mtx: error:")} ${msg}\nRun 'mtx --help' for usage.\n`);
    process.exitCode = ExitCodes.badInput;
  })
  .parseAsync();
