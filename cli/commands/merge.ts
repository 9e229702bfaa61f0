/** `mtx merge`: fold a checkpoint's low-rank adapters into its weights (a plain checkpoint). */
import { resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { mergeCheckpoint } from "../../core/checkpoint/merge.js";
import { ExitCodes } from "../../core/errors.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { runCommand } from "../output.js";

interface MergeArgs {
  checkpoint: string;
  out: string;
  momentsFrom?: string;
  json?: boolean;
}

export const command: CommandModule<object, MergeArgs> = {
  command: "merge",
  describe: "Fold a checkpoint's low-rank adapters into its weights and write a plain checkpoint",
  builder: (y: Argv) =>
    y
      .option("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint directory with adapters (e.g. runs/lora/checkpoints/step-200)" })
      .option("out", { type: "string", demandOption: true, describe: "Directory to write the merged checkpoint to (written atomically)" })
      .option("moments-from", { type: "string", describe: "Copy the base weights' AdamW moments from this checkpoint (the one the adapters were trained on), so training can continue with moments" })
      .option("json", { type: "boolean", default: false, describe: "Print the result as JSON" }) as Argv<MergeArgs>,
  handler: (argv: ArgumentsCamelCase<MergeArgs>) =>
    runCommand(async () => {
      const momentsFrom = argv.momentsFrom === undefined ? undefined : resolveModelSource(argv.momentsFrom);
      const r = mergeCheckpoint(resolveModelSource(argv.checkpoint), resolve(argv.out), momentsFrom);
      if (argv.json) process.stdout.write(JSON.stringify(r) + "\n");
      else {
        process.stdout.write(`merged adapters on ${r.matrices} matrices into ${r.out} (${r.parameters.toLocaleString("en-US")} parameters)\n`);
        if (!r.withMoments) process.stdout.write(`no optimizer moments: continue training from it with --reset-optimizer, or merge with --moments-from <the base checkpoint>\n`);
      }
      return ExitCodes.ok;
    }),
};
