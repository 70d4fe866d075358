/**
 * The directory lock: an exclusive kernel lock (flock; LockFileEx on Windows, see `io/file_lock.ts`) on the
 * directory's `LOCK` file. The kernel lock is what excludes: another thread, process, PID namespace or path to
 * the same directory is refused while it is held, and the kernel drops it when its holder dies, so a dead
 * owner's lock is taken over without anyone deleting a file. The pid written into `LOCK` is only information
 * for the error message; the file is never deleted (deleting a locked file lets the next two openers lock two
 * different files).
 *
 * Within one thread the lock is held once per directory, by the newest handle: an open of a directory this
 * thread already holds takes the lock over from the earlier handle, which is superseded (refuses every call)
 * only once the new open has fully succeeded, so a failed open leaves the earlier handle working.
 *
 * @module
 */

import { WalError, WalFormatError, WalLockedError } from "./errors.ts";
import type { WalFileLock, WalFileSystem } from "./io/types.ts";
import { errorCode } from "./io/types.ts";

/** Name of the lock file. */
export const LOCK_FILE = "LOCK";

/** What the registry needs of a handle to supersede it. */
export interface Supersedable {
  supersede(): void;
}

/** A directory held by this thread: the handle that holds it and the kernel lock it holds it with. */
interface Holding {
  owner: Supersedable;
  /** Null when the file system offers no kernel lock (then only this thread's handles are excluded). */
  lock: WalFileLock | null;
}

/**
 * Directories held by this thread, keyed by real path; shared by every copy of this module in the thread.
 * Worker threads have their own globals and never see it: the kernel lock is what excludes them.
 */
function registry(fs: WalFileSystem): Map<string, Holding> {
  const key = Symbol.for("@wal/wal.kernel-locks");
  const g = globalThis as unknown as Record<symbol, WeakMap<WalFileSystem, Map<string, Holding>> | undefined>;
  const byFs = (g[key] ??= new WeakMap());
  let held = byFs.get(fs);
  if (held === undefined) byFs.set(fs, held = new Map());
  return held;
}

/** A lock taken for an open in progress. */
export interface DirectoryLock {
  /** Makes `owner` the holder once its open has succeeded; an earlier handle of this thread is superseded. */
  commit(owner: Supersedable): void;
  /** Gives the lock up if this open still holds it (a failed open gives back only what it took itself). */
  release(): void;
}

/**
 * Takes the lock on `dir` (a real path: the registry is keyed by it) for an open in progress. Throws WalLockedError if another thread, process or path
 * holds it; never waits.
 */
export function acquireLock(fs: WalFileSystem, dir: string): DirectoryLock {
  const key = dir;
  const path = fs.join(dir, LOCK_FILE);
  const held = registry(fs);
  let previous = held.get(key);
  // The directory was deleted and made anew under the same path: the earlier handle's lock is on a file that is
  // gone, so it excludes nobody; this open takes a lock of its own and leaves that handle alone.
  if (previous?.lock?.current() === false) {
    held.delete(key);
    previous = undefined;
  }
  // This thread already holds the directory: the new handle inherits that kernel lock on commit.
  const own = previous === undefined ? takeKernelLock(fs, path) : null;
  let mine: Holding | undefined;
  let done = false;
  return {
    commit(owner) {
      const current = held.get(key);
      if (current !== previous) throw new WalError(`the lock on ${path} changed hands during the open`);
      // The pid goes in only now, so that an open that fails leaves a LOCK it found as it was.
      own?.write(new TextEncoder().encode(String(fs.pid())));
      mine = { owner, lock: previous === undefined ? own : previous.lock };
      held.set(key, mine);
      previous?.owner.supersede();
    },
    release() {
      if (done) return;
      done = true;
      if (mine === undefined) {
        // A failed open leaves the directory as it found it: a LOCK it created goes again.
        own?.release(own.created);
        return;
      }
      if (held.get(key) !== mine) return;
      held.delete(key);
      mine.lock?.release();
    },
  };
}

function takeKernelLock(fs: WalFileSystem, path: string): WalFileLock | null {
  if (fs.lockFile === undefined) return null;
  let lock: WalFileLock | null;
  try {
    lock = fs.lockFile(path);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // The log never opens a LOCK that is not a plain file: following a symbolic link would overwrite its target.
    if (errorCode(e) === "EFTYPE") throw new WalFormatError(path, `${why}; the log only uses a regular file there`);
    throw new WalError(`cannot lock the log directory (lock file ${path}): ${why}; the log never runs without its lock`, {
      cause: e,
    });
  }
  if (lock === null) throw new WalLockedError(path, holderPid(fs, path), fs.pid());
  return lock;
}

/** The pid the holder wrote, or NaN if it cannot be read (not written yet; Windows refuses reading it). */
function holderPid(fs: WalFileSystem, path: string): number {
  try {
    const text = new TextDecoder().decode(fs.readFile(path)).trim();
    return /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  } catch {
    return NaN;
  }
}
