// Builds the native kernel add-on (core/native) with node-gyp and the machine's C compiler. Run by
// `npm ci` / `npm install` (the `install` script) and by `npm run build:native`. It never fails the install:
// without a compiler or Node's headers it says so in one line, and mtx runs on the plain wasm kernels.
// MTX_NATIVE=0 skips the build.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = join(root, "core", "native");
const strict = process.argv.includes("--strict");

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  // npm bundles node-gyp next to itself.
  const npm = spawnSync("npm", ["root", "-g"], { encoding: "utf8" });
  const bundled = join(npm.stdout?.trim() ?? "", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  return existsSync(bundled) ? bundled : undefined;
}

function skip(reason) {
  console.warn(`mtx: native kernels not built (${reason}); training will use the plain wasm kernels, about 5x slower.`);
  process.exit(strict ? 1 : 0);
}

if (process.env.MTX_NATIVE === "0") {
  console.log("mtx: MTX_NATIVE=0, native kernels not built");
  process.exit(0);
}
const gyp = nodeGyp();
if (!gyp) skip("node-gyp not found");
const args = [gyp, "rebuild", `--directory=${dir}`];
// Build against the headers of the running Node when they are installed with it (no download needed).
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { encoding: "utf8" });
if (r.status !== 0) {
  rmSync(join(dir, "build"), { recursive: true, force: true });
  const why = `${r.stderr ?? ""}${r.stdout ?? ""}`.split("\n").find((l) => /error|not found|No such/i.test(l) && !/gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v)/.test(l));
  skip(why ? why.replace(/^gyp ERR! /, "").trim() : `node-gyp exited with ${r.status}`);
}
console.log("mtx: native kernels built (core/native/build/Release/mtx_kernels.node)");
