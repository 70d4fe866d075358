/**
 * `truncateAfter` on a big log: `npm run bench -- --only truncate` runs this file once per runtime (or by hand:
 * `node scripts/bench/truncate_cases.ts --dir /tmp/x --out /tmp/x.json [--quick]`).
 *
 * Writes a log of 16-byte keys and 128-byte values ("none" mode, in pipelined groups, default 64 MiB segments) of
 * 1 GiB (64 MiB with `--quick`), then times, each in its own runs and as medians:
 * - cutting one record at the end (the cut shortens the newest segment: one scan of it, two fdatasyncs, the
 *   marker's write, rename and directory fsyncs);
 * - cutting the last 10 % of the records (deletes the newest segments and shortens one in the middle), three
 *   times in a row, each removing 10 % of what is left;
 * - for reference, one `append` + fdatasync ("sync" mode) on the same disk.
 *
 * @module
 */

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WriteAheadLog } from "../../mod.ts";
import { currentRuntime, fmt, keys, KEY_MASK, median, now, runtimeVersion, stringValue } from "./common.ts";
import type { RuntimeName } from "./common.ts";

/** One runtime's figures. */
export interface TruncateResult {
  runtime: RuntimeName;
  version: string;
  logMiB: number;
  records: number;
  segments: number;
  /** ms per cut of the last record (median of the runs). */
  lastRecordMs: number;
  /** ms per cut of the last 10 % of the records (median of three), and the MiB each removed (median). */
  tenPercentMs: number;
  tenPercentMiB: number;
  /** ms of one awaited "sync"-mode append on the same disk, for scale (median). */
  syncAppendMs: number;
}

async function measure(dir: string, quick: boolean): Promise<TruncateResult> {
  const target = (quick ? 64 : 1024) * 1024 * 1024;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const value = stringValue(128);
  let wal = await WriteAheadLog.open(dir, { syncMode: "none" });
  const perRecord = 32 + 3 + 16 + 128;
  const records = Math.ceil(target / perRecord);
  for (let done = 0; done < records;) {
    const n = Math.min(4096, records - done);
    const pending: Promise<number>[] = [];
    for (let i = 0; i < n; i++) pending.push(wal.append("PUT", keys[(done + i) & KEY_MASK], value));
    await Promise.all(pending);
    done += n;
  }
  await wal.close();
  wal = await WriteAheadLog.open(dir, { syncMode: "sync", verify: "tail" });
  const stats = wal.stats();
  const segments = stats.segments;
  const logMiB = stats.segmentBytes / 1024 / 1024;
  // The writes above are still in the page cache; the first fdatasync would write them all back (ext4 commits
  // every file's dirty data with its journal) and be charged to the first cut. This one takes that instead.
  await wal.append("PUT", keys[0], value);
  const lastRecord: number[] = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    const t = now();
    await wal.truncateAfter(wal.currentSeqNum() - 1);
    lastRecord.push(now() - t);
  }
  const tenPercent: number[] = [];
  const tenPercentMiB: number[] = [];
  for (let i = 0; i < 3; i++) {
    const last = wal.currentSeqNum();
    const bytesBefore = wal.stats().segmentBytes;
    const t = now();
    await wal.truncateAfter(last - Math.floor(last / 10));
    tenPercent.push(now() - t);
    tenPercentMiB.push((bytesBefore - wal.stats().segmentBytes) / 1024 / 1024);
  }
  const appends: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = now();
    await wal.append("PUT", keys[i], value);
    appends.push(now() - t);
  }
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    runtime: currentRuntime(),
    version: runtimeVersion(),
    logMiB,
    records,
    segments,
    lastRecordMs: median(lastRecord),
    tenPercentMs: median(tenPercent),
    tenPercentMiB: median(tenPercentMiB),
    syncAppendMs: median(appends),
  };
}

/** Runs this file on `rt` and returns its figures, or why it failed. */
export function truncateResult(repo: string, rt: RuntimeName, workDir: string, quick: boolean): Promise<TruncateResult | string> {
  const script = path.join(repo, "scripts", "bench", "truncate_cases.ts");
  const dir = path.join(workDir, `truncate-${rt}-${process.pid}`);
  const out = `${dir}.json`;
  const args = [script, "--dir", dir, "--out", out, ...(quick ? ["--quick"] : [])];
  const argv = rt === "deno" ? ["run", "--no-prompt", `--config=${path.join(repo, "deno.json")}`, "-A", ...args] : args;
  fs.mkdirSync(workDir, { recursive: true });
  return new Promise((resolve) => {
    const child = spawn(path.join(repo, "node_modules", ".bin", rt), argv, { cwd: repo, stdio: ["ignore", 2, 2] });
    child.on("error", (e) => resolve(`${rt}: ${e.message}`));
    child.on("exit", (code) => {
      try {
        if (code !== 0 || !fs.existsSync(out)) return resolve(`${rt}: truncate cases exited with ${code}`);
        resolve(JSON.parse(fs.readFileSync(out, "utf8")) as TruncateResult);
      } finally {
        fs.rmSync(out, { force: true });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** A markdown table of the runtimes' figures. */
export function truncateTable(results: readonly TruncateResult[]): string {
  if (results.length === 0) return "truncateAfter: no runtime ran";
  const head = `| truncateAfter on a ${fmt(results[0].logMiB)} MiB log (${results[0].segments} segments) | ` +
    results.map((r) => `${r.runtime} ${r.version}`).join(" | ") + " |";
  const rows = [
    ["cut the last record (ms)", (r: TruncateResult) => r.lastRecordMs.toFixed(2)],
    ["cut the last 10 % of the records (ms)", (r: TruncateResult) => r.tenPercentMs.toFixed(2)],
    ["  MiB removed by each such cut", (r: TruncateResult) => fmt(r.tenPercentMiB)],
    ["one awaited append in sync mode, for scale (ms)", (r: TruncateResult) => r.syncAppendMs.toFixed(2)],
  ] as const;
  return [head, "|---|" + results.map(() => "---:|").join(""), ...rows.map(([label, f]) => `| ${label} | ${results.map(f).join(" | ")} |`)]
    .join("\n");
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0 || i + 1 >= argv.length) throw new Error(`missing ${name}`);
    return argv[i + 1];
  };
  const result = await measure(path.resolve(arg("--dir")), argv.includes("--quick"));
  fs.writeFileSync(path.resolve(arg("--out")), JSON.stringify(result));
}
