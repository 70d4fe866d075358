/**
 * The directory lock's kernel lock on Deno: `FsFile.tryLockSync` (flock; LockFileEx on Windows), the same kind
 * Node and Bun take in `file_lock.ts`, so that processes of all three runtimes exclude one another. Apart from
 * that file so that Deno never loads `node:fs` and `node:module` for it.
 *
 * @module
 */

import type { WalFileLock } from "./types.ts";
import { codeError, LOCK_ATTEMPTS as ATTEMPTS, notRegular } from "./lock_common.ts";

/** The part of `Deno.FsFile` the lock uses. */
interface DenoLockFile {
  tryLockSync(exclusive?: boolean): boolean;
  statSync(): { ino: number | null; dev: number; isFile: boolean };
  writeSync(p: Uint8Array): number;
  seekSync(offset: number, whence: number): number;
  truncateSync(len?: number): void;
  close(): void;
}

/** The part of the `Deno` namespace the lock uses. */
interface DenoLockApi {
  openSync(path: string, options: Record<string, boolean>): DenoLockFile;
  statSync(path: string): { ino: number | null; dev: number };
  lstatSync(path: string): { isFile: boolean; isSymlink: boolean; isDirectory: boolean };
  removeSync(path: string): void;
  errors: { AlreadyExists: new (...args: never[]) => Error; NotFound: new (...args: never[]) => Error };
}

/** Locks through `Deno.FsFile`. */
function lockWithDeno(deno: DenoLockApi, path: string): WalFileLock | null {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let before: { isFile: boolean; isSymlink: boolean; isDirectory: boolean } | null = null;
    try {
      before = deno.lstatSync(path);
    } catch (e) {
      if (!(e instanceof deno.errors.NotFound)) throw e;
    }
    if (before !== null && !before.isFile) {
      throw notRegular(path, before.isSymlink ? "a symbolic link" : before.isDirectory ? "a directory" : "a special file");
    }
    let created = true;
    let file: DenoLockFile;
    try {
      file = deno.openSync(path, { read: true, write: true, createNew: true });
    } catch (e) {
      if (!(e instanceof deno.errors.AlreadyExists)) throw e;
      created = false;
      try {
        file = deno.openSync(path, { read: true, write: true });
      } catch (e2) {
        if (e2 instanceof deno.errors.NotFound) continue;
        throw e2;
      }
    }
    if (!file.statSync().isFile) {
      file.close();
      throw notRegular(path, "a special file");
    }
    let locked = false;
    try {
      locked = file.tryLockSync(true);
    } finally {
      if (!locked) file.close();
    }
    if (!locked) return null;
    // As on Node: the file may have been removed between our open and our lock (ino is null on Windows).
    let now: { ino: number | null; dev: number } | null = null;
    try {
      now = deno.statSync(path);
    } catch (e) {
      if (!(e instanceof deno.errors.NotFound)) throw e;
    }
    const mine = file.statSync();
    if (now === null || now.ino !== mine.ino || now.dev !== mine.dev) {
      file.close();
      continue;
    }
    return denoLockHandle(deno, file, path, created);
  }
  throw codeError("ENOLCK", `the lock file ${path} kept being replaced while it was being locked`);
}

function denoLockHandle(deno: DenoLockApi, file: DenoLockFile, path: string, created: boolean): WalFileLock {
  let open = true;
  return {
    created,
    current() {
      try {
        const now = deno.statSync(path);
        const mine = file.statSync();
        return now.ino === mine.ino && now.dev === mine.dev;
      } catch (e) {
        if (e instanceof deno.errors.NotFound) return false;
        throw e;
      }
    },
    write(data) {
      // Overwrite, then cut: truncating to zero first would make ext4 flush the file on close (auto_da_alloc).
      file.seekSync(0, 0);
      let done = 0;
      while (done < data.length) done += file.writeSync(data.subarray(done));
      file.truncateSync(data.length);
    },
    release(remove = false) {
      if (!open) return;
      open = false;
      try {
        if (remove) {
          try {
            deno.removeSync(path);
          } catch (e) {
            if (!(e instanceof deno.errors.NotFound)) throw e;
          }
        }
      } finally {
        file.close();
      }
    },
  };
}

/**
 * Creates `path` if missing and takes an exclusive kernel lock on it without waiting; null if another open of
 * the file (any thread, process or path) holds it. Throws when no lock can be had at all (the caller must not go
 * on unlocked).
 */
export function tryLockFileDeno(path: string): WalFileLock | null {
  return lockWithDeno((globalThis as unknown as { Deno: DenoLockApi }).Deno, path);
}
