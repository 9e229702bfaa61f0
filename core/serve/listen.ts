/**
 * Listening for `mtx serve` and `mtx guard`: a port out of range, in use or privileged, and a host that is
 * not this machine's, are the user's to fix (exit 2 with what to do), not internal errors.
 */
import type { FastifyInstance } from "fastify";
import { ConfigError } from "../errors.js";

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be a whole number from 0 to 65535 (got ${port}); 0 picks any free port`);
}

/** `app.listen`, with the refusals a user can fix turned into ConfigErrors. Returns the address. */
export async function listenOn(app: FastifyInstance, host: string, port: number, what: string): Promise<string> {
  checkPort(port);
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      EADDRINUSE: `port ${port} is in use by another program: choose another --port (0 picks a free one)`,
      EACCES: `port ${port} needs privileges to bind: choose a port above 1023`,
      EADDRNOTAVAIL: `'${host}' is not an address of this machine: use 127.0.0.1 (the default) or one of its interfaces`,
      ENOTFOUND: `'${host}' is not a host name this machine resolves: use 127.0.0.1 (the default) or one of its interfaces`,
    };
    if (code && why[code]) throw new ConfigError(`${what}: cannot listen on ${host}:${port}: ${why[code]}`, { cause: error });
    throw error;
  }
}
