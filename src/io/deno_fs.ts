/**
 * The Deno-native file-system adapter. Loaded only on Deno (see `default.ts`), so Node and Bun never parse it.
 * Needs `--allow-read` and `--allow-write` for the log directory.
 *
 * @module
 */

import type { OpenWriteOptions, WalFile, WalFileSystem } from "./types.ts";
import { tryLockFileDeno as tryLockFile } from "./deno_lock.ts";

/** The part of `Deno.FsFile` this adapter uses, declared here so the sources type-check on every runtime. */
interface DenoFile {
  writeSync(p: Uint8Array): number;
  readSync(p: Uint8Array): number | null;
  seekSync(offset: number, whence: number): number;
  syncDataSync(): void;
  syncData(): Promise<void>;
  syncSync(): void;
  statSync(): { size: number };
  truncateSync(len?: number): void;
  close(): void;
}

/** The part of the `Deno` namespace this adapter uses. */
interface DenoApi {
  openSync(path: string, options: Record<string, boolean>): DenoFile;
  readFileSync(path: string): Uint8Array;
  renameSync(from: string, to: string): void;
  removeSync(path: string): void;
  readDirSync(path: string): Iterable<{ name: string }>;
  mkdirSync(path: string, options: { recursive: boolean }): void;
  realPathSync(path: string): string;
  statSync(path: string): { isFile: boolean; isDirectory: boolean };
  watchFs(path: string, options: { recursive: boolean }): AsyncIterable<unknown> & { close(): void };
  pid: number;
  build: { os: string };
  kill(pid: number, signal: number): void;
  errors: {
    NotFound: new (...args: never[]) => Error;
    NotCapable: new (...args: never[]) => Error;
    PermissionDenied: new (...args: never[]) => Error;
  };
}

const SEEK_START = 0;

/** The part of `node:fs` used for positioned reads. */
interface NodePread {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fstatSync(fd: number): { ino: number | bigint; dev: number | bigint; size: number | bigint };
  closeSync(fd: number): void;
}

let nodePread: NodePread | null | undefined;

/**
 * `node:fs`, loaded on the first read at a position other than the file's cursor: Deno has no positioned read of
 * its own, and a seek plus a read is two system calls where `read(seq)` wants one. Loaded on demand (about 6 ms
 * once per process) so that opening a log never pays for it.
 */
function positionalReads(): NodePread | null {
  if (nodePread === undefined) {
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    nodePread = (process?.getBuiltinModule?.("node:fs") as NodePread | undefined) ?? null;
  }
  return nodePread;
}

function deno(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

class DenoWalFile implements WalFile {
  #file: DenoFile;
  #end: number;
  // The file's cursor as this handle last left it: sequential writes need no seek.
  #cursor = 0;
  /** A read-only file's path, for a second descriptor that reads at positions (see `positionalReads`). */
  #path: string | null;
  /** That descriptor: -1 before the first random read, -2 when it cannot be had (then seek + read). */
  #fd = -1;
  constructor(file: DenoFile, readOnlyPath: string | null = null) {
    this.#file = file;
    this.#end = file.statSync().size;
    this.#path = readOnlyPath;
  }
  /**
   * The positioned-read descriptor of the same file, opened on first use; -2 if there is none. Once it is open,
   * the Deno handle is closed and every read goes through it: one descriptor per file, as before.
   */
  #positional(): number {
    if (this.#fd !== -1) return this.#fd;
    this.#fd = -2;
    const fs = positionalReads();
    if (fs === null || this.#path === null) return -2;
    // First (a closed handle throws here, before anything is opened), then the path, which may be gone by now.
    const mine = this.#file.statSync() as { ino?: number | null; dev?: number };
    let fd: number;
    try {
      fd = fs.openSync(this.#path, "r");
    } catch {
      return -2;
    }
    let theirs: { ino: number | bigint; dev: number | bigint };
    try {
      theirs = fs.fstatSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // The path may name another file by now (a segment removed and created again): then no shortcut.
    if (mine.ino === undefined || mine.ino === null || Number(theirs.ino) !== mine.ino || Number(theirs.dev) !== mine.dev) {
      fs.closeSync(fd);
      return -2;
    }
    this.#fd = fd;
    this.#file.close();
    return fd;
  }
  #seek(position: number): void {
    if (position !== this.#cursor) this.#cursor = this.#file.seekSync(position, SEEK_START);
  }
  append(data: Uint8Array): void {
    this.writeAt(data, this.#end);
  }
  writeAt(data: Uint8Array, position: number): void {
    this.#seek(position);
    let done = 0;
    try {
      while (done < data.length) done += this.#file.writeSync(data.subarray(done));
    } finally {
      this.#cursor = position + done;
      if (this.#cursor > this.#end) this.#end = this.#cursor;
    }
  }
  read(into: Uint8Array, position: number): number {
    if (this.#fd >= 0 || (position !== this.#cursor && this.#path !== null)) {
      const fd = this.#positional();
      if (fd >= 0) {
        const fs = nodePread as NodePread;
        let done = 0;
        while (done < into.length) {
          const n = fs.readSync(fd, into, done, into.length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return done;
      }
    }
    this.#seek(position);
    let done = 0;
    try {
      while (done < into.length) {
        const n = this.#file.readSync(into.subarray(done));
        if (n === null || n === 0) break;
        done += n;
      }
    } finally {
      this.#cursor = position + done;
    }
    return done;
  }
  datasync(): void {
    this.#file.syncDataSync();
  }
  datasyncAsync(): Promise<void> {
    return this.#file.syncData();
  }
  size(): number {
    if (this.#fd >= 0) return Number((nodePread as NodePread).fstatSync(this.#fd).size);
    return this.#file.statSync().size;
  }
  truncate(length: number): void {
    this.#file.truncateSync(length);
    this.#end = length;
  }
  close(): void {
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -2;
      (nodePread as NodePread).closeSync(fd);
      return;
    }
    this.#file.close();
  }
}

/** Creates the Deno implementation of {@link WalFileSystem}; call only on Deno. */
export function createDenoFileSystem(): WalFileSystem {
  const D = deno();
  const isWindows = D.build.os === "windows";
  const sep = isWindows ? "\\" : "/";
  return {
    join: (dir, name) => (dir.endsWith("/") || dir.endsWith(sep) ? dir + name : dir + sep + name),
    realPath: (p) => D.realPathSync(p),
    mkdirp: (dir) => D.mkdirSync(dir, { recursive: true }),
    list: (dir) => Array.from(D.readDirSync(dir), (e) => e.name),
    exists(p: string) {
      try {
        D.statSync(p);
        return true;
      } catch (e) {
        if (e instanceof D.errors.NotFound) return false;
        throw e;
      }
    },
    openRead: (p) => new DenoWalFile(D.openSync(p, { read: true }), p),
    openWrite(p: string, options: OpenWriteOptions) {
      const flags: Record<string, boolean> = options.exclusive
        ? { read: true, write: true, createNew: true }
        : { read: true, write: true, create: options.create };
      return new DenoWalFile(D.openSync(p, flags));
    },
    readFile: (p) => D.readFileSync(p),
    rename: (from, to) => D.renameSync(from, to),
    fileKind(p: string) {
      try {
        const st = D.statSync(p);
        return st.isFile ? "file" : st.isDirectory ? "directory" : "other";
      } catch (e) {
        if (e instanceof D.errors.NotFound) return "missing";
        throw e;
      }
    },
    remove: (p) => D.removeSync(p),
    syncDir(dir: string) {
      if (isWindows) return;
      const f = D.openSync(dir, { read: true });
      try {
        f.syncSync();
      } finally {
        f.close();
      }
    },
    pid: () => D.pid,
    processAlive(pid: number): boolean | "unknown" {
      // Signal 0 probes without signalling; for another process Deno requires --allow-run.
      try {
        D.kill(pid, 0);
        return true;
      } catch (e) {
        if (e instanceof D.errors.NotFound) return false;
        if (e instanceof D.errors.NotCapable || e instanceof D.errors.PermissionDenied) return "unknown";
        return true;
      }
    },
    lockFile: tryLockFile,
    watch(dir: string, onChange: () => void) {
      let watcher: AsyncIterable<unknown> & { close(): void };
      try {
        watcher = D.watchFs(dir, { recursive: false });
      } catch {
        return null;
      }
      (async () => {
        for await (const _ of watcher) onChange();
      })().catch(() => {
        // A watcher that fails just goes quiet: followers poll too.
      });
      return {
        close: () => {
          try {
            watcher.close();
          } catch {
            // already closed
          }
        },
      };
    },
  };
}
