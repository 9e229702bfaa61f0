/**
 * The error family of mtx. Every failure a user can cause or meet is an {@link MtxError} with a stable
 * `code`; the CLI prints its message (never a stack) and maps the code to an exit code.
 */

/** Stable error codes. The CLI maps each to an exit code with {@link exitCodeFor}. */
export const ErrorCodes = {
  config: "E_CONFIG",
  usage: "E_USAGE",
  checkpoint: "E_CHECKPOINT",
  data: "E_DATA",
  plugin: "E_PLUGIN",
  probe: "E_PROBE",
  backend: "E_BACKEND",
  internal: "E_INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Process exit codes, shared by every command (documented in the README). */
export const ExitCodes = {
  ok: 0,
  checkFailed: 1,
  badInput: 2,
  halted: 3,
  internal: 4,
  interrupted: 130,
  terminated: 143,
} as const;

export class MtxError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The run configuration or a flag is invalid. */
export class ConfigError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.config, message, options);
  }
}

/** A checkpoint is missing, unreadable, corrupt or does not fit the model. */
export class CheckpointError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.checkpoint, message, options);
  }
}

/** Training or evaluation data is missing or malformed. */
export class DataError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.data, message, options);
  }
}

/** A plugin threw, or could not be found or built. Names the plugin and, when known, the hook. */
export class PluginError extends MtxError {
  constructor(
    readonly plugin: string,
    readonly hook: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCodes.plugin, message, options);
  }
}

/** A probe failed, crashed its worker or timed out. */
export class ProbeError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.probe, message, options);
  }
}

/** The requested compute backend is not available. */
export class BackendError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.backend, message, options);
  }
}

/** Exit code for an error that ended a command: 2 for anything the user can fix, 4 otherwise. */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof MtxError)) return ExitCodes.internal;
  switch (error.code) {
    case ErrorCodes.config:
    case ErrorCodes.usage:
    case ErrorCodes.checkpoint:
    case ErrorCodes.data:
    case ErrorCodes.backend:
      return ExitCodes.badInput;
    case ErrorCodes.plugin:
      // A plugin that cannot be found or whose options are wrong is bad input; one that threw mid-run
      // is reported through the run's onError policy before it ever reaches here.
      return ExitCodes.badInput;
    default:
      return ExitCodes.internal;
  }
}

/** The message of any thrown value, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
