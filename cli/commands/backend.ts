/** `mtx backend`: the TensorFlow.js backend and kernels a run would use here, and why native ones are off. */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { initBackend, kernelsInUse, type BackendChoice } from "../../core/backend.js";
import { nativeStatus } from "../../core/native/kernels.js";
import { runCommand } from "../output.js";

interface BackendArgs {
  backend: BackendChoice;
  json: boolean;
}

export const command: CommandModule<object, BackendArgs> = {
  command: "backend",
  describe: "Show the backend and kernels training would use on this machine",
  builder: (y: Argv) =>
    y
      .option("backend", { type: "string", choices: ["auto", "wasm", "cpu", "tensorflow", "tensorflow-gpu"], default: "auto", describe: "Backend to initialise" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<BackendArgs>,
  handler: (argv: ArgumentsCamelCase<BackendArgs>) =>
    runCommand(async () => {
      const info = await initBackend(argv.backend);
      const kernels = kernelsInUse(info);
      const native = nativeStatus();
      if (argv.json) {
        process.stdout.write(JSON.stringify({ backend: info, kernels, native }) + "\n");
        return 0;
      }
      const w = Math.max(...Object.keys(kernels).map((k) => k.length));
      for (const [k, v] of Object.entries(kernels)) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
      if (!native.active && info.name === "wasm") process.stdout.write(`\nnative kernels off: ${native.reason}\nbuild them with 'npm run build:native' (needs a C compiler; OpenBLAS from Debian's libopenblas0 makes them faster)\n`);
      return 0;
    }),
};
