/** Terminal output shared by the commands: errors without stacks, colours only on a TTY. */
import { describeError, exitCodeFor, MtxError } from "../core/errors.js";

export function useColor(stream: NodeJS.WriteStream = process.stderr): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR;
}

function paint(code: number, text: string, stream: NodeJS.WriteStream): string {
  return useColor(stream) ? `\x1b[${code}m${text}\x1b[0m` : text;
}

export const yellow = (t: string, s: NodeJS.WriteStream = process.stderr) => paint(33, t, s);
export const red = (t: string, s: NodeJS.WriteStream = process.stderr) => paint(31, t, s);
export const dim = (t: string, s: NodeJS.WriteStream = process.stderr) => paint(2, t, s);

/**
 * Run a command body; an error prints as one message (no stack unless MTX_DEBUG is set) and sets the
 * exit code its kind maps to.
 */
export async function runCommand(body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (error) {
    const code = exitCodeFor(error);
    const debug = !!process.env.MTX_DEBUG;
    const message = error instanceof MtxError || !debug ? describeError(error) : String((error as Error).stack ?? error);
    process.stderr.write(`${red("mtx: error:")} ${message}\n`);
    if (!(error instanceof MtxError) && !debug) process.stderr.write(dim("(internal error: rerun with MTX_DEBUG=1 for the stack trace)\n"));
    process.exitCode = code;
  }
}
