/**
 * The directory lock. A `LOCK` file holds the owner's pid. Another live process's lock refuses the open; a
 * dead process's lock is taken over; an open of a directory this process already holds supersedes the earlier
 * handle (which then refuses every call).
 *
 * @module
 */

import { WalLockedError } from "./errors.ts";
import type { WalFileSystem } from "./io/types.ts";
import { errorCode } from "./io/types.ts";

/** Name of the lock file. */
export const LOCK_FILE = "LOCK";

/** What the registry needs of a handle to supersede it. */
export interface Supersedable {
  supersede(): void;
}

/** Handles that hold a directory in this process, keyed by real path; shared by every copy of this module. */
function registry(): Map<string, Supersedable> {
  const key = Symbol.for("@wal/wal.locks");
  const g = globalThis as unknown as Record<symbol, Map<string, Supersedable> | undefined>;
  return (g[key] ??= new Map());
}

/** A held lock. */
export interface DirectoryLock {
  /** Gives the lock up (removes the file) if `owner` still holds it. */
  release(): void;
}

/** Takes the lock on `dir` for `owner`. Throws WalLockedError if another live process holds it. */
export function acquireLock(fs: WalFileSystem, dir: string, owner: Supersedable): DirectoryLock {
  const key = fs.realPath(dir);
  const path = fs.join(dir, LOCK_FILE);
  const held = registry();
  const previous = held.get(key);
  if (previous !== undefined) {
    previous.supersede();
  } else {
    takeFile(fs, path);
  }
  held.set(key, owner);
  return {
    release() {
      if (held.get(key) !== owner) return;
      held.delete(key);
      try {
        fs.remove(path);
      } catch (e) {
        if (errorCode(e) !== "ENOENT") throw e;
      }
    },
  };
}

function takeFile(fs: WalFileSystem, path: string): void {
  const me = fs.pid();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = fs.openWrite(path, { create: true, exclusive: true });
      try {
        file.append(new TextEncoder().encode(String(me)));
      } finally {
        file.close();
      }
      return;
    } catch (e) {
      if (errorCode(e) !== "EEXIST") throw e;
    }
    const text = new TextDecoder().decode(fs.readFile(path)).trim();
    const pid = /^\d+$/.test(text) ? Number(text) : NaN;
    // Our own pid with no handle in the registry: a handle of ours that was dropped without close().
    if (Number.isInteger(pid) && pid !== me) {
      const alive = fs.processAlive(pid);
      if (alive !== false) throw new WalLockedError(path, pid, alive === "unknown");
    }
    try {
      fs.remove(path);
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
  }
  throw new WalLockedError(path, NaN);
}
