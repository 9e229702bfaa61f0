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
  storage: "E_STORAGE",
  engine: "E_ENGINE",
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
  /** A file could not be written or read for a reason outside mtx: disk full, no permission, read-only. */
  storage: 5,
  /** The training engine died (a rank crashed or hung); the last complete checkpoint is intact. */
  engineFailed: 6,
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

/** The prefix of every "this model source cannot do that" message; suites report it as not supported. */
export const NOT_SUPPORTED = "not supported by this model source";

/** A model source (an OpenAI-compatible endpoint, say) cannot compute what a probe asked for. */
export class NotSupportedError extends ProbeError {
  constructor(what: string) {
    super(`${NOT_SUPPORTED}: ${what}`);
  }
}

/** The requested compute backend is not available. */
export class BackendError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.backend, message, options);
  }
}

/**
 * The file system refused a read or write (ENOSPC, EDQUOT, EACCES, EPERM, EROFS, ...). The message names
 * the path and what to do; `errno` keeps the system code.
 */
export class StorageError extends MtxError {
  constructor(
    readonly path: string,
    readonly errno: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(ErrorCodes.storage, message, options);
  }
}

/** The training engine (a PyTorch process group) failed: a rank died, hung or reported an error. */
export class EngineError extends MtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.engine, message, options);
  }
}

const STORAGE_CODES: Record<string, string> = {
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  EIO: "an I/O error occurred",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "the path is a directory",
  EEXIST: "the path already exists",
  EMFILE: "too many open files",
  ENAMETOOLONG: "the path is too long",
};

/**
 * Wrap a file-system error into a StorageError that names the path and what was being done, or return
 * undefined when `error` is not a system error of that kind (then the caller rethrows it as it is).
 */
export function storageError(error: unknown, path: string, doing: string): StorageError | undefined {
  if (error instanceof StorageError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in STORAGE_CODES)) return undefined;
  const advice = code === "ENOSPC" || code === "EDQUOT" ? "free some space (or point --out at another disk) and resume with --resume" : code === "EROFS" || code === "EACCES" || code === "EPERM" ? "choose a directory you can write to" : "check the path";
  return new StorageError(path, code, `could not ${doing} ${path}: ${STORAGE_CODES[code]} (${code}); ${advice}`, { cause: error });
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
    case ErrorCodes.storage:
      return ExitCodes.storage;
    case ErrorCodes.engine:
      return ExitCodes.engineFailed;
    default:
      return ExitCodes.internal;
  }
}

/** The message of any thrown value, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
