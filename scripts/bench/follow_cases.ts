/**
 * The `follow` benchmark: `npm run bench -- --only follow [--quick] [--runtime ...]`.
 *
 * Per runtime, in a fresh worker process on that runtime:
 * - in-process: `WriteAheadLog.follow` with 1 and with 100 followers, "sync" mode: each append is awaited, then
 *   the next waits until every follower has yielded it (so each figure is the latency of a wake-up from idle,
 *   not of a queue). Latency = follower yielded − append resolved, and − append called, in ms.
 * - cross-process: a writer child on the same runtime appends one record every few ms and prints when each
 *   append resolved; the worker follows with `ReadOnlyLog.follow`: with the directory watched and `pollMs` 100
 *   (the defaults), and polling only (a file system without `watch`) at 100, 10 and 1 ms. Clocks:
 *   `performance.timeOrigin + performance.now()` in both processes (same machine).
 * - idle CPU of a read-only follower waiting on a log nobody writes, per `pollMs`, against a process that only
 *   sleeps (process.cpuUsage over the same wall time).
 *
 * The worker prints one JSON line; the orchestrator (main.ts) prints a table per runtime.
 *
 * @module
 */

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WriteAheadLog } from "../../mod.ts";
import type { WalRecord } from "../../mod.ts";
import type { RuntimeName } from "./common.ts";
import { defaultFileSystem } from "../../src/io/default.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const SELF = fileURLToPath(import.meta.url);

/** Milliseconds on a clock shared by the processes of one machine. */
function clock(): number {
  return performance.timeOrigin + performance.now();
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** p50, p99 and max of a sample, in ms. */
interface Dist {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function dist(samples: number[]): Dist {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1] ?? NaN };
}

/** What a worker reports. */
export interface FollowResult {
  runtime: RuntimeName;
  rows: { label: string; fromResolved: Dist; fromCalled?: Dist }[];
  idle: { label: string; cpuPercent: number }[];
}

function command(rt: RuntimeName, args: string[]): [string, string[]] {
  const bin = path.join(repo, "node_modules", ".bin", rt);
  return [bin, rt === "deno" ? ["run", "-A", "--no-prompt", `--config=${path.join(repo, "deno.json")}`, SELF, ...args] : [SELF, ...args]];
}

function runtimeName(): RuntimeName {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

// ---------------------------------------------------------------------------------------------------------------
// In-process

async function inProcess(dir: string, followers: number, count: number): Promise<{ fromResolved: Dist; fromCalled: Dist }> {
  fs.rmSync(dir, { recursive: true, force: true });
  const wal = await WriteAheadLog.open(dir, { syncMode: "sync" });
  const called = new Map<number, number>();
  const resolved = new Map<number, number>();
  const fromResolved: number[] = [];
  const fromCalled: number[] = [];
  let waitingFor = 0;
  let remaining = 0;
  let allYielded: () => void = () => {};
  const yieldedAt: number[][] = [];
  const loops = Array.from({ length: followers }, async () => {
    for await (const r of wal.follow()) {
      const t = clock();
      (yieldedAt[r.seqNum] ??= []).push(t);
      if (r.seqNum === waitingFor && --remaining === 0) allYielded();
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const value = "v".repeat(128);
  for (let i = 0; i < count; i++) {
    const all = new Promise<void>((resolve) => (allYielded = resolve));
    const t0 = clock();
    waitingFor = wal.currentSeqNum() + 1;
    remaining = followers;
    const seq = await wal.append("PUT", `key-${i}`, value);
    const t1 = clock();
    called.set(seq, t0);
    resolved.set(seq, t1);
    await all;
  }
  for (const [seq, t1] of resolved) {
    for (const t of yieldedAt[seq] ?? []) {
      fromResolved.push(t - t1);
      fromCalled.push(t - called.get(seq)!);
    }
  }
  await wal.close();
  await Promise.all(loops);
  return { fromResolved: dist(fromResolved), fromCalled: dist(fromCalled) };
}

// ---------------------------------------------------------------------------------------------------------------
// Cross-process

/** The writer child: appends `count` records one at a time, `gapMs` apart, printing `<seq> <resolved at>`. */
async function writerChild(dir: string, count: number, gapMs: number): Promise<void> {
  const wal = await WriteAheadLog.open(dir, { syncMode: "sync" });
  process.stdout.write("ready\n");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const seq = await wal.append("PUT", `key-${i}`, "v".repeat(128));
    lines.push(`${seq} ${clock()}`);
    // A gap that varies, so that appends land anywhere in the reader's poll interval.
    await new Promise((resolve) => setTimeout(resolve, gapMs + (i * 7) % gapMs));
  }
  await wal.close();
  process.stdout.write(lines.join("\n") + "\ndone\n");
}

async function crossProcess(dir: string, rt: RuntimeName, pollMs: number, watch: boolean, count: number): Promise<Dist> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const [cmd, args] = command(rt, ["--writer", dir, String(count), "4"]);
  const child = spawn(cmd, args, { cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  const ready = new Promise<void>((resolve) => child.stdout.on("data", (c: string) => {
    out += c;
    if (out.startsWith("ready\n")) resolve();
  }));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  await ready;
  const walFs = await defaultFileSystem();
  const reader = await WriteAheadLog.openReadOnly(dir, { fs: watch ? walFs : { ...walFs, watch: undefined } });
  const yielded = new Map<number, number>();
  const controller = new AbortController();
  let records = 0;
  let allDone: () => void = () => {};
  const all = new Promise<void>((resolve) => (allDone = resolve));
  const loop = (async () => {
    try {
      for await (const r of reader.follow({ pollMs, signal: controller.signal }) as AsyncGenerator<WalRecord>) {
        yielded.set(r.seqNum, clock());
        if (++records === count) allDone();
      }
    } catch {
      // aborted at the end
    }
  })();
  await exited;
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  controller.abort();
  await loop;
  await reader.close();
  const samples: number[] = [];
  for (const line of out.split("\n")) {
    const [s, t] = line.split(" ");
    if (t === undefined) continue;
    const y = yielded.get(Number(s));
    if (y !== undefined) samples.push(y - Number(t));
  }
  if (samples.length !== count) throw new Error(`cross-process: ${samples.length} of ${count} records followed`);
  return dist(samples);
}

/** Share of one core used by this process over `ms` while `body` runs (a follower waiting on an idle log). */
async function cpuOver(ms: number, setup: () => Promise<() => Promise<void>>): Promise<number> {
  const stop = await setup();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const u = process.cpuUsage(u0);
  const wall = performance.now() - t0;
  await stop();
  return ((u.user + u.system) / 1000 / wall) * 100;
}

async function idleCpu(dir: string, quick: boolean): Promise<{ label: string; cpuPercent: number }[]> {
  const ms = quick ? 1000 : 3000;
  const rows: { label: string; cpuPercent: number }[] = [];
  rows.push({ label: "sleeping process (baseline)", cpuPercent: await cpuOver(ms, async () => async () => {}) });
  for (const pollMs of [1, 10, 100, 1000]) {
    const cpu = await cpuOver(ms, async () => {
      const reader = await WriteAheadLog.openReadOnly(dir);
      const controller = new AbortController();
      const loop = (async () => {
        try {
          for await (const _ of reader.follow({ afterSeq: reader.currentSeqNum(), pollMs, signal: controller.signal })) {
            // nothing comes: nobody writes
          }
        } catch {
          // aborted
        }
      })();
      return async () => {
        controller.abort();
        await loop;
        await reader.close();
      };
    });
    rows.push({ label: `read-only follower waiting, pollMs ${pollMs}`, cpuPercent: cpu });
  }
  const wal = await WriteAheadLog.open(dir);
  rows.push({
    label: "in-process follower waiting (no timer)",
    cpuPercent: await cpuOver(ms, async () => {
      const controller = new AbortController();
      const loop = (async () => {
        try {
          for await (const _ of wal.follow({ afterSeq: wal.currentSeqNum(), signal: controller.signal })) {
            // nothing comes
          }
        } catch {
          // aborted
        }
      })();
      return async () => {
        controller.abort();
        await loop;
      };
    }),
  });
  await wal.close();
  return rows;
}

async function worker(dir: string, quick: boolean): Promise<void> {
  const rt = runtimeName();
  const count = quick ? 200 : 2000;
  const result: FollowResult = { runtime: rt, rows: [], idle: [] };
  for (const n of [1, 100]) {
    const r = await inProcess(path.join(dir, `in-${n}`), n, n === 100 ? Math.ceil(count / 2) : count);
    result.rows.push({ label: `in-process, ${n} follower${n > 1 ? "s" : ""} ("sync")`, ...r });
  }
  const crossCount = quick ? 150 : 600;
  for (const [pollMs, watch] of [[100, true], [100, false], [10, false], [1, false]] as const) {
    const d = await crossProcess(path.join(dir, `x-${pollMs}-${watch}`), rt, pollMs, watch, crossCount);
    const how = watch ? `watch + pollMs ${pollMs} (default)` : `poll only, pollMs ${pollMs}`;
    result.rows.push({ label: `other process: ${how}`, fromResolved: d });
  }
  result.idle = await idleCpu(path.join(dir, "x-10-false"), quick);
  process.stdout.write(JSON.stringify(result) + "\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Orchestrator

function f(ms: number): string {
  return Math.abs(ms) < 1 ? ms.toFixed(3) : ms.toFixed(2);
}

/** The table of one runtime's result. */
export function followTable(r: FollowResult): string {
  const lines = [
    `follow latency on ${r.runtime} (ms; "resolved" = follower yielded − append resolved, negative when the follower ran first)`,
    `  ${"case".padEnd(48)} ${"n".padStart(6)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)}   from append called p50 / p99`,
  ];
  for (const row of r.rows) {
    const d = row.fromResolved;
    const c = row.fromCalled === undefined ? "" : `   ${f(row.fromCalled.p50)} / ${f(row.fromCalled.p99)}`;
    lines.push(`  ${row.label.padEnd(48)} ${String(d.n).padStart(6)} ${f(d.p50).padStart(8)} ${f(d.p99).padStart(8)} ${f(d.max).padStart(8)}${c}`);
  }
  lines.push(`idle CPU on ${r.runtime} (% of one core)`);
  for (const i of r.idle) lines.push(`  ${i.label.padEnd(48)} ${i.cpuPercent.toFixed(2).padStart(6)} %`);
  return lines.join("\n");
}

/** Runs the worker on each runtime and prints its table (main.ts `--only follow`). */
export async function runFollowBench(runtimes: readonly RuntimeName[], workDir: string, quick: boolean): Promise<void> {
  for (const rt of runtimes) {
    if (!fs.existsSync(path.join(repo, "node_modules", ".bin", rt))) continue;
    const dir = path.join(workDir, `follow-${rt}-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    process.stderr.write(`[${rt}] follow latency\n`);
    try {
      const [cmd, args] = command(rt, ["--worker", dir, quick ? "quick" : "full"]);
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(cmd, args, { cwd: repo, stdio: ["ignore", "pipe", "inherit"] });
        let text = "";
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (c: string) => (text += c));
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`${rt} follow worker exited with ${code}`))));
      });
      const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as FollowResult;
      process.stdout.write(followTable(result) + "\n\n");
    } catch (e) {
      process.stderr.write(`[${rt}] ${(e as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args[0] === "--writer") await writerChild(args[1], Number(args[2]), Number(args[3]));
  else if (args[0] === "--worker") await worker(args[1], args[2] === "quick");
}
