/** `mtx config`: print the effective run config (defaults, mtx.config.json or --config, flags). */
import { readFileSync } from "node:fs";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { RUN_SCHEMA_PATH } from "../../core/config/loadConfig.js";
import { runCommand } from "../output.js";
import { effectiveConfig, command as trainCommand, type TrainArgs } from "./train.js";

interface ConfigArgs extends TrainArgs {
  schema?: boolean;
}

export async function run(a: ConfigArgs): Promise<string> {
  if (a.schema) return readFileSync(RUN_SCHEMA_PATH, "utf8");
  const { config, notes } = effectiveConfig(a);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  return JSON.stringify(config, null, 2) + "\n";
}

export const command: CommandModule<object, ConfigArgs> = {
  command: "config",
  describe: "Print the effective run config that `mtx train` with the same flags would use",
  builder: (y: Argv) => {
    const withTrain = (trainCommand.builder as (y: Argv) => Argv<TrainArgs>)(y);
    return withTrain.option("schema", { type: "boolean", describe: "Print the JSON Schema of the run config instead", default: false }) as Argv<ConfigArgs>;
  },
  handler: (argv: ArgumentsCamelCase<ConfigArgs>) =>
    runCommand(async () => {
      process.stdout.write(await run(argv));
      return 0;
    }),
};
