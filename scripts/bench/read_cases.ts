/**
 * `read(seq)` figures: random and sequential reads of 128 B records (16 B keys) from a log of two segments (one
 * 64 MiB sealed, one active), against a raw positioned read (`node:fs` `readSync`) of the same bytes at the same
 * offsets in the same process; and the lazy index build of a 64 MiB sealed segment (the first read into it after
 * an open). Targets: `read` >= 500,000/s on Bun and Deno, and at most 3x the raw read's time on every runtime.
 *
 * Run by `main.ts --only read` (once per runtime, in a child process: `<runtime> read_cases.ts --dir <dir>`), which
 * prints {@link readTable}. The child prints its {@link ReadResult} as one JSON line on stdout.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";

/** What one runtime measured (medians of the runs). */
export interface ReadResult {
  runtime: string;
  version: string;
  records: number;
  segments: number;
  randomPerSec: number;
  sequentialPerSec: number;
  rawRandomPerSec: number;
  rawSequentialPerSec: number;
  /** ms of the first read into a 64 MiB sealed segment after an open (its index built then). */
  buildMs: number;
  /** MiB of the segment indexed by that read. */
  buildMiB: number;
}

const SEGMENT = 64 * 1024 * 1024;
const VALUE = "v".repeat(128);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function runtimeInfo(): { runtime: string; version: string } {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno) return { runtime: "deno", version: g.Deno.version.deno };
  if (g.Bun) return { runtime: "bun", version: g.Bun.version };
  return { runtime: "node", version: process.versions.node };
}

/** Offsets and lengths of every record of a version-2 segment file, read from its headers. */
function recordsOf(file: string): { offsets: number[]; lengths: number[] } {
  const bytes = fs.readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (let at = 32; at + 32 <= bytes.length;) {
    const len = 32 + view.getUint16(at + 14, true) + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
    if (view.getUint32(at + 4, true) === 0) break;
    offsets.push(at);
    lengths.push(len);
    at += len;
  }
  return { offsets, lengths };
}

async function measure(dir: string, quick: boolean): Promise<ReadResult> {
  const { WriteAheadLog } = await import("../../mod.ts");
  const perSegment = Math.floor((SEGMENT - 32) / (32 + 3 + 16 + 128));
  const records = perSegment + Math.floor(perSegment / 2);
  let wal = await WriteAheadLog.open(dir, { syncMode: "none" });
  for (let seq = 1; seq <= records;) {
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 1000 && seq <= records; i++, seq++) pending.push(wal.append("PUT", `key-${String(seq).padStart(12, "0")}`, VALUE));
    await Promise.all(pending);
  }
  await wal.sync();
  const files = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => path.join(dir, n));

  // The lazy build: a fresh handle's first read into the 64 MiB sealed segment.
  const builds: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    await wal.close();
    wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    const t = performance.now();
    await wal.read(1);
    builds.push(performance.now() - t);
  }

  const n = quick ? 100_000 : 400_000;
  const random = new Float64Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    random[i] = 1 + (x % records);
  }
  // Every index built and every page cached before timing.
  for (let seq = 1; seq <= records; seq++) await wal.read(seq);

  // The raw read: the same bytes at the same offsets, one readSync each.
  const seg = files.map(recordsOf);
  const fds = files.map((f) => fs.openSync(f, "r"));
  const where = (seq: number): [number, number, number] => {
    const s = seq <= seg[0].offsets.length ? 0 : 1;
    const i = s === 0 ? seq - 1 : seq - 1 - seg[0].offsets.length;
    return [s, seg[s].offsets[i], seg[s].lengths[i]];
  };
  const rawOff = new Float64Array(n);
  const rawLen = new Int32Array(n);
  const rawSeg = new Int32Array(n);
  for (let i = 0; i < n; i++) [rawSeg[i], rawOff[i], rawLen[i]] = where(random[i]);
  const m = Math.min(n, records);
  const seqOff = new Float64Array(m + 1);
  const seqLen = new Int32Array(m + 1);
  const seqSeg = new Int32Array(m + 1);
  for (let seq = 1; seq <= m; seq++) [seqSeg[seq], seqOff[seq], seqLen[seq]] = where(seq);
  const buf = new Uint8Array(4096);

  const rounds = quick ? 3 : 5;
  const r: number[] = [];
  const s: number[] = [];
  const rr: number[] = [];
  const rs: number[] = [];
  let check = 0;
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    for (let i = 0; i < n; i++) check += (await wal.read(random[i]))!.seqNum;
    r.push(n / (performance.now() - t) * 1000);
    t = performance.now();
    for (let i = 0; i < n; i++) check += fs.readSync(fds[rawSeg[i]], buf, 0, rawLen[i], rawOff[i]);
    rr.push(n / (performance.now() - t) * 1000);
    t = performance.now();
    for (let seq = 1; seq <= m; seq++) check += (await wal.read(seq))!.seqNum;
    s.push(m / (performance.now() - t) * 1000);
    t = performance.now();
    for (let seq = 1; seq <= m; seq++) check += fs.readSync(fds[seqSeg[seq]], buf, 0, seqLen[seq], seqOff[seq]);
    rs.push(m / (performance.now() - t) * 1000);
  }
  if (check === 0) throw new Error("nothing read");
  for (const fd of fds) fs.closeSync(fd);
  await wal.close();
  return {
    ...runtimeInfo(),
    records,
    segments: files.length,
    randomPerSec: median(r),
    sequentialPerSec: median(s),
    rawRandomPerSec: median(rr),
    rawSequentialPerSec: median(rs),
    buildMs: median(builds),
    buildMiB: fs.statSync(files[0]).size / 1024 / 1024,
  };
}

const k = (v: number) => `${(v / 1000).toFixed(0)}k/s`;

/** The table `main.ts --only read` prints: figures, ratios to the raw read, and the targets met or missed. */
export function readTable(results: readonly (ReadResult | { runtime: string; error: string })[]): string {
  const lines = [
    "read(seq): 128 B values, 16 B keys (179 B records); index cached; raw = node:fs readSync of the same bytes",
    "runtime  random     raw rand   ratio  sequential raw seq   ratio  lazy index build     targets",
  ];
  for (const r of results) {
    if ("error" in r) {
      lines.push(`${r.runtime.padEnd(8)} ${r.error}`);
      continue;
    }
    const ratioR = r.rawRandomPerSec / r.randomPerSec;
    const ratioS = r.rawSequentialPerSec / r.sequentialPerSec;
    const targets: string[] = [];
    if (r.runtime !== "node") {
      targets.push(`>= 500k/s ${r.randomPerSec >= 500_000 ? "met" : "MISSED"} (${k(r.randomPerSec)})`);
    }
    const worst = Math.max(ratioR, ratioS);
    targets.push(`<= 3x raw ${worst <= 3 ? "met" : "MISSED"} (${worst.toFixed(2)}x)`);
    lines.push(
      `${r.runtime.padEnd(8)} ${k(r.randomPerSec).padEnd(10)} ${k(r.rawRandomPerSec).padEnd(10)} ${
        ratioR.toFixed(2).padStart(5)
      }x ${k(r.sequentialPerSec).padEnd(10)} ${k(r.rawSequentialPerSec).padEnd(10)} ${ratioS.toFixed(2).padStart(5)}x ${
        `${r.buildMs.toFixed(1)} ms / ${r.buildMiB.toFixed(0)} MiB`.padEnd(20)
      } ${targets.join(", ")}`,
    );
  }
  return lines.join("\n");
}

/** Runs the cases on `runtime` in a child process (Deno with every permission) and returns its result. */
export async function readResult(repo: string, runtime: string, workDir: string, quick: boolean): Promise<ReadResult | { runtime: string; error: string }> {
  const { spawnSync } = await import("node:child_process");
  const dir = path.join(workDir, `read-${runtime}-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const script = path.join(repo, "scripts", "bench", "read_cases.ts");
  const bin = path.join(repo, "node_modules", ".bin", runtime);
  const args = [script, "--dir", dir, ...(quick ? ["--quick"] : [])];
  const argv = runtime === "deno" ? ["run", "--no-prompt", `--config=${path.join(repo, "deno.json")}`, "-A", ...args] : args;
  try {
    const child = spawnSync(bin, argv, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    const line = child.stdout.trim().split("\n").pop() ?? "";
    if (child.status !== 0 || !line.startsWith("{")) return { runtime, error: `exited with ${child.status}` };
    return JSON.parse(line) as ReadResult;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main ?? process.argv[1]?.endsWith("read_cases.ts")) {
  const i = process.argv.indexOf("--dir");
  if (i < 0) throw new Error("usage: read_cases.ts --dir <empty dir> [--quick]");
  const result = await measure(process.argv[i + 1], process.argv.includes("--quick"));
  process.stdout.write(JSON.stringify(result) + "\n");
}
