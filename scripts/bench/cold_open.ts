/**
 * Cold open: the first open of a log in a fresh process, as an application opens its log at start-up (cold JIT,
 * nothing loaded). Each figure is one fresh process; the median of several is printed, beside the same machine's
 * raw read + CRC-32 of the same files in a fresh process (the physical limit of a full verification).
 *
 * - 200,000 records (16 B keys, 128 B values, one segment): `open()` time against ≤ 15 ms on Bun and Deno and
 *   ≤ 25 ms on Node. The import of the library is timed apart (it is paid once per process, open or not).
 * - A 1 GiB log of the same records (64 MiB with `--quick`): open's MB/s against ≥ 80 % of the raw MB/s.
 *
 * Node and Bun load the built package (`dist/mod.js`, what npm installs; built first), Deno loads `mod.ts` (what
 * JSR serves).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { WriteAheadLog } from "../../mod.ts";
import type { RuntimeName } from "./common.ts";
import { bytesValue, fmt, median, progress } from "./common.ts";

/** The fresh-process figures of one runtime. */
export interface ColdOpenResult {
  runtime: RuntimeName;
  /** What the child imported. */
  entry: string;
  records: number;
  /** open() of the 200,000-record log, ms, one per process. */
  openMs: number[];
  /** import of the library, ms, one per process. */
  importMs: number[];
  /** raw read + CRC-32 of the same file, ms, one per process. */
  rawMs: number[];
  /** The big log: open() and raw ms, one per process. */
  bigOpenMs: number[];
  bigRawMs: number[];
  bigBytes: number;
  bigLabel: string;
  error?: string;
}

const RECORDS = 200_000;

async function buildLog(dir: string, bytes: number | null): Promise<number> {
  fs.rmSync(dir, { recursive: true, force: true });
  const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
  const value = bytesValue(128);
  let n = 0;
  const pending: Promise<number>[] = [];
  for (;;) {
    n++;
    pending.push(wal.append("PUT", `key:${String(n).padStart(12, "0")}`, value));
    if (pending.length === 4096) {
      await Promise.all(pending);
      pending.length = 0;
      if (bytes !== null && wal.stats().segmentBytes >= bytes) break;
    }
    if (bytes === null && n === RECORDS) break;
  }
  await Promise.all(pending);
  await wal.close();
  return n;
}

function child(repo: string, rt: RuntimeName, args: string[]): Record<string, number> {
  const bin = path.join(repo, "node_modules", ".bin", rt);
  const script = path.join(repo, "scripts", "bench", "cold_open_child.ts");
  const argv = rt === "deno" ? ["run", "-A", `--config=${path.join(repo, "deno.json")}`, script, ...args] : [script, ...args];
  const out = execFileSync(bin, argv, { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, number>;
}

/** Runs the cold-open measurements for each runtime (fresh processes, alternating raw and open runs). */
export async function coldOpenResults(
  repo: string,
  runtimes: readonly RuntimeName[],
  dir: string,
  quick: boolean,
): Promise<ColdOpenResult[]> {
  progress("cold open: building the package (dist/) for Node and Bun");
  execFileSync(path.join(repo, "node_modules", ".bin", "node"), [path.join(repo, "scripts", "build.ts")], {
    cwd: repo,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const small = path.join(dir, "cold-200k");
  const big = path.join(dir, "cold-big");
  const bigBytes = quick ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
  const bigLabel = quick ? "64 MiB (--quick; the full run uses 1 GiB)" : "1 GiB";
  progress("cold open: building the 200,000-record log");
  await buildLog(small, null);
  progress(`cold open: building the ${bigLabel} log of the same records`);
  await buildLog(big, bigBytes);
  const runs = quick ? 3 : 11;
  const bigRuns = quick ? 2 : 5;
  const results: ColdOpenResult[] = [];
  try {
    for (const rt of runtimes) {
      if (!fs.existsSync(path.join(repo, "node_modules", ".bin", rt))) continue;
      const entry = rt === "deno" ? path.join(repo, "mod.ts") : path.join(repo, "dist", "mod.js");
      const r: ColdOpenResult = {
        runtime: rt,
        entry: path.relative(repo, entry),
        records: RECORDS,
        openMs: [],
        importMs: [],
        rawMs: [],
        bigOpenMs: [],
        bigRawMs: [],
        bigBytes: 0,
        bigLabel,
      };
      progress(`[${rt}] cold open: ${runs} fresh processes on the 200,000-record log, ${bigRuns} on the ${bigLabel} log`);
      try {
        for (let i = 0; i < runs; i++) {
          r.rawMs.push(child(repo, rt, ["raw", small]).rawMs);
          const o = child(repo, rt, ["open", entry, small]);
          if (o.seq !== RECORDS) throw new Error(`open found seq ${o.seq}, expected ${RECORDS}`);
          r.openMs.push(o.openMs);
          r.importMs.push(o.importMs);
        }
        for (let i = 0; i < bigRuns; i++) {
          const raw = child(repo, rt, ["raw", big]);
          r.bigRawMs.push(raw.rawMs);
          r.bigBytes = raw.bytes;
          r.bigOpenMs.push(child(repo, rt, ["open", entry, big]).openMs);
        }
      } catch (e) {
        r.error = e instanceof Error ? e.message : String(e);
      }
      results.push(r);
    }
  } finally {
    fs.rmSync(small, { recursive: true, force: true });
    fs.rmSync(big, { recursive: true, force: true });
  }
  return results;
}

/** The per-runtime open-time target of the 200,000-record log, in ms. */
function openTarget(rt: RuntimeName): number {
  return rt === "node" ? 25 : 15;
}

/** The cold-open table, with each target met or missed. */
export function coldOpenTable(results: readonly ColdOpenResult[]): string {
  const lines = [
    "Cold open (a fresh process per figure; median of the runs; full verification)",
    "runtime  entry        import ms  open 200k ms  target   raw read+crc ms  | big log open MB/s  raw MB/s  ratio  target",
  ];
  for (const r of results) {
    if (r.error !== undefined) {
      lines.push(`${r.runtime.padEnd(8)} error: ${r.error}`);
      continue;
    }
    const open = median(r.openMs);
    const target = openTarget(r.runtime);
    const bigOpen = r.bigBytes / 1e6 / (median(r.bigOpenMs) / 1000);
    const bigRaw = r.bigBytes / 1e6 / (median(r.bigRawMs) / 1000);
    const ratio = bigOpen / bigRaw;
    lines.push(
      [
        r.runtime.padEnd(8),
        r.entry.padEnd(12),
        fmt(median(r.importMs)).padStart(9),
        fmt(open).padStart(13),
        `${open <= target ? "met" : "MISSED"} ≤${target}`.padEnd(8),
        fmt(median(r.rawMs)).padStart(16),
        " |",
        fmt(bigOpen).padStart(17),
        fmt(bigRaw).padStart(9),
        ratio.toFixed(2).padStart(6),
        ` ${ratio >= 0.8 ? "met" : "MISSED"} ≥0.80`,
      ].join(" "),
    );
  }
  if (results.length > 0) {
    const r = results[0];
    lines.push(`big log: ${r.bigLabel}, ${(r.bigBytes / 1e6).toFixed(0)} MB; open 200k range per runtime: ` +
      results.filter((x) => x.error === undefined).map((x) =>
        `${x.runtime} ${fmt(Math.min(...x.openMs))}–${fmt(Math.max(...x.openMs))} ms`
      ).join(", "));
  }
  return lines.join("\n");
}
