/** `mtx plugins list`: the built-in plugins with their descriptions and hooks. */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { BUILTIN_PLUGINS } from "../../plugins/index.js";
import { runCommand } from "../output.js";

export function listText(): string {
  const defs = Object.values(BUILTIN_PLUGINS);
  if (!defs.length) return "no built-in plugins\n";
  const w = Math.max(...defs.map((d) => d.name.length));
  return defs.map((d) => `${d.name.padEnd(w)}  ${d.description}\n${" ".repeat(w)}  hooks: ${d.hooks.join(", ")}`).join("\n") + "\n";
}

export const command: CommandModule<object, { action: string; json?: boolean }> = {
  command: "plugins <action>",
  describe: "Built-in plugins: list",
  builder: (y: Argv) =>
    y
      .positional("action", { type: "string", choices: ["list"], describe: "What to do" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<{ action: string; json?: boolean }>,
  handler: (argv: ArgumentsCamelCase<{ action: string; json?: boolean }>) =>
    runCommand(async () => {
      if (argv.json) process.stdout.write(JSON.stringify(Object.values(BUILTIN_PLUGINS).map(({ name, description, hooks }) => ({ name, description, hooks }))) + "\n");
      else process.stdout.write(listText());
      return 0;
    }),
};
