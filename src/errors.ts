/**
 * The errors the log throws. Callers catch these by class; every message starts with "wal: " and names what
 * went wrong, so a log line alone says enough.
 *
 * @module
 */

/**
 * The stable code of each kind of error, for callers that switch on codes rather than classes (across package
 * copies, or after serialization). A code never changes meaning; new kinds get new codes.
 *
 * - `WAL_INVALID_ARGUMENT`: {@link WalInvalidArgumentError}
 * - `WAL_CLOSED`: {@link WalClosedError}
 * - `WAL_FAILED`: {@link WalFailedError}
 * - `WAL_CORRUPTION`: {@link WalCorruptionError}
 * - `WAL_FORMAT`: {@link WalFormatError}
 * - `WAL_LOCKED`: {@link WalLockedError}
 * - `WAL_TRUNCATED`: {@link WalTruncatedError}
 * - `WAL_READ`: {@link WalReadError}
 * - `WAL_ERROR`: a plain {@link WalError}, for example when the directory cannot be locked at all
 */
export type WalErrorCode =
  | "WAL_ERROR"
  | "WAL_INVALID_ARGUMENT"
  | "WAL_CLOSED"
  | "WAL_FAILED"
  | "WAL_CORRUPTION"
  | "WAL_FORMAT"
  | "WAL_LOCKED"
  | "WAL_TRUNCATED"
  | "WAL_READ";

/**
 * The base of every error this library throws on purpose.
 *
 * @example
 * ```ts
 * import { WalError } from "@wal/wal";
 * function explain(e: unknown): string {
 *   if (!(e instanceof WalError)) return "not from the log";
 *   switch (e.code) {
 *     case "WAL_LOCKED":
 *       return "another writer holds the directory";
 *     case "WAL_CORRUPTION":
 *       return "the log is damaged";
 *     default:
 *       return e.message;
 *   }
 * }
 * ```
 */
export class WalError extends Error {
  /** The kind of error, stable across versions: see {@link WalErrorCode}. */
  readonly code: WalErrorCode;
  /**
   * Creates the error; `message` says what went wrong, without the "wal: " prefix. `options.code` is set by
   * the subclasses (default `WAL_ERROR`).
   */
  constructor(message: string, options?: { cause?: unknown; code?: WalErrorCode }) {
    super(`wal: ${message}`, options !== undefined && "cause" in options ? { cause: options.cause } : undefined);
    this.name = "WalError";
    this.code = options?.code ?? "WAL_ERROR";
  }
}

/**
 * An argument broke a rule: the message names the argument and the rule. Nothing was written and no seq was
 * used.
 *
 * @example
 * ```ts
 * import { WalInvalidArgumentError } from "@wal/wal";
 * const e = new WalInvalidArgumentError("key", "must be a string");
 * e.argument; // "key"
 * ```
 */
export class WalInvalidArgumentError extends WalError {
  /** The name of the offending argument. */
  readonly argument: string;
  /** Creates the error for `argument` (its name), which must obey `rule`. */
  constructor(argument: string, rule: string) {
    super(`invalid argument "${argument}": ${rule}`, { code: "WAL_INVALID_ARGUMENT" });
    this.name = "WalInvalidArgumentError";
    this.argument = argument;
  }
}

/** The handle was closed, or superseded by a newer `open` of the same directory in this process. */
export class WalClosedError extends WalError {
  /** Creates the error; the default message says the log is closed. */
  constructor(message = "the log is closed") {
    super(message, { code: "WAL_CLOSED" });
    this.name = "WalClosedError";
  }
}

/** A write or fsync failed earlier; the handle refuses everything until the directory is opened again. */
export class WalFailedError extends WalError {
  /** Creates the error; `cause` is the OS error of the failed write or fsync. */
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`the log failed on an earlier write or fsync (${why}); open the directory again to recover`, {
      cause,
      code: "WAL_FAILED",
    });
    this.name = "WalFailedError";
  }
}

/** Where damage was found. */
export interface CorruptionLocation {
  /** The segment file (full path). */
  file: string;
  /** Byte offset in that file where the first bad byte or record starts. */
  offset: number;
  /** The seq that was expected there. */
  seq: number;
  /** Why the bytes there cannot be used. */
  reason: string;
}

/** The log's files hold damage that a crash cannot explain (or that the caller asked to refuse). */
export class WalCorruptionError extends WalError {
  /** The segment file (full path). */
  readonly file: string;
  /** Byte offset in that file. */
  readonly offset: number;
  /** The seq expected at that offset. */
  readonly seq: number;
  /** Why the bytes cannot be used. */
  readonly reason: string;
  /** Creates the error for damage at `where`; `prefix` starts the message. */
  constructor(where: CorruptionLocation, prefix = "corruption") {
    super(`${prefix} in ${where.file} at offset ${where.offset} (expected seq ${where.seq}): ${where.reason}`, {
      code: "WAL_CORRUPTION",
    });
    this.name = "WalCorruptionError";
    this.file = where.file;
    this.offset = where.offset;
    this.seq = where.seq;
    this.reason = where.reason;
  }
}

/** A file in the directory has a format this version cannot read, or the directory is not a log. */
export class WalFormatError extends WalError {
  /** The file that was refused. */
  readonly file: string;
  /** Creates the error for `file`, refused because of `why`. */
  constructor(file: string, why: string) {
    super(`cannot open ${file}: ${why}`, { code: "WAL_FORMAT" });
    this.name = "WalFormatError";
    this.file = file;
  }
}

/**
 * Another holder has the directory's lock: another process, another thread of this one, or another handle of
 * this thread reaching the directory through another path that is not a symlink (a bind mount).
 */
export class WalLockedError extends WalError {
  /**
   * The pid the holder wrote into the lock file (in the holder's PID namespace, so from another container it may
   * name an unrelated local process); NaN if it could not be read.
   */
  readonly pid: number;
  /** The lock file's path. */
  readonly lockFile: string;
  /**
   * Creates the error for `lockFile`, held by `pid`; `selfPid` (this process's pid) lets the message say when
   * the holder is this very process.
   */
  constructor(lockFile: string, pid: number, selfPid?: number) {
    const who = !Number.isInteger(pid)
      ? "another process or thread (its pid could not be read)"
      : pid === selfPid
      ? `process ${pid}, this process: another thread, or another path to the same directory (a bind mount)`
      : `process ${pid}`;
    super(`the log directory is locked by ${who} (lock file ${lockFile})`, { code: "WAL_LOCKED" });
    this.name = "WalLockedError";
    this.pid = pid;
    this.lockFile = lockFile;
  }
}

/**
 * A stream (`replayStream`, `iterate`) ended because `truncate` or `truncateAfter` removed records it had not yet
 * yielded.
 *
 * @example
 * ```ts
 * import { WalTruncatedError } from "@wal/wal";
 * const e = new WalTruncatedError(10, 4);
 * e.upToSeq; // 10
 * ```
 */
export class WalTruncatedError extends WalError {
  /**
   * `truncate`: it removed every record with seq <= this. `truncateAfter` (`after` true): it removed every record
   * with seq > this; -1 when a read-only handle saw the writer (in another process) cut the tail and cannot tell
   * where.
   */
  readonly upToSeq: number;
  /** The seq of the last record the stream had yielded (its `afterSeq` if none). */
  readonly position: number;
  /** True when `truncateAfter` removed the log's tail, false when `truncate` removed its head. */
  readonly after: boolean;
  /**
   * Creates the error for a truncate up to `upToSeq` (or, with `after`, a `truncateAfter` keeping records up to
   * `upToSeq`) that overtook a stream at `position`.
   */
  constructor(upToSeq: number, position: number, after = false) {
    super(
      after && upToSeq < 0
        ? `the log's writer cut its tail (truncateAfter) in another process; this stream had reached seq ${position}, ` +
          `and records it yielded or was to yield may be gone: start a new one to read what the log holds now`
        : after
        ? `truncateAfter removed the records after seq ${upToSeq}, which this stream had not yet all yielded ` +
          `(it had reached seq ${position}); start a new stream to read what the log holds now`
        : `truncate(${upToSeq}) removed records this stream had not yet yielded (it had reached seq ${position}); ` +
          `start a new stream with afterSeq >= ${upToSeq}`,
      { code: "WAL_TRUNCATED" },
    );
    this.name = "WalTruncatedError";
    this.upToSeq = upToSeq;
    this.position = position;
    this.after = after;
  }
}

/** A read of the log's files failed in the operating system; `cause` is the OS error. */
export class WalReadError extends WalError {
  /** Creates the error; `cause` is the OS error of the failed read. */
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`reading the log failed (${why})`, { cause, code: "WAL_READ" });
    this.name = "WalReadError";
  }
}
