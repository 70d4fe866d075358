/**
 * The file-system adapter for runtimes with `node:fs`: Node and Bun (Deno uses `deno_fs.ts`).
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import type { OpenWriteOptions, WalFile, WalFileSystem } from "./types.ts";
import { errorCode } from "./types.ts";
import { tryLockFile } from "./file_lock.ts";

const isWindows = process.platform === "win32";

class NodeFile implements WalFile {
  #fd: number;
  // Where append writes: handles are opened without O_APPEND, because Linux ignores pwrite's position under it.
  #end: number;
  constructor(fd: number) {
    this.#fd = fd;
    this.#end = fs.fstatSync(fd).size;
  }
  append(data: Uint8Array): void {
    this.writeAt(data, this.#end);
  }
  writeAt(data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) {
      // A short write is continued, never treated as success.
      done += fs.writeSync(this.#fd, data, done, data.length - done, position + done);
    }
    if (position + done > this.#end) this.#end = position + done;
  }
  read(into: Uint8Array, position: number): number {
    let done = 0;
    while (done < into.length) {
      const n = fs.readSync(this.#fd, into, done, into.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  datasync(): void {
    fs.fdatasyncSync(this.#fd);
  }
  datasyncAsync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.#fd, (e) => (e ? reject(e) : resolve())));
  }
  size(): number {
    return fs.fstatSync(this.#fd).size;
  }
  truncate(length: number): void {
    fs.ftruncateSync(this.#fd, length);
    this.#end = length;
  }
  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** The `node:fs` implementation of {@link WalFileSystem}. */
export const nodeFileSystem: WalFileSystem = {
  join: (dir, name) => path.join(dir, name),
  realPath: (p) => fs.realpathSync(p),
  mkdirp: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  list: (dir) => fs.readdirSync(dir),
  exists: (p) => fs.existsSync(p),
  openRead: (p) => new NodeFile(fs.openSync(p, "r")),
  openWrite(p: string, options: OpenWriteOptions) {
    const { O_RDWR, O_CREAT, O_EXCL } = fs.constants;
    const flags = O_RDWR | (options.exclusive ? O_CREAT | O_EXCL : options.create ? O_CREAT : 0);
    return new NodeFile(fs.openSync(p, flags, 0o644));
  },
  readFile: (p) => new Uint8Array(fs.readFileSync(p)),
  rename: (from, to) => fs.renameSync(from, to),
  fileKind(p: string) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st === undefined) return "missing";
    return st.isFile() ? "file" : st.isDirectory() ? "directory" : "other";
  },
  remove: (p) => fs.unlinkSync(p),
  syncDir(dir: string) {
    // Windows has no directory fsync; NTFS journals the metadata of a rename itself.
    if (isWindows) return;
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  pid: () => process.pid,
  processAlive(pid: number) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return errorCode(e) !== "ESRCH";
    }
  },
  lockFile: tryLockFile,
  watch(dir: string, onChange: () => void) {
    try {
      const watcher = fs.watch(dir, { persistent: true }, () => onChange());
      // A watcher that fails later (the directory removed, a limit reached) just goes quiet: followers poll too.
      watcher.on("error", () => {});
      return { close: () => watcher.close() };
    } catch {
      return null;
    }
  },
};
