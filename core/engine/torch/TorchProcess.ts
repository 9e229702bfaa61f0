/**
 * A PyTorch engine process group and the connection to its rank 0: mtx listens on a Unix socket, starts
 * `torchrun --standalone --nproc_per_node N -m mtx_torch.engine --connect SOCKET` (plain `python -m` for one
 * process) in a process group of its own, and waits for rank 0's hello. Requests go one after another;
 * replies come back in order.
 *
 * Failure handling: a process that exits (a rank killed, an out-of-memory), a closed connection, or a
 * request unanswered for `timeoutSec` (a rank hung in a collective) rejects every pending request with an
 * EngineError (exit 6) carrying the engine's last output, and the whole process group is killed. mtx then
 * writes no checkpoint; the last complete one is intact for --resume.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineError } from "../../errors.js";
import { TORCH_DIR } from "./python.js";
import { MessageReader, send, type Buffers, type Message } from "./wire.js";

export const PROTOCOL = "mtx-engine/1";

export interface LaunchOptions {
  python: string;
  nproc: number;
  device: "auto" | "cpu" | "cuda";
  strategy: "auto" | "ddp" | "fsdp";
  timeoutSec: number;
  /** Where the engine's output goes line by line (it is also kept for error messages). */
  onOutput?: (line: string) => void;
  /** Seconds to wait for rank 0's hello (importing torch and starting the ranks). */
  startTimeoutSec?: number;
  /** Wait for ranks started by someone else (torchrun on many machines) instead of starting them. */
  external?: { socketPath?: string; announce: (message: string) => void };
}

interface Pending {
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
  op: string;
  timer: NodeJS.Timeout;
}

export class TorchProcess {
  private readonly pending: Pending[] = [];
  private nextId = 1;
  private failure: EngineError | undefined;
  private closing = false;
  private readonly output: string[] = [];
  /** Rank 0's hello: protocol, world size, device, strategy, torch version, pid. */
  hello!: Record<string, unknown>;

  private constructor(
    private readonly child: ChildProcess | undefined,
    private readonly server: Server,
    private readonly socketPath: string,
    private readonly opts: LaunchOptions,
  ) {}

  static async launch(opts: LaunchOptions): Promise<TorchProcess> {
    const socketPath = opts.external?.socketPath ?? join(tmpdir(), `mtx-engine-${process.pid}-${randomBytes(4).toString("hex")}.sock`);
    rmSync(socketPath, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve());
    });
    const engineArgs = ["-m", "mtx_torch.engine", "--connect", socketPath, "--device", opts.device, "--strategy", opts.strategy, "--timeout", String(opts.timeoutSec)];
    if (opts.external) {
      opts.external.announce(`waiting for the engine's ranks: start them with torchrun on every node (rank 0 on this machine): PYTHONPATH=${TORCH_DIR} torchrun --nnodes N --node_rank K --rdzv-endpoint HOST:PORT ${engineArgs.join(" ")}`);
      const p = new TorchProcess(undefined, server, socketPath, opts);
      const socket = await p.accept(opts.startTimeoutSec ?? 3600);
      p.attach(socket);
      return p;
    }
    const args = opts.nproc > 1 ? ["-m", "torch.distributed.run", "--standalone", `--nproc_per_node=${opts.nproc}`, "--max-restarts=0", ...engineArgs] : engineArgs;
    const env = { ...process.env, PYTHONPATH: [TORCH_DIR, process.env.PYTHONPATH].filter(Boolean).join(":"), PYTHONUNBUFFERED: "1", PYTHONWARNINGS: "ignore", OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? "" };
    if (!env.OMP_NUM_THREADS) delete (env as Record<string, string | undefined>).OMP_NUM_THREADS;
    // A process group of its own: killing it ends torchrun and every rank.
    const child = spawn(opts.python, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const p = new TorchProcess(child, server, socketPath, opts);
    p.capture();
    const socket = await p.accept(opts.startTimeoutSec ?? 180);
    p.attach(socket);
    return p;
  }

  private capture(): void {
    if (!this.child) return;
    const onData = (d: Buffer) => {
      for (const line of d.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        this.output.push(line);
        if (this.output.length > 60) this.output.shift();
        this.opts.onOutput?.(line);
      }
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
    this.child.on("exit", (code, signal) => {
      if (this.closing) return;
      this.fail(new EngineError(`the PyTorch engine exited (${signal ? `signal ${signal}` : `code ${code}`}) ${this.recentOutput()}; the last complete checkpoint is intact: continue with --resume`));
    });
  }

  private recentOutput(): string {
    const interesting = this.output.filter((l) => !/^\s*$|Warning|warn\(|^W\d{4}|\*{5}|OMP_NUM_THREADS|please further tune/.test(l)).slice(-8);
    return interesting.length ? `; its last output:\n  ${interesting.join("\n  ")}\n` : "(no output)";
  }

  private accept(timeoutSec: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(new EngineError(`the PyTorch engine did not connect within ${timeoutSec} s ${this.recentOutput()}`));
      }, timeoutSec * 1000);
      this.child?.once("exit", (code) => {
        clearTimeout(timer);
        reject(new EngineError(`the PyTorch engine exited while starting (code ${code}) ${this.recentOutput()}`));
      });
      this.server.once("connection", (socket) => {
        clearTimeout(timer);
        resolve(socket);
      });
    });
  }

  private socket!: Socket;

  private attach(socket: Socket): void {
    this.socket = socket;
    const reader = new MessageReader();
    let helloSeen = false;
    socket.on("data", (d) => {
      for (const m of reader.push(d)) {
        if (!helloSeen) {
          helloSeen = true;
          this.hello = m.header;
          this.onHello?.();
          continue;
        }
        const p = this.pending.shift();
        if (!p) continue;
        clearTimeout(p.timer);
        if (m.header.ok === false) p.reject(new EngineError(`the PyTorch engine could not ${p.op}: ${String(m.header.error)}`));
        else p.resolve(m);
      }
    });
    socket.on("close", () => {
      if (!this.closing) this.fail(new EngineError(`the PyTorch engine closed its connection ${this.recentOutput()}; the last complete checkpoint is intact: continue with --resume`));
    });
    socket.on("error", () => {});
  }

  private onHello: (() => void) | undefined;

  /** Resolves when rank 0 has said hello (checked against the protocol). */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.hello.hello !== PROTOCOL) reject(new EngineError(`the PyTorch engine speaks '${String(this.hello.hello)}', mtx speaks '${PROTOCOL}': reinstall mtx so both sides match`));
        else resolve();
      };
      if (this.hello) check();
      else {
        this.onHello = check;
        this.child?.once("exit", () => reject(this.failure ?? new EngineError("the PyTorch engine exited before saying hello")));
      }
    });
  }

  /** Send a request; resolves with the reply (header and buffers). */
  request(op: string, header: Record<string, unknown> = {}, buffers?: Buffers, timeoutSec = this.opts.timeoutSec): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new EngineError(`the PyTorch engine did not answer '${op}' within ${timeoutSec} s (a rank hung or died in a collective) ${this.recentOutput()}; the last complete checkpoint is intact: continue with --resume`));
      }, timeoutSec * 1000);
      this.pending.push({ resolve, reject, op, timer });
      send(this.socket, { ...header, id, op }, buffers).catch((e: Error) => this.fail(new EngineError(`could not send '${op}' to the PyTorch engine: ${e.message}`)));
    });
  }

  private fail(error: EngineError): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.kill();
  }

  private kill(): void {
    try {
      if (this.child?.pid) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }

  get pid(): number | undefined {
    return this.child?.pid ?? (this.hello?.pid as number | undefined);
  }

  /** Ask the engine to close, then make sure the whole group is gone. */
  async close(): Promise<void> {
    if (this.closing) return;
    if (!this.failure) {
      try {
        await this.request("close", {}, undefined, 30);
      } catch {
        // It is going away either way.
      }
    }
    this.closing = true;
    await new Promise<void>((resolve) => {
      const child = this.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => {
        this.kill();
        resolve();
      }, 10_000);
      child.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.kill();
    this.socket?.destroy();
    this.server.close();
    rmSync(this.socketPath, { force: true });
  }
}
