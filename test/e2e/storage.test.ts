// A disk that fills up or refuses writes: the run ends with exit 5 and a message naming the path, no
// temporary files or directories are left, the earlier checkpoints stay intact and loadable, and the
// summary is written when there is room for it (or the log says why not).
//
// The full disk is a small tmpfs mounted in a private mount namespace of the child process (unshare), so
// nothing on the machine is touched; a refused write runs the CLI as an unprivileged user (root bypasses
// file permissions).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint, listCheckpoints } from "../../core/checkpoint/Checkpoint.js";
import { BIN, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";

const isRoot = process.getuid?.() === 0;

/** unshare's flags for a private mount namespace (a user namespace too when not root). */
const UNSHARE = isRoot ? ["-m"] : ["-m", "-r"];

describe("a full disk", () => {
  it("exits 5 naming the path, leaves no temporaries, keeps the earlier checkpoints", () => {
    const dir = tempDir();
    const disk = join(dir, "disk");
    mkdirSync(disk);
    const config = join(dir, "c.json");
    // Checkpoints of ~1.9 MB every 2 steps, kept: a 5 MB disk takes two, the third does not fit.
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 12, checkpoint: { every: 2, keepLast: 10 } })));
    const out = join(disk, "run");
    // The child reports what it left on the tmpfs before the namespace (and the tmpfs) goes away.
    const probe = `${process.execPath} -e "const fs=require('fs');const p=require('path');const out=[];const w=d=>{for(const n of fs.readdirSync(d,{withFileTypes:true})){out.push(p.join(d,n.name));if(n.isDirectory())w(p.join(d,n.name))}};w('${disk}');console.log(JSON.stringify(out))"`;
    const script = `mount -t tmpfs -o size=5m mtx-test ${disk} && "${process.execPath}" "${BIN}" train --config ${config} --out ${out}; code=$?; ${probe}; exit $code`;
    const r = spawnSync("unshare", [...UNSHARE, "sh", "-c", script], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/could not write .*run\/checkpoints.* the disk is full \(ENOSPC\); free some space .* and resume with --resume/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    const files = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as string[];
    expect(files.filter((f) => /\.tmp-|\.old-/.test(f))).toEqual([]);
    const checkpoints = files.filter((f) => /checkpoints\/step-\d+$/.test(f));
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    for (const c of checkpoints) expect(files).toContain(join(c, "manifest.json"));
    // The summary fit (it is small) and says what happened.
    expect(files).toContain(join(out, "summary.json"));
  });

  it("the earlier checkpoints of a run that filled its disk load and resume elsewhere", () => {
    const dir = tempDir();
    const disk = join(dir, "disk");
    mkdirSync(disk);
    const config = join(dir, "c.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 12, checkpoint: { every: 2, keepLast: 10 } })));
    const out = join(disk, "run");
    const copy = join(dir, "copy");
    const script = `mount -t tmpfs -o size=5m mtx-test ${disk} && "${process.execPath}" "${BIN}" train --config ${config} --out ${out}; code=$?; cp -r ${out} ${copy}; exit $code`;
    const r = spawnSync("unshare", [...UNSHARE, "sh", "-c", script], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status, r.stderr).toBe(5);
    const steps = listCheckpoints(join(copy, "checkpoints"));
    expect(steps.length).toBeGreaterThanOrEqual(1);
    for (const s of steps) expect(loadCheckpoint(join(copy, "checkpoints", `step-${s}`)).state.step).toBe(s);
    const summary = JSON.parse(readFileSync(join(copy, "summary.json"), "utf8"));
    expect(summary).toMatchObject({ status: "failed", exitCode: 5 });
    expect(summary.error).toMatch(/ENOSPC/);
    const resumed = spawnSync(process.execPath, [BIN, "train", "--out", copy, "--resume"], { cwd: ROOT, encoding: "utf8" });
    expect(resumed.status, resumed.stderr).toBe(0);
  });
});

describe("a directory that refuses writes", () => {
  it("exits 5 naming the path (EACCES)", () => {
    const dir = tempDir();
    const locked = join(dir, "locked");
    mkdirSync(locked);
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o555);
    const config = join(dir, "c.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 2 })));
    chmodSync(config, 0o644);
    const args = [BIN, "train", "--config", config, "--out", join(locked, "run")];
    // As root, drop to nobody: root ignores permission bits. A checkout nobody cannot read (a clone under a
    // 0700 mktemp directory) cannot run as nobody; there the kernel's refusal is stood in for by mkdir
    // failing with EACCES under `locked` (a preloaded module), and the CLI's handling is what is tested.
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const nobodyReaches = isRoot && [BIN, config].every((f) => spawnSync(asNobody[0]!, [...asNobody.slice(1), "test", "-r", f]).status === 0);
    const preload = join(dir, "eacces.mjs");
    writeFileSync(preload, `import fs from "node:fs"; import { syncBuiltinESMExports } from "node:module";
const mkdir = fs.mkdirSync;
fs.mkdirSync = function (p, o) {
  if (String(p).startsWith(${JSON.stringify(locked + "/")})) throw Object.assign(new Error("EACCES: permission denied, mkdir '" + p + "'"), { code: "EACCES", errno: -13, syscall: "mkdir", path: String(p) });
  return mkdir.call(this, p, o);
};
syncBuiltinESMExports();
`);
    const r =
      isRoot && nobodyReaches
        ? spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", MTX_CACHE_DIR: join(dir, "cache-nobody") } })
        : spawnSync(process.execPath, isRoot ? ["--import", preload, ...args] : args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/could not create the directory .*locked\/run: permission denied \(EACCES\); choose a directory you can write to/);
  });
});

