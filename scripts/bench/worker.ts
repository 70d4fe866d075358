/**
 * The per-runtime worker: run by `main.ts` under Deno, Bun or Node, it measures every workload on the runtime
 * running it and writes the rows as JSON to the `--out` file. Progress goes to stderr.
 *
 * Usage: `<runtime> scripts/bench/worker.ts --dir <work dir> --out <file.json> [--quick] [--phase main|rss]`
 *
 * Phase `main` leaves the big log in `<work dir>/big`; phase `rss`, run in a fresh process afterwards, streams
 * it and samples the peak RSS. The orchestrator deletes the work dir.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WriteAheadLog } from "../../mod.ts";
import { benchConfig, bytesValue, currentRuntime, now, progress, runtimeVersion, stringValue } from "./common.ts";
import type { BenchConfig, Row, Unit, WorkerResult } from "./common.ts";
import {
  appendAsyncLoop,
  appendSyncLoop,
  bufferedAppendLoop,
  denoAppendSyncLoop,
  preallocate,
  preallocatedSyncLoop,
  rawReadCrc,
} from "./physical.ts";
import { levelPut, loadLevel, loadSqlite, sqliteInsert, sqliteName } from "./peers.ts";
import {
  appendAwaited,
  appendBatches,
  appendPipelined,
  buildLog,
  logFiles,
  replayArray,
  replayStreaming,
  streamWithRss,
  timeOpen,
} from "./wal_cases.ts";
import type { RateWithStats } from "./wal_cases.ts";

interface Args {
  dir: string;
  out: string;
  quick: boolean;
  phase: "main" | "rss";
}

function parseArgs(argv: readonly string[]): Args {
  let dir = "";
  let out = "";
  let quick = false;
  let phase: "main" | "rss" = "main";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--dir") dir = argv[++i];
    else if (a === "--out") out = argv[++i];
    else if (a === "--quick") quick = true;
    else if (a === "--phase") phase = argv[++i] === "rss" ? "rss" : "main";
    else throw new Error(`unknown argument ${a}`);
  }
  if (!dir || !out) throw new Error("usage: worker.ts --dir <dir> --out <file> [--quick] [--phase main|rss]");
  return { dir, out, quick, phase };
}

/** A workload run once per repeat. */
interface Case {
  row: Row;
  run: (scratch: string) => Promise<number> | number;
}

let scratchCounter = 0;

/** A fresh empty path under the work dir, removed after the run. */
function scratchPath(dir: string): string {
  return path.join(dir, `run-${++scratchCounter}`);
}

function removeQuietly(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

function newRow(rows: Row[], id: string, group: string, label: string, unit: Unit, extra: Partial<Row> = {}): Row {
  const row: Row = { id, group, label, unit, samples: [], ...extra };
  rows.push(row);
  return row;
}

/** Runs every case once per repeat, round robin, so slow phases of a noisy machine hit every case alike. */
async function runRoundRobin(cases: Case[], cfg: BenchConfig, dir: string, title: string): Promise<void> {
  for (let r = 0; r < cfg.repeats; r++) {
    for (const c of cases) {
      if (c.row.unavailable) continue;
      progress(`${title} ${r + 1}/${cfg.repeats}: ${c.row.label}`);
      const scratch = scratchPath(dir);
      try {
        c.row.samples.push(await c.run(scratch));
      } catch (e) {
        c.row.unavailable = `failed: ${String((e as Error).message ?? e).split("\n")[0]}`;
        c.row.samples = [];
        progress(`  ${c.row.label}: ${c.row.unavailable}`);
      } finally {
        removeQuietly(scratch);
      }
    }
  }
}

/** Bytes on disk of one record with this value (header + "PUT" + 16-byte key + value). */
async function recordSize(dir: string, value: string | Uint8Array): Promise<number> {
  const scratch = scratchPath(dir);
  try {
    const wal = await WriteAheadLog.open(scratch, { syncMode: "none" });
    const before = logFiles(scratch).bytes;
    await wal.append("PUT", "k000000000000000", value);
    await wal.close();
    return logFiles(scratch).bytes - before;
  } finally {
    removeQuietly(scratch);
  }
}

function walRate(row: Row, result: RateWithStats): number {
  const s = result.stats;
  const perGroup = s.groups > 0 ? `, ${(result.count / s.groups).toFixed(1)} appends/group` : "";
  row.note = `last run: ${s.groups} groups, ${s.writes} writes, ${s.fsyncs} fdatasyncs${perGroup}`;
  return result.rate;
}

async function withLog(dir: string, f: (wal: WriteAheadLog) => Promise<number>): Promise<number> {
  const wal = await WriteAheadLog.open(dir, { syncMode: "none", verify: "tail" });
  try {
    return await f(wal);
  } finally {
    await wal.close();
  }
}

async function mainPhase(args: Args, cfg: BenchConfig): Promise<Row[]> {
  const rows: Row[] = [];
  const rt = currentRuntime();
  const dir = args.dir;
  const sizes = [128, 4096] as const;
  const values = { 128: stringValue(128), 4096: stringValue(4096) } as const;
  const recBytes = { 128: await recordSize(dir, values[128]), 4096: await recordSize(dir, values[4096]) };
  const sizeLabel = (s: number) => (s === 128 ? "128 B" : "4 KiB");

  // ---- fsync-bound rows: physical limit, the log in sync mode, peers; round robin.
  const levelProblem = await loadLevel();
  const sqliteProblem = await loadSqlite();
  const preallocBytes: Record<number, number> = {};
  const preallocPaths: Record<number, string> = {};
  for (const s of sizes) {
    preallocBytes[s] = recBytes[s] * 8192;
    preallocPaths[s] = path.join(dir, `prealloc-${s}`);
    preallocate(preallocPaths[s], preallocBytes[s]);
  }
  const secs = cfg.seconds;
  const cases: Case[] = [];
  for (const s of sizes) {
    const L = sizeLabel(s);
    const rec = bytesValue(recBytes[s]);
    const v = values[s];
    const g = `physical limit and sync mode, ${L} values (${recBytes[s]} B records)`;
    cases.push({
      row: newRow(rows, `phys.append.${s}`, g, "write+fdatasync loop, node:fs sync calls", "ops/s", {
        bytesPerOp: recBytes[s],
      }),
      run: (p) => appendSyncLoop(p, rec, secs),
    });
    if (rt === "deno") {
      cases.push({
        row: newRow(rows, `phys.denofs.${s}`, g, "write+fdatasync loop, Deno.FsFile sync calls", "ops/s", {
          bytesPerOp: recBytes[s],
        }),
        run: (p) => denoAppendSyncLoop(p, rec, secs),
      });
    }
    cases.push({
      row: newRow(rows, `phys.prealloc.${s}`, g, "write+fdatasync, preallocated file", "ops/s", {
        bytesPerOp: recBytes[s],
      }),
      run: () => preallocatedSyncLoop(preallocPaths[s], preallocBytes[s], rec, secs),
    });
    if (s === 128) {
      cases.push({
        row: newRow(rows, `phys.async.${s}`, g, "write+fdatasync loop, fs.promises", "ops/s", {
          bytesPerOp: recBytes[s],
        }),
        run: (p) => appendAsyncLoop(p, rec, secs),
      });
    }
    const r1 = newRow(rows, `wal.sync.1.${s}`, g, "WAL sync, 1 writer awaiting each append", "ops/s", {
      bytesPerOp: recBytes[s],
    });
    cases.push({ row: r1, run: async (p) => walRate(r1, await appendAwaited(p, "sync", v, secs, 1)) });
    for (const k of [16, 64, 256]) {
      const r = newRow(rows, `wal.sync.${k}.${s}`, g, `WAL sync, ${k} appends outstanding`, "ops/s", {
        bytesPerOp: recBytes[s],
      });
      cases.push({
        row: r,
        run: async (p) => walRate(r, await appendAwaited(p, "sync", v, secs, k)),
      });
    }
    const rb = newRow(rows, `wal.appendBatch100.${s}`, g, "WAL appendBatch of 100, awaited (records/s)", "records/s", {
      bytesPerOp: recBytes[s],
    });
    cases.push({ row: rb, run: async (p) => walRate(rb, await appendBatches(p, "sync", v, secs, 100)) });
  }
  const pg = "peers, 128 B values (16 B keys)";
  const v128 = values[128];
  for (const [k, label] of [[1, "one at a time"], [64, "64 outstanding"], [256, "256 outstanding"]] as const) {
    cases.push({
      row: newRow(rows, `level.put.${k}`, pg, `LevelDB put({sync:true}), ${label}`, "ops/s", {
        unavailable: levelProblem ?? undefined,
      }),
      run: (p) => levelPut(p, v128, secs, k),
    });
  }
  cases.push({
    row: newRow(rows, "level.batch100", pg, "LevelDB batch of 100 ({sync:true}), records/s", "records/s", {
      unavailable: levelProblem ?? undefined,
    }),
    run: (p) => levelPut(p, v128, secs, 1, 100),
  });
  cases.push({
    row: newRow(rows, "sqlite.auto", pg, `SQLite (${sqliteName()}) WAL+FULL, autocommit inserts`, "ops/s", {
      unavailable: sqliteProblem ?? undefined,
    }),
    run: (p) => sqliteInsert(p, v128, secs, 1),
  });
  cases.push({
    row: newRow(rows, "sqlite.tx100", pg, `SQLite (${sqliteName()}) WAL+FULL, 100 inserts/transaction`, "records/s", {
      unavailable: sqliteProblem ?? undefined,
    }),
    run: (p) => sqliteInsert(p, v128, secs, 100),
  });
  await runRoundRobin(cases, cfg, dir, "fsync-bound");
  for (const s of sizes) removeQuietly(preallocPaths[s]);

  // ---- CPU-bound append rows: buffered writes, batch and none modes.
  const cpuSecs = cfg.quick ? cfg.seconds : 0.3;
  const cpu: Case[] = [];
  for (const s of sizes) {
    const L = sizeLabel(s);
    const rec = bytesValue(recBytes[s]);
    const v = values[s];
    const g = `no-sync appends, ${L} values (${recBytes[s]} B records)`;
    cpu.push({
      row: newRow(rows, `phys.buffered.${s}`, g, "buffered write loop, no sync (node:fs)", "ops/s", {
        bytesPerOp: recBytes[s],
      }),
      run: (p) => bufferedAppendLoop(p, rec, cpuSecs, 256 * 1024 * 1024),
    });
    for (const mode of ["batch", "none"] as const) {
      const ra = newRow(rows, `wal.${mode}.1.${s}`, g, `WAL ${mode} mode, 1 writer awaiting each append`, "ops/s", {
        bytesPerOp: recBytes[s],
      });
      cpu.push({ row: ra, run: async (p) => walRate(ra, await appendAwaited(p, mode, v, cpuSecs, 1)) });
      const rp = newRow(
        rows,
        `wal.${mode}.pipe.${s}`,
        g,
        `WAL ${mode} mode, 1 writer, 1000 appends per await`,
        "ops/s",
        {
          bytesPerOp: recBytes[s],
        },
      );
      cpu.push({ row: rp, run: async (p) => walRate(rp, await appendPipelined(p, mode, v, cpuSecs, 1000)) });
    }
  }
  await runRoundRobin(cpu, cfg, dir, "no-sync");

  // ---- replay, streaming replay, open, raw read.
  const logs = [
    { name: "128", label: "128 B", value: values[128] as string | Uint8Array, records: cfg.smallRecords },
    { name: "4096", label: "4 KiB", value: values[4096] as string | Uint8Array, records: cfg.mediumRecords },
    {
      name: "65536",
      label: "64 KiB (bytes)",
      value: bytesValue(65536) as string | Uint8Array,
      records: cfg.largeRecords,
    },
  ];
  const readBuffer = new Uint8Array(4 * 1024 * 1024);
  const readCases: Case[] = [];
  for (const log of logs) {
    const logDir = path.join(dir, `replay-${log.name}`);
    progress(`building the ${log.label} replay log (${log.records.toLocaleString("en-US")} records)`);
    await buildLog(logDir, log.value, { records: log.records });
    const files = logFiles(logDir);
    const perRecord = files.bytes / log.records;
    const g = `replay and open, ${log.label} values: ${log.records.toLocaleString("en-US")} records, ${
      (files.bytes / 1e6).toFixed(1)
    } MB`;
    readCases.push({
      row: newRow(rows, `raw.read.${log.name}`, g, "raw sequential read + node:zlib crc32 (cached)", "MB/s"),
      run: () => rawReadCrc(files.paths, readBuffer),
    });
    readCases.push({
      row: newRow(rows, `open.full.${log.name}`, g, "open, full verification (default)", "ms", { bytes: files.bytes }),
      run: () => timeOpen(logDir, "full"),
    });
    // Each replay run opens the log (not timed) and closes it: a second open in one process supersedes the
    // first handle, so none can stay open across the open rows.
    readCases.push({
      row: newRow(rows, `replay.array.${log.name}`, g, "replay() into an array", "records/s", {
        bytesPerOp: perRecord,
      }),
      run: () => withLog(logDir, (wal) => replayArray(wal, log.records)),
    });
    readCases.push({
      row: newRow(rows, `replay.stream.${log.name}`, g, "replayStream()", "records/s", { bytesPerOp: perRecord }),
      run: () => withLog(logDir, (wal) => replayStreaming(wal, log.records)),
    });
  }
  await runRoundRobin(readCases, { ...cfg, repeats: Math.max(cfg.repeats, 5) }, dir, "replay/open");
  for (const log of logs) removeQuietly(path.join(dir, `replay-${log.name}`));

  // ---- the big log against a 1 MB log.
  const bigDir = path.join(dir, "big");
  const mbDir = path.join(dir, "onemb");
  const bigLabel = cfg.quick ? "64 MiB (--quick; the full run uses 1 GiB)" : "1 GiB";
  progress(`building the ${bigLabel} log in none mode (4 KiB values)`);
  const built = await buildLog(
    bigDir,
    values[4096],
    { bytes: cfg.bigLogBytes },
    (b) => progress(`  ${(b / 1048576).toFixed(0)} MiB`),
  );
  await buildLog(mbDir, values[4096], { bytes: 1024 * 1024 });
  // Tail-only verification reads the whole newest segment, so its cost follows that segment's size (up to
  // maxFileSize, 64 MiB by default), not the log's: a log whose newest segment is nearly full shows the worst case.
  const fullSegDir = path.join(dir, "fullseg");
  await buildLog(fullSegDir, values[4096], { bytes: 63 * 1024 * 1024 });
  const fullSeg = logFiles(fullSegDir);
  const big = logFiles(bigDir);
  const mb = logFiles(mbDir);
  progress(
    `big log: ${built.records.toLocaleString("en-US")} records, ${
      (big.bytes / 1e6).toFixed(0)
    } MB in ${big.paths.length} segments, written in ${built.seconds.toFixed(1)} s`,
  );
  const bg = `open: ${bigLabel} log (${big.paths.length} segments, newest ${
    (big.tailBytes / 1e6).toFixed(1)
  } MB) against a 1 MiB log`;
  const bigCases: Case[] = [
    {
      row: newRow(rows, "raw.read.big", bg, "raw sequential read + crc32 of the big log", "MB/s"),
      run: () => rawReadCrc(big.paths, readBuffer),
    },
    {
      row: newRow(rows, "open.full.big", bg, "open big log, full verification", "ms", { bytes: big.bytes }),
      run: () => timeOpen(bigDir, "full"),
    },
    {
      row: newRow(rows, "open.tail.big", bg, "open big log, tail-only verification", "ms", { bytes: big.tailBytes }),
      run: () => timeOpen(bigDir, "tail"),
    },
    {
      row: newRow(rows, "open.full.1mb", bg, "open 1 MiB log, full verification", "ms", { bytes: mb.bytes }),
      run: () => timeOpen(mbDir, "full"),
    },
    {
      row: newRow(rows, "open.tail.1mb", bg, "open 1 MiB log, tail-only verification", "ms", { bytes: mb.bytes }),
      run: () => timeOpen(mbDir, "tail"),
    },
  ];
  bigCases.push({
    row: newRow(
      rows,
      "open.tail.fullseg",
      bg,
      `open, tail-only, newest segment nearly full (${(fullSeg.tailBytes / 1e6).toFixed(0)} MB)`,
      "ms",
      {
        bytes: fullSeg.tailBytes,
      },
    ),
    run: () => timeOpen(fullSegDir, "tail"),
  });
  await runRoundRobin(bigCases, cfg, dir, "big log");
  removeQuietly(mbDir);
  removeQuietly(fullSegDir);
  return rows;
}

async function rssPhase(args: Args, cfg: BenchConfig): Promise<Row[]> {
  const rows: Row[] = [];
  const bigDir = path.join(args.dir, "big");
  const g = `streaming replay of the ${cfg.quick ? "64 MiB (--quick)" : "1 GiB"} log, in a fresh process`;
  const files = logFiles(bigDir);
  progress("streaming the big log, sampling RSS");
  const r = await streamWithRss(bigDir);
  newRow(rows, "stream.big", g, "replayStream() of the big log", "records/s", {
    samples: [r.records / r.seconds],
    bytesPerOp: files.bytes / r.records,
  });
  newRow(rows, "rss.base", g, "RSS before streaming", "MB", { samples: [r.baseMb] });
  newRow(rows, "rss.peak", g, "peak RSS while streaming", "MB", {
    samples: [r.peakMb],
    note: "process.memoryUsage().rss every 1024 records",
  });
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = benchConfig(args.quick);
  fs.mkdirSync(args.dir, { recursive: true });
  const t0 = now();
  const rows = args.phase === "rss" ? await rssPhase(args, cfg) : await mainPhase(args, cfg);
  const result: WorkerResult = {
    runtime: currentRuntime(),
    version: runtimeVersion(),
    phase: args.phase,
    quick: args.quick,
    rows,
    seconds: (now() - t0) / 1000,
  };
  fs.writeFileSync(args.out, JSON.stringify(result, null, 2));
}

await main();
