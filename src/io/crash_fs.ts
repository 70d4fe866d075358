/**
 * A crash-simulating, in-memory {@link WalFileSystem} for tests.
 *
 * It behaves like a normal file system while recording every change in {@link CrashFileSystem.history}: file
 * creations, appends, truncates, datasyncs, renames, removals and directory syncs. `crashState(point)` then
 * describes the disk as a power cut after the first `point` events could leave it, and `materialize` builds that
 * disk as a new, independent `CrashFileSystem` that a log can be opened on.
 *
 * The durability model (deliberately at least as harsh as ext4/xfs with default options):
 * - A file's content is durable up to its last `datasync`. Its later writes and truncates (in order) may survive
 *   in any prefix: all lost, all kept, or torn at any byte; a torn tail may also be followed by zero bytes (the
 *   size reached the disk, the data did not). A truncate counts as one unit of that prefix.
 * - Within the surviving prefix, any subset of the unsynced writes' pages may still be lost: the page cache
 *   writes pages back in any order, and a kernel crash can persist a later page of a write without an earlier
 *   one. A write is cut into pieces at the file's page boundaries (`pageSize`, default 4096); a lost piece reads
 *   as what was there before the write (zeros where the write extended the file).
 * - A directory's entries are durable up to its last `syncDir`. Each later creation, rename or removal in it may
 *   or may not have happened, independently of the others.
 * - Directories themselves (`mkdirp`) are durable at once; renames work within one directory only.
 *
 * Faults can be injected with {@link CrashFileSystem.inject}: the Nth append or datasync fails with an error
 * carrying `code` (`ENOSPC`, `EIO`, ...). A failed datasync makes nothing durable; a failed append may first
 * write some bytes (a short write). Nothing here reads the clock or `Math.random`: given a seed and the same
 * calls, every result is the same.
 *
 * @example
 * ```ts
 * import { CrashFileSystem } from "./crash_fs.ts";
 * import { WriteAheadLog } from "../../mod.ts";
 * const fs = new CrashFileSystem({ seed: 1 });
 * const wal = await WriteAheadLog.open("/log", { fs });
 * await wal.append("PUT", "k", "v");
 * const state = fs.crashState(fs.history.length - 1); // just before the append's fdatasync
 * const disk = state.materialize({ keep: state.files.map(() => 0) }); // the unsynced bytes were lost
 * const after = await WriteAheadLog.open("/log", { fs: disk });
 * ```
 *
 * @module
 */

import type { OpenWriteOptions, WalFile, WalFileLock, WalFileSystem } from "./types.ts";

/** One recorded change. `inode` identifies a file across renames; `path` is the name it was reached by. */
export type CrashEvent =
  | { op: "create"; path: string; inode: number }
  | { op: "append"; path: string; inode: number; position: number; data: Uint8Array }
  | { op: "write"; path: string; inode: number; position: number; data: Uint8Array }
  | { op: "truncate"; path: string; inode: number; length: number }
  | { op: "datasync"; path: string; inode: number }
  | { op: "rename"; path: string; to: string; inode: number }
  | { op: "remove"; path: string; inode: number }
  | { op: "syncDir"; path: string }
  | { op: "failed"; path: string; call: "append" | "datasync"; code: string };

/** A fault to inject: the `nth` matching call (1-based, counted from `inject`) throws an error with `code`. */
export interface Fault {
  /** Which call fails ("append" counts positional writes too). */
  op: "append" | "datasync";
  /** The nth matching call fails (1 = the next one). */
  nth: number;
  /** The error's `code`, e.g. "ENOSPC" or "EIO". */
  code: string;
  /** Only calls on files whose path contains this string count. */
  pathIncludes?: string;
  /** append only: bytes written before the error (a short write). Default 0. */
  partial?: number;
  /** Every matching call from the nth on fails, not just the nth (a dead disk). Default false. */
  sticky?: boolean;
}

/** Options of {@link CrashFileSystem}. */
export interface CrashFileSystemOptions {
  /** Seed of the generator behind `random` and `CrashState.randomChoice`. Default 1. */
  seed?: number;
  /** What `pid()` returns. Default 1000. Every other pid counts as a dead process. */
  pid?: number;
  /** Bytes per page: the unit in which unsynced writes may reach the disk out of order. Default 4096. */
  pageSize?: number;
}

/** A file whose content has a part no datasync covered at the crash point. */
export interface UnsyncedFile {
  /** The file (the path it was last written by). */
  path: string;
  /** Units of unsynced change: bytes of unsynced writes plus one per unsynced truncate. */
  units: number;
  /** Pieces of unsynced writes, each within one page: what `CrashChoice.lost` indexes. */
  pages: number;
}

/** A directory change no syncDir covered at the crash point. */
export interface PendingDirOp {
  op: "create" | "rename" | "remove";
  path: string;
  to?: string;
}

/** Which of the uncertain changes survive a crash. Missing entries mean "lost". */
export interface CrashChoice {
  /** Per entry of `CrashState.files`: how many unsynced units survive (clamped to 0..units). */
  keep?: readonly number[];
  /** Per entry of `CrashState.files`: zero bytes after the surviving units (at most the lost append bytes). */
  zeros?: readonly number[];
  /** Per entry of `CrashState.dirOps`: whether the change reached the disk. */
  applied?: readonly boolean[];
  /**
   * Per entry of `CrashState.files`: indexes (0..pages-1, in write order) of the page pieces of its unsynced
   * writes that did not reach the disk, although writes after them did.
   */
  lost?: readonly (readonly number[] | undefined)[];
}

/** A small seeded generator (mulberry32): returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An Error carrying an OS-style `code`, like the ones node:fs and Deno throw. */
export function fsError(code: string, call: string, path: string): Error & { code: string } {
  return Object.assign(new Error(`${code}: ${call} '${path}'`), { code });
}

class Inode {
  data = new Uint8Array(64);
  size = 0;
  readonly id: number;
  constructor(id: number) {
    this.id = id;
  }
  write(bytes: Uint8Array): void {
    if (this.size + bytes.length > this.data.length) {
      const bigger = new Uint8Array(Math.max(this.data.length * 2, this.size + bytes.length));
      bigger.set(this.data.subarray(0, this.size));
      this.data = bigger;
    }
    this.data.set(bytes, this.size);
    this.size += bytes.length;
  }
  writeAt(position: number, bytes: Uint8Array): void {
    if (position > this.size) this.write(new Uint8Array(position - this.size));
    const overlap = Math.min(bytes.length, this.size - position);
    this.data.set(bytes.subarray(0, overlap), position);
    if (overlap < bytes.length) this.write(bytes.subarray(overlap));
  }
  cut(length: number): void {
    if (length > this.size) this.write(new Uint8Array(length - this.size));
    else this.data.fill(0, length, this.size); // so that a later extension reads zeros
    this.size = Math.min(this.size, length);
  }
  content(): Uint8Array {
    return this.data.slice(0, this.size);
  }
}

type FileOp = Extract<CrashEvent, { op: "append" | "write" | "truncate" }>;
type DirOp = Extract<CrashEvent, { op: "create" | "rename" | "remove" }>;

function splitPath(path: string): [string, string] {
  const at = path.lastIndexOf("/");
  if (at <= 0) return ["/", path.slice(at + 1)];
  return [path.slice(0, at), path.slice(at + 1)];
}

function normalize(path: string): string {
  // The log's own paths are already canonical; skip the split for them.
  if (path.startsWith("/") && !path.endsWith("/") && !path.includes("//") && !path.includes("/.")) return path;
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return "/" + parts.join("/");
}

let instances = 0;

/** The in-memory, crash-recording file system. See the module documentation for the model. */
export class CrashFileSystem implements WalFileSystem {
  /** Every change since this file system was created, in order. A crash point is an index into it. */
  readonly history: CrashEvent[] = [];
  /** The seeded generator; tests may draw from it to stay reproducible. */
  readonly random: () => number;

  #id = ++instances;
  #pid: number;
  /** Bytes per page of the crash model. */
  readonly pageSize: number;
  #nextInode = 1;
  #dirs = new Map<string, Map<string, Inode>>();
  // The durable starting point: what a crash at point 0 leaves.
  #baseDirs = new Map<string, Map<string, number>>();
  #baseContent = new Map<number, Uint8Array>();
  #faults: { fault: Fault; seen: number }[] = [];
  // Inodes locked through lockFile. Not part of the disk: a materialized disk starts with none, as after a crash.
  #locks = new Set<number>();

  /** An empty disk. */
  constructor(options: CrashFileSystemOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.#pid = options.pid ?? 1000;
    this.pageSize = options.pageSize ?? 4096;
  }

  /** A new file system whose durable starting state is `files` (path to content) plus the directories listed. */
  static from(
    files: ReadonlyMap<string, Uint8Array>,
    dirs: Iterable<string> = [],
    options?: CrashFileSystemOptions,
  ): CrashFileSystem {
    const fs = new CrashFileSystem(options);
    for (const dir of dirs) fs.mkdirp(dir);
    for (const [path, content] of files) {
      const [dir, name] = splitPath(normalize(path));
      fs.mkdirp(dir);
      const inode = new Inode(fs.#nextInode++);
      inode.write(content);
      fs.#dirs.get(dir)!.set(name, inode);
    }
    fs.#resetBase();
    return fs;
  }

  /** Every file (full path to a copy of its current content) and every directory. */
  snapshot(): { files: Map<string, Uint8Array>; dirs: string[] } {
    const files = new Map<string, Uint8Array>();
    for (const [dir, entries] of this.#dirs) {
      for (const [name, inode] of entries) files.set(this.join(dir, name), inode.content());
    }
    return { files, dirs: [...this.#dirs.keys()] };
  }

  /** A copy of this disk as it is now (no crash), with an empty history. */
  clone(options?: CrashFileSystemOptions): CrashFileSystem {
    const { files, dirs } = this.snapshot();
    return CrashFileSystem.from(files, dirs, options ?? { pid: this.#pid, pageSize: this.pageSize });
  }

  /** Replaces a file's content without recording anything: for tests that damage files. */
  overwrite(path: string, content: Uint8Array): void {
    const inode = this.#lookup(normalize(path), "overwrite");
    inode.size = 0;
    inode.write(content);
  }

  /** Adds a fault; see {@link Fault}. */
  inject(fault: Fault): void {
    this.#faults.push({ fault, seen: 0 });
  }

  /** Removes every injected fault. */
  clearFaults(): void {
    this.#faults = [];
  }

  /** Makes everything as it is now the durable starting state and forgets the history. */
  #resetBase(): void {
    this.history.length = 0;
    this.#baseDirs = new Map();
    this.#baseContent = new Map();
    for (const [dir, entries] of this.#dirs) {
      const names = new Map<string, number>();
      for (const [name, inode] of entries) {
        names.set(name, inode.id);
        this.#baseContent.set(inode.id, inode.content());
      }
      this.#baseDirs.set(dir, names);
    }
  }

  /** The disk a crash after the first `point` events of {@link history} could leave, as a set of choices. */
  crashState(point: number): CrashState {
    if (!Number.isInteger(point) || point < 0 || point > this.history.length) {
      throw new RangeError(`no crash point ${point}`);
    }
    const files = new Map<number, { path: string; ops: FileOp[]; synced: number }>();
    const dirs = new Map<string, { ops: DirOp[]; synced: number }>();
    for (const [id] of this.#baseContent) files.set(id, { path: "", ops: [], synced: 0 });
    for (const dir of this.#baseDirs.keys()) dirs.set(dir, { ops: [], synced: 0 });
    const dirOf = (dir: string) => {
      let d = dirs.get(dir);
      if (d === undefined) dirs.set(dir, d = { ops: [], synced: 0 });
      return d;
    };
    for (let i = 0; i < point; i++) {
      const e = this.history[i];
      switch (e.op) {
        case "create":
          files.set(e.inode, { path: e.path, ops: [], synced: 0 });
          dirOf(splitPath(e.path)[0]).ops.push(e);
          break;
        case "append":
        case "write":
        case "truncate": {
          const f = files.get(e.inode)!;
          f.ops.push(e);
          f.path = e.path;
          break;
        }
        case "datasync": {
          const f = files.get(e.inode)!;
          f.synced = f.ops.length;
          break;
        }
        case "rename":
        case "remove":
          dirOf(splitPath(e.path)[0]).ops.push(e);
          break;
        case "syncDir": {
          const d = dirOf(e.path);
          d.synced = d.ops.length;
          break;
        }
      }
    }
    return new CrashState(this, point, files, dirs, this.#baseDirs, this.#baseContent);
  }

  #entries(dir: string, call: string): Map<string, Inode> {
    const entries = this.#dirs.get(dir);
    if (entries === undefined) throw fsError("ENOENT", call, dir);
    return entries;
  }

  #lookup(path: string, call: string): Inode {
    const [dir, name] = splitPath(path);
    const inode = this.#entries(dir, call).get(name);
    if (inode === undefined) throw fsError("ENOENT", call, path);
    return inode;
  }

  /** Counts a call against the faults; returns the fault that fires, if one does. */
  #fault(op: Fault["op"], path: string): Fault | undefined {
    let firing: Fault | undefined;
    for (const f of this.#faults) {
      if (f.fault.op !== op || (f.fault.pathIncludes !== undefined && !path.includes(f.fault.pathIncludes))) continue;
      f.seen++;
      if (f.seen === f.fault.nth || (f.fault.sticky === true && f.seen > f.fault.nth)) firing ??= f.fault;
    }
    return firing;
  }

  #file(path: string, inode: Inode, writable: boolean): WalFile {
    let open = true;
    const check = (call: string) => {
      if (!open) throw fsError("EBADF", call, path);
    };
    const readOnly = (call: string) => {
      check(call);
      if (!writable) throw fsError("EBADF", call, path);
    };
    return {
      append: (data) => {
        readOnly("write");
        const fault = this.#fault("append", path);
        const bytes = data.slice(0, fault === undefined ? data.length : Math.min(fault.partial ?? 0, data.length));
        if (bytes.length > 0) {
          this.history.push({ op: "append", path, inode: inode.id, position: inode.size, data: bytes });
          inode.write(bytes);
        }
        if (fault !== undefined) {
          this.history.push({ op: "failed", path, call: "append", code: fault.code });
          throw fsError(fault.code, "write", path);
        }
      },
      writeAt: (data, position) => {
        readOnly("pwrite");
        if (position > inode.size) throw fsError("EINVAL", "pwrite past the end", path);
        const fault = this.#fault("append", path);
        const bytes = data.slice(0, fault === undefined ? data.length : Math.min(fault.partial ?? 0, data.length));
        if (bytes.length > 0) {
          this.history.push({ op: "write", path, inode: inode.id, position, data: bytes });
          inode.writeAt(position, bytes);
        }
        if (fault !== undefined) {
          this.history.push({ op: "failed", path, call: "append", code: fault.code });
          throw fsError(fault.code, "pwrite", path);
        }
      },
      read: (into, position) => {
        check("read");
        const n = Math.max(0, Math.min(into.length, inode.size - position));
        into.set(inode.data.subarray(position, position + n));
        return n;
      },
      datasync: () => {
        check("fdatasync");
        const fault = this.#fault("datasync", path);
        if (fault !== undefined) {
          this.history.push({ op: "failed", path, call: "datasync", code: fault.code });
          throw fsError(fault.code, "fdatasync", path);
        }
        this.history.push({ op: "datasync", path, inode: inode.id });
      },
      size: () => {
        check("fstat");
        return inode.size;
      },
      truncate: (length) => {
        readOnly("ftruncate");
        this.history.push({ op: "truncate", path, inode: inode.id, length });
        inode.cut(length);
      },
      close: () => {
        check("close");
        open = false;
      },
    };
  }

  /** Joins with "/" (paths here are POSIX-style). */
  join(dir: string, name: string): string {
    return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
  }

  /** The normalized path of an existing directory (no symbolic links here). */
  realPath(path: string): string {
    const p = normalize(path);
    if (!this.#dirs.has(p)) throw fsError("ENOENT", "realpath", p);
    return p;
  }

  /** Creates the directory and its parents; directories are durable at once. */
  mkdirp(dir: string): void {
    let p = normalize(dir);
    while (!this.#dirs.has(p)) {
      this.#dirs.set(p, new Map());
      this.#baseDirs.set(p, new Map());
      if (p === "/") break;
      p = splitPath(p)[0];
    }
  }

  /** The file names in `dir` (subdirectories are not listed). */
  list(dir: string): string[] {
    return [...this.#entries(normalize(dir), "scandir").keys()];
  }

  /** True for an existing file or directory. */
  exists(path: string): boolean {
    const p = normalize(path);
    if (this.#dirs.has(p)) return true;
    const [dir, name] = splitPath(p);
    return this.#dirs.get(dir)?.has(name) ?? false;
  }

  /** A file, a directory, or nothing (no special files here). */
  fileKind(path: string): "file" | "directory" | "missing" {
    const p = normalize(path);
    if (this.#dirs.has(p)) return "directory";
    const [dir, name] = splitPath(p);
    return this.#dirs.get(dir)?.has(name) ? "file" : "missing";
  }

  /** Opens an existing file for reading. */
  openRead(path: string): WalFile {
    const p = normalize(path);
    return this.#file(p, this.#lookup(p, "open"), false);
  }

  /** Opens a file for writing, creating it as asked. */
  openWrite(path: string, options: OpenWriteOptions): WalFile {
    const p = normalize(path);
    const [dir, name] = splitPath(p);
    const entries = this.#entries(dir, "open");
    let inode = entries.get(name);
    if (inode !== undefined && options.exclusive === true) throw fsError("EEXIST", "open", p);
    if (inode === undefined) {
      if (!options.create && options.exclusive !== true) throw fsError("ENOENT", "open", p);
      inode = new Inode(this.#nextInode++);
      entries.set(name, inode);
      this.history.push({ op: "create", path: p, inode: inode.id });
    }
    return this.#file(p, inode, true);
  }

  /** Reads a whole file. */
  readFile(path: string): Uint8Array {
    return this.#lookup(normalize(path), "open").content();
  }

  /** Renames within one directory, replacing any file at `to`. */
  rename(from: string, to: string): void {
    const f = normalize(from);
    const t = normalize(to);
    const inode = this.#lookup(f, "rename");
    const [dir, fromName] = splitPath(f);
    const [toDir, toName] = splitPath(t);
    if (toDir !== dir) throw fsError("EXDEV", "rename", t);
    const entries = this.#entries(dir, "rename");
    entries.delete(fromName);
    entries.set(toName, inode);
    this.history.push({ op: "rename", path: f, to: t, inode: inode.id });
  }

  /** Deletes a file (open handles keep working, as on POSIX). */
  remove(path: string): void {
    const p = normalize(path);
    const inode = this.#lookup(p, "unlink");
    this.#entries(splitPath(p)[0], "unlink").delete(splitPath(p)[1]);
    this.history.push({ op: "remove", path: p, inode: inode.id });
  }

  /** Makes the directory's entries durable. */
  syncDir(dir: string): void {
    const p = normalize(dir);
    this.#entries(p, "fsync");
    this.history.push({ op: "syncDir", path: p });
  }

  /** The simulated process id. */
  pid(): number {
    return this.#pid;
  }

  /**
   * An in-memory exclusive lock per inode, like flock: refused while another handle of this file system holds
   * it. The pid written through it is an ordinary append (faults apply).
   */
  lockFile(path: string): WalFileLock | null {
    const p = normalize(path);
    const created = !this.exists(p);
    const file = this.openWrite(p, { create: true });
    const [dir, name] = splitPath(p);
    const inode = this.#entries(dir, "open").get(name)!.id;
    if (this.#locks.has(inode)) {
      file.close();
      return null;
    }
    this.#locks.add(inode);
    let held = true;
    return {
      created,
      current: () => this.#dirs.get(dir)?.get(name)?.id === inode,
      write(data: Uint8Array) {
        if (file.size() > 0) file.truncate(0);
        file.append(data);
      },
      release: (remove = false) => {
        if (!held) return;
        held = false;
        this.#locks.delete(inode);
        file.close();
        if (remove && this.exists(p)) this.remove(p);
      },
    };
  }

  /** Only this simulated process is alive: whoever held a lock before a crash is gone. */
  processAlive(pid: number): boolean {
    return pid === this.#pid;
  }
}

/** The uncertain part of the disk at one crash point, and how to build any disk it allows. */
export class CrashState {
  /** The crash point: the number of events of the history that happened. */
  readonly point: number;
  /** Files with unsynced changes, in inode order. */
  readonly files: readonly UnsyncedFile[];
  /** Directory changes no syncDir covered, in the order they were made. */
  readonly dirOps: readonly PendingDirOp[];

  #source: CrashFileSystem;
  #fileOps: { id: number; ops: FileOp[]; synced: number }[];
  #dirOps: DirOp[];
  #durableDirs: Map<string, Map<string, number>>;
  #baseContent: Map<number, Uint8Array>;
  #unsyncedIndex = new Map<number, number>();
  #synced = new Map<number, Inode>();
  #pageSize: number;

  constructor(
    source: CrashFileSystem,
    point: number,
    files: Map<number, { path: string; ops: FileOp[]; synced: number }>,
    dirs: Map<string, { ops: DirOp[]; synced: number }>,
    baseDirs: Map<string, Map<string, number>>,
    baseContent: Map<number, Uint8Array>,
  ) {
    this.#source = source;
    this.#pageSize = source.pageSize;
    this.point = point;
    this.#baseContent = baseContent;
    this.#fileOps = [...files].map(([id, f]) => ({ id, ops: f.ops, synced: f.synced }));
    const unsynced: UnsyncedFile[] = [];
    for (const [id, f] of files) {
      if (f.synced === f.ops.length) continue;
      let units = 0;
      let pages = 0;
      for (let i = f.synced; i < f.ops.length; i++) {
        const op = f.ops[i];
        units += op.op === "truncate" ? 1 : op.data.length;
        if (op.op !== "truncate") pages += pieces(op.position, op.data.length, this.#pageSize).length;
      }
      this.#unsyncedIndex.set(id, unsynced.length);
      unsynced.push({ path: f.path, units, pages });
    }
    this.files = unsynced;
    // Durable entries: the base plus every directory change up to each directory's last syncDir.
    this.#durableDirs = new Map([...baseDirs].map(([d, names]) => [d, new Map(names)]));
    this.#dirOps = [];
    for (const [dir, d] of dirs) {
      if (!this.#durableDirs.has(dir)) this.#durableDirs.set(dir, new Map());
      for (let i = 0; i < d.ops.length; i++) {
        if (i < d.synced) applyDirOp(this.#durableDirs, d.ops[i]);
        else this.#dirOps.push(d.ops[i]);
      }
    }
    this.dirOps = this.#dirOps.map((e) =>
      e.op === "rename" ? { op: e.op, path: e.path, to: e.to } : { op: e.op, path: e.path }
    );
  }

  /**
   * A seeded random choice: each file lost, kept or torn (sometimes zero-filled, sometimes with pages lost out of
   * order), each directory change a coin flip.
   */
  randomChoice(random: () => number = this.#source.random): CrashChoice {
    const keep: number[] = [];
    const zeros: number[] = [];
    const lost: number[][] = [];
    for (const f of this.files) {
      const r = random();
      keep.push(r < 0.25 ? 0 : r < 0.5 ? f.units : Math.floor(random() * (f.units + 1)));
      zeros.push(random() < 0.2 ? Math.floor(random() * (f.units + 1)) : 0);
      const pages: number[] = [];
      if (f.pages > 1 && random() < 0.3) for (let p = 0; p < f.pages; p++) if (random() < 0.3) pages.push(p);
      lost.push(pages);
    }
    return { keep, zeros, applied: this.dirOps.map(() => random() < 0.5), lost };
  }

  /**
   * A string that is equal for two choices exactly when they build the same disk (same names, same content
   * sources), so that callers can skip duplicates cheaply.
   */
  key(choice: CrashChoice): string {
    const dirs = this.#entries(choice);
    const parts: string[] = [];
    for (const [dir, names] of dirs) {
      for (const [name, id] of names) {
        const i = this.#unsyncedIndex.get(id);
        const [keep, zeros] = i === undefined ? [0, 0] : this.#clamp(choice, i);
        const lost = i === undefined ? "" : this.#lostSet(choice, i, keep).join(",");
        parts.push(`${dir}/${name}=${id}:${keep}:${zeros}:${lost}`);
      }
    }
    return parts.sort().join("|");
  }

  /**
   * Builds the disk the choice describes (default: a seeded random choice) as a new file system whose durable
   * starting state it is. Files never share content afterwards, even if a name mix left two names on one file.
   */
  materialize(choice: CrashChoice = this.randomChoice(), options?: CrashFileSystemOptions): CrashFileSystem {
    const dirs = this.#entries(choice);
    const byId = new Map(this.#fileOps.map((f) => [f.id, f]));
    const files = new Map<string, Uint8Array>();
    for (const [dir, names] of dirs) {
      for (const [name, id] of names) {
        const i = this.#unsyncedIndex.get(id);
        const [keep, zeros] = i === undefined ? [0, 0] : this.#clamp(choice, i);
        const lost = i === undefined ? [] : this.#lostSet(choice, i, keep);
        files.set(dir === "/" ? `/${name}` : `${dir}/${name}`, this.#content(byId.get(id)!, keep, zeros, lost));
      }
    }
    return CrashFileSystem.from(files, dirs.keys(), options ?? { pid: this.#source.pid(), pageSize: this.#pageSize });
  }

  /** The lost page pieces of file `i` that matter (valid indexes, sorted; none when nothing is kept). */
  #lostSet(choice: CrashChoice, i: number, keep: number): number[] {
    const lost = choice.lost?.[i];
    if (lost === undefined || lost.length === 0 || keep === 0) return [];
    const pages = this.files[i].pages;
    return [...new Set(lost.filter((p) => Number.isInteger(p) && p >= 0 && p < pages))].sort((a, b) => a - b);
  }

  #clamp(choice: CrashChoice, i: number): [number, number] {
    const units = this.files[i].units;
    const keep = Math.max(0, Math.min(units, Math.floor(choice.keep?.[i] ?? 0)));
    const zeros = keep === units ? 0 : Math.max(0, Math.min(units - keep, Math.floor(choice.zeros?.[i] ?? 0)));
    return [keep, zeros];
  }

  #entries(choice: CrashChoice): Map<string, Map<string, number>> {
    const dirs = new Map([...this.#durableDirs].map(([d, names]) => [d, new Map(names)]));
    this.#dirOps.forEach((op, i) => {
      if (choice.applied?.[i] === true) applyDirOp(dirs, op);
    });
    return dirs;
  }

  #content(f: { id: number; ops: FileOp[]; synced: number }, keep: number, zeros: number, lost: number[]): Uint8Array {
    // What the last datasync covered is the same in every variant of this point: build it once.
    let synced = this.#synced.get(f.id);
    if (synced === undefined) {
      synced = new Inode(f.id);
      synced.write(this.#baseContent.get(f.id) ?? new Uint8Array(0));
      for (let i = 0; i < f.synced; i++) applyFileOp(synced, f.ops[i]);
      this.#synced.set(f.id, synced);
    }
    if (keep === 0 && zeros === 0) return synced.content();
    const inode = new Inode(f.id);
    inode.write(synced.data.subarray(0, synced.size));
    let budget = keep;
    const lostSet = new Set(lost);
    let piece = 0;
    for (let i = f.synced; i < f.ops.length && budget > 0; i++) {
      const op = f.ops[i];
      if (op.op === "truncate") {
        applyFileOp(inode, op);
        budget--;
        continue;
      }
      // Torn: only the first bytes of this write reached the disk.
      const n = Math.min(op.data.length, budget);
      for (const [from, to] of pieces(op.position, op.data.length, this.#pageSize)) {
        if (from < n) {
          const end = Math.min(to, n);
          if (!lostSet.has(piece)) inode.writeAt(op.position + from, op.data.subarray(from, end));
          else if (op.position + end > inode.size) inode.writeAt(inode.size, new Uint8Array(op.position + end - inode.size));
        }
        piece++;
      }
      budget -= n;
    }
    // The size reached the disk but the data did not: zeros where the lost bytes were.
    if (zeros > 0) inode.write(new Uint8Array(zeros));
    return inode.content();
  }
}

/** The pieces [from, to) of a write of `length` bytes at file offset `position` that each lie within one page. */
function pieces(position: number, length: number, pageSize: number): [number, number][] {
  const out: [number, number][] = [];
  for (let from = 0; from < length;) {
    const to = Math.min(length, from + pageSize - ((position + from) % pageSize));
    out.push([from, to]);
    from = to;
  }
  return out;
}

function applyFileOp(inode: Inode, op: FileOp): void {
  if (op.op === "append") inode.writeAt(op.position, op.data);
  else if (op.op === "write") inode.writeAt(op.position, op.data);
  else inode.cut(op.length);
}

function applyDirOp(dirs: Map<string, Map<string, number>>, op: DirOp): void {
  const [dir, name] = splitPath(op.path);
  let names = dirs.get(dir);
  if (names === undefined) dirs.set(dir, names = new Map());
  if (op.op === "create") {
    names.set(name, op.inode);
  } else if (op.op === "remove") {
    if (names.get(name) === op.inode) names.delete(name);
  } else {
    if (names.get(name) === op.inode) names.delete(name);
    names.set(splitPath(op.to)[1], op.inode);
  }
}
