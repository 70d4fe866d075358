/**
 * The file-system interface: everything the log does to disk goes through these two types, so that one core
 * runs on Deno, Bun and Node and a crash-simulating implementation can stand in for tests.
 *
 * Calls are synchronous on purpose: a write plus fdatasync through sync calls costs a fraction of the async
 * round trip through a thread pool, and the group-commit writer needs no overlap (see README, "Latency").
 * Implementations throw errors that carry the OS `code` (`ENOENT`, `EEXIST`, `ENOSPC`, `EIO`, ...).
 *
 * @module
 */

/** An open file. */
export interface WalFile {
  /** Writes every byte of `data` at the end of the file, or throws. */
  append(data: Uint8Array): void;
  /** Writes every byte of `data` at `position` (at most the file's size), or throws. */
  writeAt(data: Uint8Array, position: number): void;
  /** Reads up to `into.length` bytes from `position`; returns how many were read (fewer only at end of file). */
  read(into: Uint8Array, position: number): number;
  /** Makes the file's data (and the size needed to read it) durable: fdatasync. */
  datasync(): void;
  /**
   * Optional: the same fdatasync off the calling thread (a thread pool), so that the event loop goes on while
   * the disk works. The writer uses it when present and `io` is `"async"`; file systems without it (the
   * crash-simulating one, say) have their `datasync` called inline.
   */
  datasyncAsync?(): Promise<void>;
  /** The file's current size in bytes. */
  size(): number;
  /** Cuts the file to `length` bytes. */
  truncate(length: number): void;
  /** Releases the handle. */
  close(): void;
}

/** How to open a file for writing. */
export interface OpenWriteOptions {
  /** Create the file if it is missing. */
  create: boolean;
  /** Fail with `EEXIST` if the file exists (implies create). */
  exclusive?: boolean;
}

/**
 * An exclusive lock on a file, taken from the kernel where the runtime allows it, so that the kernel drops it
 * when the holder's process dies.
 */
export interface WalFileLock {
  /** True when taking the lock created the file (it did not exist before). */
  readonly created: boolean;
  /** Replaces the locked file's content (through the locking handle: Windows refuses other handles). */
  write(data: Uint8Array): void;
  /**
   * Gives the lock up and closes the handle; with `remove`, deletes the file first, while still holding the lock
   * (safe because a locker checks, once it holds the lock, that the path still names the file it locked).
   * Releasing twice is a no-op.
   */
  release(remove?: boolean): void;
  /** True while the lock file's path still names the file this lock holds (false once it was deleted or replaced). */
  current(): boolean;
}

/** The directory-level operations and process facts the log needs. */
export interface WalFileSystem {
  /** Joins a directory and a file name with the platform's separator. */
  join(dir: string, name: string): string;
  /** The canonical absolute path of an existing directory (used to key the in-process lock registry). */
  realPath(path: string): string;
  /** Creates a directory and its parents if missing. */
  mkdirp(dir: string): void;
  /** The names (not paths) of the entries in a directory. */
  list(dir: string): string[];
  /** True if something exists at `path`. */
  exists(path: string): boolean;
  /** Opens an existing file for reading. */
  openRead(path: string): WalFile;
  /** Opens a file for writing (and reading), without truncating it. */
  openWrite(path: string, options: OpenWriteOptions): WalFile;
  /** Reads a whole (small) file. */
  readFile(path: string): Uint8Array;
  /** Renames a file, replacing any file at `to`. */
  rename(from: string, to: string): void;
  /**
   * What is at `path`, following symbolic links: a regular file, a directory, something else (a FIFO, socket or
   * device, which the log must never open: opening a FIFO blocks), or nothing. Optional for custom file systems.
   */
  fileKind?(path: string): "file" | "directory" | "other" | "missing";
  /** Deletes a file. */
  remove(path: string): void;
  /** Makes a directory's entries (creations, renames, deletions) durable, where the OS allows it. */
  syncDir(dir: string): void;
  /** This process's id. */
  pid(): number;
  /** Whether a process with this id is running, or "unknown" when this runtime is not allowed to tell. */
  processAlive(pid: number): boolean | "unknown";
  /**
   * Creates the file at `path` if missing and takes an exclusive lock on it without waiting: null if another
   * holder (thread, process, or another handle of this one) has it. Must exclude every other open of the same
   * file, whatever path reached it. Without this method the log excludes only other handles of its own thread.
   */
  lockFile?(path: string): WalFileLock | null;
  /**
   * Optional: calls `onChange` (any number of times, with no detail) when something in directory `dir` may have
   * changed: a file created, removed or written to. A hint only: it may be late, merged or missing (network and
   * some container file systems say nothing), so read-only followers use it besides polling, never instead.
   * Returns what stops it, or null when the directory cannot be watched.
   */
  watch?(dir: string, onChange: () => void): { close(): void } | null;
}

/** The OS error code an error carries, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
