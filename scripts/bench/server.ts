/**
 * Server-shaped workloads, run by `main.ts` once per runtime (or by hand:
 * `node scripts/bench/server.ts --dir /tmp/x [--quick] [--module path/to/mod.ts] [--slow-ms 5]`).
 *
 * Every row runs a 1 ms heartbeat timer and reports the event-loop delay it saw (p50, p99, max of the gap between
 * beats, minus the 1 ms period) and, for the log, appends per fdatasync. Workloads:
 * - server-shaped: P producers, each awaiting `setImmediate` before every append (as a handler fed by I/O
 *   callbacks does), for the log with `io: "auto"` (the default), `"async"` and `"inline"`, and for lmdb
 *   (durable puts);
 * - 1 producer awaiting each append (also the tight-loop check: `for (;;) await wal.append()`; the heartbeat's
 *   largest gap must stay <= 20 ms);
 * - a raw write + fdatasync loop over a preallocated file (the disk's own limit);
 * - each again on a slow disk: a delay (5 ms by default) added to every fdatasync at the file-system interface,
 *   in the thread that performs it: the event loop's thread for inline calls (it blocks, as a slow fsync does),
 *   after the thread pool's fdatasync for `datasyncAsync` (the event loop goes on, as it would). lmdb's fsync
 *   runs in its own code, where no delay can be injected: it has no slow-disk row.
 *
 * `--module` points at another checkout's `mod.ts` to measure it with the same workloads (before/after).
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { setImmediate } from "node:timers";
import { pathToFileURL } from "node:url";
import { currentRuntime, keys, KEY_MASK, median, runtimeVersion } from "./common.ts";
import type { WalFile, WalFileSystem, WalOptions } from "../../mod.ts";

/** What the log module under test must offer (the current one, or an older checkout's). */
interface WalModule {
  WriteAheadLog: {
    open(dir: string, options?: WalOptions): Promise<WalLike>;
  };
}

interface WalLike {
  append(opType: string, key: string, value: string): Promise<number>;
  close(): Promise<void>;
  stats(): { fsyncs: number };
}

/** One measured row of this script. */
export interface ServerRow {
  /** Stable id, e.g. `wal.async.server.256.local`. */
  id: string;
  /** Human label. */
  label: string;
  /** Operations per second (median of the runs). */
  opsPerSec: number;
  /** Appends per fdatasync (log rows only). */
  perFsync?: number;
  /** Event-loop delay of the median run, ms. */
  delayP50: number;
  delayP99: number;
  delayMax: number;
  /** Why the row could not run. */
  unavailable?: string;
}

/** What this script writes. */
export interface ServerResult {
  runtime: string;
  version: string;
  module: string;
  slowMs: number;
  seconds: number;
  rows: ServerRow[];
}

const VALUE = "v".repeat(128);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A 1 ms heartbeat; `stop()` returns the delays it saw (gap minus period), sorted. */
function heartbeat(): { stop(): number[] } {
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const t = performance.now();
    gaps.push(Math.max(0, t - last - 1));
    last = t;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      // The time since the last beat counts too: a loop that never yields shows one huge gap.
      gaps.push(Math.max(0, performance.now() - last - 1));
      return gaps.sort((a, b) => a - b);
    },
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

interface Run {
  ops: number;
  seconds: number;
  fsyncs?: number;
  delays: number[];
}

/** Wraps a file system so that every fdatasync takes `ms` longer (see the module doc for where). */
function slowDisk(inner: WalFileSystem, ms: number): WalFileSystem {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const wrap = (file: WalFile): WalFile => {
    const wrapped: WalFile = {
      append: (d) => file.append(d),
      writeAt: (d, p) => file.writeAt(d, p),
      read: (into, p) => file.read(into, p),
      datasync: () => {
        file.datasync();
        Atomics.wait(cell, 0, 0, ms);
      },
      size: () => file.size(),
      truncate: (n) => file.truncate(n),
      close: () => file.close(),
    };
    if (file.datasyncAsync !== undefined) {
      const async = file.datasyncAsync.bind(file);
      wrapped.datasyncAsync = () => async().then(() => sleep(ms));
    }
    return wrapped;
  };
  return { ...inner, openWrite: (p, o) => wrap(inner.openWrite(p, o)), join: inner.join, realPath: inner.realPath };
}

async function walServer(
  mod: WalModule,
  dir: string,
  options: WalOptions,
  producers: number,
  seconds: number,
  awaitTurn: boolean,
): Promise<Run> {
  fs.rmSync(dir, { recursive: true, force: true });
  const wal = await mod.WriteAheadLog.open(dir, options);
  await wal.append("PUT", "warm", VALUE);
  const fsyncs0 = wal.stats().fsyncs;
  let ops = 0;
  const end = performance.now() + seconds * 1000;
  const beat = heartbeat();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: producers }, async (_, p) => {
    let i = p;
    // The clock is read in the loop: a loop that starves timers would never see a timer-set stop flag.
    while (performance.now() < end) {
      if (awaitTurn) await turn();
      await wal.append("PUT", keys[i++ & KEY_MASK], VALUE);
      ops++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const delays = beat.stop();
  const fsyncs = wal.stats().fsyncs - fsyncs0;
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { ops, seconds: elapsed, fsyncs, delays };
}

interface LmdbDb {
  put(key: string, value: string): Promise<boolean>;
  close(): Promise<void>;
}

let lmdbOpen: ((options: Record<string, unknown>) => LmdbDb) | undefined;
let lmdbWhy: string | null = null;

async function loadLmdb(): Promise<string | null> {
  try {
    const spec = "lmdb";
    const m = (await import(spec)) as { open?: typeof lmdbOpen; default?: { open?: typeof lmdbOpen } };
    lmdbOpen = m.open ?? m.default?.open;
    return lmdbOpen === undefined ? "lmdb has no open export here" : null;
  } catch (e) {
    return `lmdb does not load: ${String((e as Error).message ?? e).split("\n")[0]}`;
  }
}

async function lmdbServer(dir: string, producers: number, seconds: number, awaitTurn: boolean): Promise<Run> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // overlappingSync off: a put's promise resolves after the commit's fsync (durable puts).
  const db = lmdbOpen!({ path: path.join(dir, "db"), overlappingSync: false });
  await db.put("warm", VALUE);
  let ops = 0;
  const end = performance.now() + seconds * 1000;
  const beat = heartbeat();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: producers }, async (_, p) => {
    let i = p;
    while (performance.now() < end) {
      if (awaitTurn) await turn();
      await db.put(keys[i++ & KEY_MASK], VALUE);
      ops++;
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const delays = beat.stop();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { ops, seconds: elapsed, delays };
}

/** write + fdatasync of one 170-byte record at a time over a preallocated file (plus the slow disk's delay). */
function rawLoop(dir: string, seconds: number, slowMs: number): Run {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "raw");
  const fd = fs.openSync(file, "w+");
  const cell = new Int32Array(new SharedArrayBuffer(4));
  try {
    fs.writeSync(fd, new Uint8Array(16 << 20));
    fs.fdatasyncSync(fd);
    const rec = new Uint8Array(170).fill(1);
    let pos = 0;
    let ops = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end && pos + rec.length < 16 << 20) {
      fs.writeSync(fd, rec, 0, rec.length, pos);
      pos += rec.length;
      fs.fdatasyncSync(fd);
      if (slowMs > 0) Atomics.wait(cell, 0, 0, slowMs);
      ops++;
    }
    return { ops, seconds: (performance.now() - t0) / 1000, delays: [] };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

function parse(argv: readonly string[]): { dir: string; out?: string; quick: boolean; module?: string; slowMs: number } {
  let dir = "";
  let out: string | undefined;
  let quick = false;
  let module: string | undefined;
  let slowMs = 5;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--dir") dir = argv[++i];
    else if (a === "--out") out = argv[++i];
    else if (a === "--quick") quick = true;
    else if (a === "--module") module = path.resolve(argv[++i]);
    else if (a === "--slow-ms") slowMs = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (dir === "") throw new Error("--dir is required");
  return { dir, out, quick, module, slowMs };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const here = path.dirname(new URL(import.meta.url).pathname);
  const modPath = args.module ?? path.resolve(here, "..", "..", "mod.ts");
  const mod = (await import(pathToFileURL(modPath).href)) as WalModule;
  const defaultFs = (await import(pathToFileURL(path.join(path.dirname(modPath), "src", "io", "default.ts")).href)) as {
    defaultFileSystem(): Promise<WalFileSystem>;
  };
  const local = await defaultFs.defaultFileSystem();
  const slow = slowDisk(local, args.slowMs);
  lmdbWhy = await loadLmdb();
  const seconds = args.quick ? 1 : 2;
  const repeats = args.quick ? 1 : 3;
  const dir = path.resolve(args.dir);
  fs.mkdirSync(dir, { recursive: true });
  const rows: ServerRow[] = [];
  const t0 = performance.now();
  const note = (m: string) => process.stderr.write(`[server ${currentRuntime()}] ${m}\n`);

  const measure = async (id: string, label: string, once: () => Promise<Run> | Run, unavailable?: string | null) => {
    if (unavailable) {
      rows.push({ id, label, opsPerSec: 0, delayP50: 0, delayP99: 0, delayMax: 0, unavailable });
      note(`${label}: unavailable (${unavailable})`);
      return;
    }
    const runs: Run[] = [];
    for (let r = 0; r < repeats; r++) runs.push(await once());
    const rates = runs.map((r) => r.ops / r.seconds);
    const mid = runs[rates.indexOf(median(rates))] ?? runs[0];
    const row: ServerRow = {
      id,
      label,
      opsPerSec: median(rates),
      delayP50: pct(mid.delays, 0.5),
      delayP99: pct(mid.delays, 0.99),
      delayMax: mid.delays.length > 0 ? mid.delays[mid.delays.length - 1] : 0,
    };
    if (mid.fsyncs !== undefined && mid.fsyncs > 0) row.perFsync = mid.ops / mid.fsyncs;
    rows.push(row);
    note(`${label}: ${Math.round(row.opsPerSec)}/s, loop delay p99 ${row.delayP99.toFixed(1)} ms, max ${row.delayMax.toFixed(1)} ms${
      row.perFsync !== undefined ? `, ${row.perFsync.toFixed(1)} per fsync` : ""
    }`);
  };

  const w = (name: string) => path.join(dir, name);
  for (const disk of ["local", "slow"] as const) {
    const fsOpt = disk === "slow" ? { fs: slow } : {};
    const diskLabel = disk === "local" ? "local disk" : `${args.slowMs} ms fsync disk`;
    await measure(`raw.${disk}`, `raw write+fdatasync loop, ${diskLabel}`, () => rawLoop(w("raw"), seconds, disk === "slow" ? args.slowMs : 0));
    // Another checkout (--module) may not know `io`: it runs once, under the default's name.
    for (const io of args.module !== undefined ? ["auto"] as const : ["auto", "async", "inline"] as const) {
      for (const producers of [16, 256]) {
        await measure(
          `wal.${io}.server.${producers}.${disk}`,
          `log io:${io}, server-shaped, ${producers} producers, ${diskLabel}`,
          () => walServer(mod, w("log"), { ...fsOpt, io }, producers, seconds, true),
        );
      }
      await measure(
        `wal.${io}.single.${disk}`,
        `log io:${io}, 1 producer awaiting each append (tight loop), ${diskLabel}`,
        () => walServer(mod, w("log"), { ...fsOpt, io }, 1, seconds, false),
      );
    }
    for (const producers of [16, 256]) {
      await measure(
        `lmdb.server.${producers}.${disk}`,
        `lmdb durable puts, server-shaped, ${producers} producers, ${diskLabel}`,
        () => lmdbServer(w("lmdb"), producers, seconds, true),
        disk === "slow" ? "no fsync delay can be injected into lmdb's own thread" : lmdbWhy,
      );
    }
    await measure(
      `lmdb.single.${disk}`,
      `lmdb durable puts, 1 producer awaiting each, ${diskLabel}`,
      () => lmdbServer(w("lmdb"), 1, seconds, false),
      disk === "slow" ? "no fsync delay can be injected into lmdb's own thread" : lmdbWhy,
    );
  }
  const result: ServerResult = {
    runtime: currentRuntime(),
    version: runtimeVersion(),
    module: path.relative(process.cwd(), modPath),
    slowMs: args.slowMs,
    seconds: (performance.now() - t0) / 1000,
    rows,
  };
  const json = JSON.stringify(result, null, 2);
  if (args.out !== undefined) fs.writeFileSync(args.out, json);
  else process.stdout.write(json + "\n");
}

await main();
