/** `mtx doctor`: which engines can train here and why not; `--install` sets up the PyTorch engine's Python. */
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { describeBackend, initBackend } from "../../core/backend.js";
import { installVenv, probeTorch, resolvePython, venvDir } from "../../core/engine/torch/python.js";
import { describeError, ExitCodes } from "../../core/errors.js";
import { nativeStatus } from "../../core/native/kernels.js";
import { dim, runCommand } from "../output.js";

interface DoctorArgs {
  install: boolean;
  tests: boolean;
  python?: string;
  json: boolean;
}

export interface EngineReport {
  engine: "tfjs" | "torch";
  usable: boolean;
  detail: string;
  fix?: string;
}

export async function diagnose(a: Pick<DoctorArgs, "install" | "tests" | "python">, log: (l: string) => void): Promise<EngineReport[]> {
  const out: EngineReport[] = [];
  try {
    const info = await initBackend("auto");
    const n = nativeStatus();
    out.push({ engine: "tfjs", usable: true, detail: `${describeBackend(info)}${n.active ? "" : `; native kernels off: ${n.reason}`}`, fix: n.active ? undefined : "npm run build:native (needs a C compiler)" });
  } catch (e) {
    out.push({ engine: "tfjs", usable: false, detail: describeError(e) });
  }
  try {
    if (a.install && !a.python) installVenv({ withTests: a.tests, log });
    const p = resolvePython({ configured: a.python, install: false, log });
    out.push({ engine: "torch", usable: true, detail: `torch ${p.torch} (${p.cuda ? "CUDA available" : "CPU; no CUDA device"}) with ${p.python}` });
  } catch (e) {
    const venv = venvDir();
    const t = probeTorch(`${venv}/bin/python`);
    out.push({ engine: "torch", usable: false, detail: describeError(e), fix: t.torch ? undefined : `mtx doctor --install (creates ${venv} and installs torch from PyPI; or set MTX_PYTHON to a Python with torch >= 2.1)` });
  }
  return out;
}

export const command: CommandModule<object, DoctorArgs> = {
  command: "doctor",
  describe: "Show which engines can train on this machine (TensorFlow.js, PyTorch) and how to set up the missing one",
  builder: (y: Argv) =>
    y
      .option("install", { type: "boolean", default: false, describe: "Create mtx's Python environment and install torch into it (from PyPI)" })
      .option("tests", { type: "boolean", default: false, describe: "With --install: also the libraries mtx's tests check against (transformers, gguf, lm-eval, ...)" })
      .option("python", { type: "string", describe: "Check this Python interpreter instead of mtx's environment" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<DoctorArgs>,
  handler: (argv: ArgumentsCamelCase<DoctorArgs>) =>
    runCommand(async () => {
      const reports = await diagnose(argv, (l) => process.stderr.write(dim(l) + "\n"));
      if (argv.json) process.stdout.write(JSON.stringify(reports) + "\n");
      else for (const r of reports) process.stdout.write(`engine ${r.engine}: ${r.usable ? "usable" : "not usable"}: ${r.detail}${r.fix ? `\n  to fix: ${r.fix}` : ""}\n`);
      return argv.install && reports.some((r) => !r.usable && r.engine === "torch") ? ExitCodes.badInput : ExitCodes.ok;
    }),
};
