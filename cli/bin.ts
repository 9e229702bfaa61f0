#!/usr/bin/env node
/** The mtx command line: parses arguments and hands each command to its run() in cli/commands. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ErrorCodes, ExitCodes, MtxError } from "../core/errors.js";
import { didYouMean } from "../core/lookup.js";
import { packageVersion } from "../core/paths.js";
import * as backend from "./commands/backend.js";
import * as config from "./commands/config.js";
import * as data from "./commands/data.js";
import * as doctor from "./commands/doctor.js";
import * as guard from "./commands/guard.js";
import * as gate from "./commands/gate.js";
import * as generate from "./commands/generate.js";
import * as exportCommand from "./commands/export.js";
import * as merge from "./commands/merge.js";
import * as report from "./commands/report.js";
import * as serve from "./commands/serve.js";
import * as compare from "./commands/compare.js";
import * as probe from "./commands/probe.js";
import * as probesCommand from "./commands/probes.js";
import * as plugins from "./commands/plugins.js";
import * as train from "./commands/train.js";
import { red } from "./output.js";

class UsageError extends MtxError {
  constructor(message: string) {
    super(ErrorCodes.usage, message);
  }
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The text given for `--flag` on the command line (for messages about values yargs could not parse). */
function rawValue(flag: string): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${flag}`) return args[i + 1];
    if (args[i]!.startsWith(`--${flag}=`)) return args[i]!.slice(flag.length + 3);
  }
  return undefined;
}

/** A number flag must be a finite number: `--steps abc`, `--steps Infinity` and `--steps 1e309` are refused. */
function rejectBadNumbers(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (key.includes("-") || typeof value !== "number" || Number.isFinite(value)) continue;
    const flag = kebab(key);
    throw new UsageError(`--${flag}: '${rawValue(flag) ?? String(value)}' is not a finite number`);
  }
}

/** "unknown option --stesp (did you mean --steps?)" for yargs' "Unknown argument: stesp". */
function unknownFlags(msg: string, y: unknown): string | undefined {
  const m = /^Unknown arguments?: (.+)$/.exec(msg ?? "");
  if (!m) return undefined;
  // yargs hands the fail handler its usage object, whose descriptions are keyed by the command's options.
  const known = Object.keys((y as { getDescriptions?: () => Record<string, unknown> }).getDescriptions?.() ?? {});
  const args = m[1]!.split(", ");
  const shown = (a: string) => (process.argv.slice(2).includes(a) ? `'${a}'` : `--${a}${didYouMean(a, known, (s) => `--${s}`)}`);
  return `unknown argument${args.length > 1 ? "s" : ""} ${args.map(shown).join(", ")}`;
}

try {
  await yargs(hideBin(process.argv))
    .scriptName("mtx")
    .usage("$0 <command> [options]\n\nMid-training harness: a hook-driven trainer with guardrail plugins, probes and CI gates.")
    .command(train.command)
    .command(config.command)
    .command(data.command)
    .command(probe.command)
    .command(probesCommand.command)
    .command(gate.command)
    .command(merge.command)
    .command(exportCommand.command)
    .command(generate.command)
    .command(report.command)
    .command(compare.command)
    .command(plugins.command)
    .command(guard.command)
    .command(serve.command)
    .command(backend.command)
    .command(doctor.command)
    .demandCommand(1, "Name a command (see --help).")
    .recommendCommands()
    .strict()
    .version(packageVersion())
    .help()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .middleware(rejectBadNumbers, true)
    .fail((msg, err, y) => {
      // Throwing stops yargs before any command handler runs.
      throw err ?? new UsageError(unknownFlags(msg, y) ?? msg);
    })
    .parseAsync();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`${red("mtx: error:")} ${error.message}\nRun 'mtx --help' for usage.\n`);
  process.exitCode = ExitCodes.badInput;
}
