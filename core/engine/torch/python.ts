/**
 * The Python the PyTorch engine runs on. By default mtx keeps a virtual environment of its own
 * (`<mtx>/.venv`, or `$MTX_VENV`) and installs the pinned requirements (core/torch/requirements.txt:
 * torch) into it the first time an engine needs them; `engine.python` or `$MTX_PYTHON` names an interpreter
 * that already has torch instead. torch must be 2.1 or newer (Debian's python3-torch 1.13 is not: its
 * torchrun and FSDP are broken on Python 3.11).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, EngineError } from "../../errors.js";
import { PACKAGE_ROOT } from "../../paths.js";

/** The Python package of the engine (put on PYTHONPATH). */
export const TORCH_DIR = join(PACKAGE_ROOT, "core", "torch");
export const REQUIREMENTS = join(TORCH_DIR, "requirements.txt");
export const TEST_REQUIREMENTS = join(TORCH_DIR, "requirements-test.txt");
const MIN_TORCH: [number, number] = [2, 1];

export const INSTALL_HELP =
  "Install Python 3 with venv (Debian: sudo apt-get install python3 python3-venv) and let mtx create its environment (mtx doctor --install), " +
  "or give an interpreter that has torch >= 2.1 (pip install 'torch>=2.1', then engine.python or MTX_PYTHON)";

export interface PythonInfo {
  /** The interpreter. */
  python: string;
  /** torch's version, when importable. */
  torch?: string;
  cuda?: boolean;
  /** mtx's own virtual environment, when that is what is used. */
  venv?: string;
}

export function venvDir(): string {
  return resolve(process.env.MTX_VENV ?? join(PACKAGE_ROOT, ".venv"));
}

function venvPython(dir = venvDir()): string {
  return join(dir, "bin", "python");
}

/** torch's version and CUDA availability under `python`, or the reason it cannot be imported. */
export function probeTorch(python: string): { torch?: string; cuda?: boolean; error?: string } {
  const r = spawnSync(python, ["-c", "import json, torch; print(json.dumps({'torch': torch.__version__.split('+')[0], 'cuda': torch.cuda.is_available()}))"], { encoding: "utf8", timeout: 120_000, env: { ...process.env, PYTHONWARNINGS: "ignore" } });
  if (r.error) return { error: (r.error as NodeJS.ErrnoException).code === "ENOENT" ? `${python} not found` : r.error.message };
  if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split("\n").at(-1) ?? `exit ${r.status}` };
  try {
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { torch: string; cuda: boolean };
  } catch {
    return { error: `unexpected output: ${r.stdout.slice(0, 200)}` };
  }
}

function oldTorch(version: string): boolean {
  const [major, minor] = version.split(".").map(Number) as [number, number];
  return major < MIN_TORCH[0] || (major === MIN_TORCH[0] && minor < MIN_TORCH[1]);
}

function requirementsStamp(files: string[]): string {
  const h = createHash("sha256");
  for (const f of files) h.update(readFileSync(f));
  return h.digest("hex");
}

/**
 * Create mtx's virtual environment (when missing) and install the requirements (when they changed since
 * the last install). Progress goes to `log`. Throws an EngineError naming what to do when it cannot.
 */
export function installVenv(opts: { withTests?: boolean; log: (line: string) => void }): string {
  const dir = venvDir();
  const files = opts.withTests ? [REQUIREMENTS, TEST_REQUIREMENTS] : [REQUIREMENTS];
  const stampFile = join(dir, opts.withTests ? ".mtx-requirements-test" : ".mtx-requirements");
  const stamp = requirementsStamp(files);
  const python = venvPython(dir);
  if (existsSync(python) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return python;
  if (!existsSync(python)) {
    opts.log(`creating mtx's Python environment in ${dir}`);
    const base = process.env.MTX_BASE_PYTHON ?? "python3";
    const r = spawnSync(base, ["-m", "venv", dir], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.error || r.status !== 0) throw new ConfigError(`could not create a Python virtual environment with '${base} -m venv ${dir}'. ${INSTALL_HELP}`);
  }
  opts.log(`installing ${files.map((f) => f.replace(PACKAGE_ROOT + "/", "")).join(" and ")} into ${dir} (torch from PyPI: a few minutes and ~5 GB the first time)`);
  const r = spawnSync(python, ["-m", "pip", "install", "--no-input", "--disable-pip-version-check", "-q", ...files.flatMap((f) => ["-r", f])], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.error || r.status !== 0) throw new EngineError(`pip could not install ${files.join(", ")} into ${dir} (exit ${r.status}). ${INSTALL_HELP}`);
  writeFileSync(stampFile, stamp);
  // The test requirements include the engine's: those are installed too.
  if (opts.withTests) writeFileSync(join(dir, ".mtx-requirements"), requirementsStamp([REQUIREMENTS]));
  return python;
}

/**
 * The interpreter the engine runs on, checked: `configured` (engine.python) or $MTX_PYTHON as given, else
 * mtx's environment, installed on first use when `install` is set. A missing or too old torch is exit 2
 * with the install lines.
 */
export function resolvePython(opts: { configured?: string; install: boolean; log: (line: string) => void }): PythonInfo {
  const given = opts.configured ?? process.env.MTX_PYTHON;
  let python: string;
  let venv: string | undefined;
  if (given) python = given;
  else {
    venv = venvDir();
    python = opts.install ? installVenv({ log: opts.log }) : venvPython(venv);
  }
  const t = probeTorch(python);
  if (t.error || !t.torch) throw new ConfigError(`the PyTorch engine needs torch >= 2.1, and ${python} cannot import it (${t.error}). ${INSTALL_HELP}`);
  if (oldTorch(t.torch)) throw new ConfigError(`the PyTorch engine needs torch >= 2.1; ${python} has ${t.torch} (Debian's python3-torch is 1.13: its torchrun and FSDP do not work on Python 3.11). ${INSTALL_HELP}`);
  return { python, torch: t.torch, cuda: t.cuda, venv };
}
