/**
 * The kernel lock behind the directory lock, the same kind on every runtime so that Deno, Bun and Node
 * processes exclude one another: `flock(2)` on Linux and macOS, `LockFileEx` on Windows.
 *
 * - Deno: `FsFile.tryLockSync` (flock / LockFileEx); no extra permission. In `deno_lock.ts`, so that Deno never
 *   loads `node:fs` and `node:module` for it (about 9 ms of a fresh process's first open).
 * - Bun: libc's `flock` through `bun:ffi` (Windows: the Node addon, untested).
 * - Node: the prebuilt addon `fs-ext-extra-prebuilt`, whose `flockSync` calls flock (LockFileEx on Windows).
 *
 * flock belongs to the open file description, not to the process: two worker threads (or two handles of one
 * thread) that each open the file exclude each other, where POSIX `fcntl` locks (and SQLite's, built on them)
 * would let every thread of the owning process in. The kernel drops the lock when the last descriptor of that
 * open closes, including when the process dies, whatever its pid or PID namespace. Descriptors are opened
 * close-on-exec (all three runtimes do), so a child process does not inherit the lock.
 *
 * @module
 */

import * as fs from "node:fs";
import { createRequire } from "node:module";
import process from "node:process";
import { runtime } from "./runtime.ts";
import type { WalFileLock } from "./types.ts";
import { errorCode } from "./types.ts";
import { codeError, LOCK_ATTEMPTS as ATTEMPTS, notRegular } from "./lock_common.ts";
import { tryLockFileDeno } from "./deno_lock.ts";

/** Tries flock(LOCK_EX | LOCK_NB) on a descriptor: true if taken, false if another holder has it. */
type TryLockFd = (fd: number) => boolean;

const LOCK_EX = 2;
const LOCK_NB = 4;

let cachedTryLockFd: TryLockFd | undefined;

/** The per-runtime flock for `node:fs` descriptors, loaded on first use. */
function tryLockFd(): TryLockFd {
  if (cachedTryLockFd !== undefined) return cachedTryLockFd;
  const require = createRequire(import.meta.url);
  if (runtime === "bun" && process.platform !== "win32") {
    cachedTryLockFd = bunFlock(require);
  } else {
    cachedTryLockFd = addonFlock(require);
  }
  return cachedTryLockFd;
}

/** The part of `bun:ffi` used here. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: { flock(fd: number, op: number): number; errnoPtr(): unknown } };
  read: { i32(ptr: unknown, offset: number): number };
}

function bunFlock(require: (id: string) => unknown): TryLockFd {
  const ffi = require("bun:ffi") as BunFfi;
  const darwin = process.platform === "darwin";
  // glibc names errno's location __errno_location, musl too; macOS names it __error.
  const errnoName = darwin ? "__error" : "__errno_location";
  const candidates = darwin ? ["libc.dylib", "/usr/lib/libSystem.B.dylib"] : ["libc.so.6", "libc.so"];
  let lib: ReturnType<BunFfi["dlopen"]> | undefined;
  let lastError: unknown;
  for (const name of candidates) {
    try {
      const opened = ffi.dlopen(name, {
        flock: { args: ["i32", "i32"], returns: "i32" },
        [errnoName]: { args: [], returns: "ptr" },
      }) as unknown as { symbols: Record<string, (...args: number[]) => unknown> };
      lib = {
        symbols: {
          flock: (fd, op) => opened.symbols.flock(fd, op) as number,
          errnoPtr: () => opened.symbols[errnoName](),
        },
      };
      break;
    } catch (e) {
      lastError = e;
    }
  }
  if (lib === undefined) throw codeError("ENOLCK", `cannot load libc's flock through bun:ffi (${lastError})`, lastError);
  const found = lib;
  const wouldBlock = darwin ? 35 : 11;
  return (fd) => {
    if (found.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const errno = ffi.read.i32(found.symbols.errnoPtr(), 0);
    if (errno === wouldBlock) return false;
    throw codeError(errno === 37 || errno === 77 ? "ENOLCK" : `errno ${errno}`, "flock failed");
  };
}

/** The part of `fs-ext-extra-prebuilt` used here. */
interface FsExt {
  flockSync(fd: number, flags: "exnb"): number;
}

function addonFlock(require: (id: string) => unknown): TryLockFd {
  let addon: FsExt;
  try {
    addon = require("fs-ext-extra-prebuilt") as FsExt;
  } catch (e) {
    throw codeError(
      "ENOLCK",
      `cannot load the file-lock addon fs-ext-extra-prebuilt (no prebuilt binary for ${process.platform}-` +
        `${process.arch}, Node ${process.versions.node}?): ${e instanceof Error ? e.message : e}`,
      e,
    );
  }
  return (fd) => {
    try {
      addon.flockSync(fd, "exnb");
      return true;
    } catch (e) {
      const code = errorCode(e);
      if (code === "EAGAIN" || code === "EWOULDBLOCK") return false;
      throw e;
    }
  };
}

/** Locks through `node:fs` descriptors (Node and Bun). */
/** What a path that is not a regular file is, for the error message. */
function kindOf(st: { isSymbolicLink(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "a device or other special file";
}

function lockWithNodeFs(path: string): WalFileLock | null {
  const tryLock = tryLockFd();
  // O_NOFOLLOW refuses a symbolic link at open itself; O_NONBLOCK keeps a FIFO from blocking the open.
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW = 0, O_NONBLOCK = 0 } = fs.constants as typeof fs.constants & {
    O_NOFOLLOW?: number;
    O_NONBLOCK?: number;
  };
  const special = O_NOFOLLOW | O_NONBLOCK;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const before = fs.lstatSync(path, { throwIfNoEntry: false });
    if (before !== undefined && !before.isFile()) throw notRegular(path, kindOf(before));
    let created = true;
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDWR | O_CREAT | O_EXCL | special, 0o644);
    } catch (e) {
      if (errorCode(e) !== "EEXIST") throw e;
      created = false;
      try {
        fd = fs.openSync(path, O_RDWR | special);
      } catch (e2) {
        if (errorCode(e2) === "ENOENT") continue; // removed between the two opens
        if (errorCode(e2) === "ELOOP") throw notRegular(path, "a symbolic link");
        throw e2;
      }
    }
    const opened = fs.fstatSync(fd);
    if (!opened.isFile()) {
      fs.closeSync(fd);
      throw notRegular(path, kindOf(opened));
    }
    let locked = false;
    try {
      locked = tryLock(fd);
    } finally {
      if (!locked) fs.closeSync(fd);
    }
    if (!locked) return null;
    // A failed open that created the file removes it while holding the lock; whoever opened the file before
    // that and locks it after holds a lock on a removed file, and must start over on the new one.
    const now = fs.statSync(path, { throwIfNoEntry: false });
    const mine = fs.fstatSync(fd);
    if (now === undefined || now.ino !== mine.ino || now.dev !== mine.dev) {
      fs.closeSync(fd);
      continue;
    }
    return nodeLockHandle(fd, path, created);
  }
  throw codeError("ENOLCK", `the lock file ${path} kept being replaced while it was being locked`);
}

function nodeLockHandle(fd: number, path: string, created: boolean): WalFileLock {
  let open = true;
  return {
    created,
    current() {
      const now = fs.statSync(path, { throwIfNoEntry: false });
      const mine = fs.fstatSync(fd);
      return now !== undefined && now.ino === mine.ino && now.dev === mine.dev;
    },
    write(data) {
      // Overwrite, then cut: truncating to zero first would make ext4 flush the file on close (auto_da_alloc).
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, done);
      fs.ftruncateSync(fd, data.length);
    },
    release(remove = false) {
      if (!open) return;
      open = false;
      try {
        if (remove) fs.rmSync(path, { force: true });
      } finally {
        // Closing the only descriptor of this open drops the flock.
        fs.closeSync(fd);
      }
    },
  };
}

/**
 * Creates `path` if missing and takes an exclusive kernel lock on it without waiting (on Deno through
 * `deno_lock.ts`); null if another open of the file (any thread, process or path) holds it. Throws (code `ENOLCK`
 * or the OS's) when no lock can be had at all, for example on a file system without lock support: the caller
 * must not go on unlocked.
 */
export function tryLockFile(path: string): WalFileLock | null {
  // On Deno (a `node:fs` file system passed as the `fs` option), Deno's own lock: the addon is not for Deno.
  if (runtime === "deno") return tryLockFileDeno(path);
  return lockWithNodeFs(path);
}
