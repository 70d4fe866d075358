/**
 * The log's own workloads: appends in each sync mode, group commit, `appendBatch`, replay, streaming replay and
 * open. Every function opens its log, measures, and closes it again (closing syncs, so no dirty pages leak into
 * the next workload).
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WriteAheadLog } from "../../mod.ts";
import type { SyncMode, WriterStats } from "../../mod.ts";
import { KEY_MASK, keys, now } from "./common.ts";

/** A rate plus the writer's counters of the run. */
export interface RateWithStats {
  /** Appends (or records) per second. */
  rate: number;
  /** Appends (or records) in the run. */
  count: number;
  /** The log's write-path counters at the end of the run. */
  stats: WriterStats;
}

/**
 * `outstanding` writers, each awaiting its own appends one after another, for about `seconds`
 * (outstanding = 1: one writer awaiting each append).
 */
export async function appendAwaited(
  dir: string,
  syncMode: SyncMode,
  value: string | Uint8Array,
  seconds: number,
  outstanding: number,
): Promise<RateWithStats> {
  const wal = await WriteAheadLog.open(dir, { syncMode });
  try {
    let n = 0;
    let stop = false;
    const t0 = now();
    const end = t0 + seconds * 1000;
    if (outstanding === 1) {
      // The plain loop, without the Promise.all wrapper, checking the clock every 16 appends.
      for (;;) {
        await wal.append("PUT", keys[n & KEY_MASK], value);
        n++;
        if ((n & 15) === 0 && now() >= end) break;
      }
    } else {
      const loop = async () => {
        while (!stop) {
          await wal.append("PUT", keys[n & KEY_MASK], value);
          n++;
          if (now() >= end) stop = true;
        }
      };
      await Promise.all(Array.from({ length: outstanding }, loop));
    }
    const rate = n / ((now() - t0) / 1000);
    return { rate, count: n, stats: wal.stats() };
  } finally {
    await wal.close();
  }
}

/**
 * One writer that does not wait for each append: it calls `append` `window` times in one turn and awaits the
 * last promise (they resolve in order), then repeats.
 */
export async function appendPipelined(
  dir: string,
  syncMode: SyncMode,
  value: string | Uint8Array,
  seconds: number,
  window: number,
): Promise<RateWithStats> {
  const wal = await WriteAheadLog.open(dir, { syncMode });
  try {
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    do {
      let last: Promise<number> | undefined;
      for (let i = 0; i < window; i++) last = wal.append("PUT", keys[(n + i) & KEY_MASK], value);
      await last;
      n += window;
    } while (now() < end);
    const rate = n / ((now() - t0) / 1000);
    return { rate, count: n, stats: wal.stats() };
  } finally {
    await wal.close();
  }
}

/** One writer awaiting `appendBatch` of `size` PUTs after another; returns PUT records per second. */
export async function appendBatches(
  dir: string,
  syncMode: SyncMode,
  value: string | Uint8Array,
  seconds: number,
  size: number,
): Promise<RateWithStats> {
  const wal = await WriteAheadLog.open(dir, { syncMode });
  try {
    // A few prebuilt batches with distinct keys, reused in turn.
    const batches = Array.from(
      { length: 8 },
      (_, b) => Array.from({ length: size }, (_, i) => ["PUT", keys[(b * size + i) & KEY_MASK], value] as const),
    );
    let n = 0;
    let b = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    do {
      await wal.appendBatch(batches[b++ & 7]);
      n += size;
    } while (now() < end);
    const rate = n / ((now() - t0) / 1000);
    return { rate, count: n, stats: wal.stats() };
  } finally {
    await wal.close();
  }
}

/** Facts about a log on disk. */
export interface LogFiles {
  /** Segment paths in seq order. */
  paths: string[];
  /** Total bytes of the segments. */
  bytes: number;
  /** Size of the newest segment. */
  tailBytes: number;
}

/** The segments of the log in `dir`. */
export function logFiles(dir: string): LogFiles {
  const paths = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => path.join(dir, n));
  let bytes = 0;
  let tailBytes = 0;
  for (const p of paths) {
    tailBytes = fs.statSync(p).size;
    bytes += tailBytes;
  }
  return { paths, bytes, tailBytes };
}

/**
 * Writes a log in `"none"` mode (1000 appends per turn), stopping after `records` records or once the
 * segments hold `bytes` bytes. Calls `onProgress` with the bytes written about every 64 MiB.
 */
export async function buildLog(
  dir: string,
  value: string | Uint8Array,
  limit: { records?: number; bytes?: number },
  onProgress?: (bytes: number) => void,
): Promise<{ records: number; seconds: number }> {
  const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
  const valueBytes = typeof value === "string" ? value.length : value.length;
  const recordGuess = 24 + 3 + 16 + valueBytes;
  const maxRecords = limit.records ?? Math.floor((limit.bytes ?? 0) / recordGuess);
  const t0 = now();
  let n = 0;
  let reported = 0;
  try {
    while (n < maxRecords) {
      const count = Math.min(1000, maxRecords - n);
      let last: Promise<number> | undefined;
      for (let i = 0; i < count; i++) last = wal.append("PUT", keys[(n + i) & KEY_MASK], value);
      await last;
      n += count;
      if (onProgress && (n * recordGuess) - reported >= 64 * 1024 * 1024) {
        reported = n * recordGuess;
        onProgress(reported);
      }
    }
  } finally {
    await wal.close();
  }
  return { records: n, seconds: (now() - t0) / 1000 };
}

/** Milliseconds `WriteAheadLog.open` takes on the log in `dir` with the given verification (close not timed). */
export async function timeOpen(dir: string, verify: "full" | "tail"): Promise<number> {
  const t0 = now();
  const wal = await WriteAheadLog.open(dir, { verify, syncMode: "none" });
  const ms = now() - t0;
  await wal.close();
  return ms;
}

/** Records per second of `replay()` (everything into one array) on an open log; `count` is checked. */
export async function replayArray(wal: WriteAheadLog, count: number): Promise<number> {
  const t0 = now();
  const records = await wal.replay();
  const ms = now() - t0;
  if (records.length !== count) throw new Error(`replay returned ${records.length} records, expected ${count}`);
  return count / (ms / 1000);
}

/** Records per second of `replayStream()` on an open log; `count` is checked. */
export async function replayStreaming(wal: WriteAheadLog, count: number): Promise<number> {
  let n = 0;
  let sink = 0;
  const t0 = now();
  for await (const r of wal.replayStream()) {
    n++;
    sink += r.seqNum;
  }
  const ms = now() - t0;
  if (n !== count || sink < 0) throw new Error(`replayStream returned ${n} records, expected ${count}`);
  return count / (ms / 1000);
}

/** Streams the log in `dir`, sampling RSS every 1024 records; returns the records and RSS facts in MB. */
export async function streamWithRss(
  dir: string,
): Promise<{ records: number; seconds: number; baseMb: number; peakMb: number }> {
  const rss = () => process.memoryUsage().rss / (1024 * 1024);
  const wal = await WriteAheadLog.open(dir, { verify: "tail", syncMode: "none" });
  try {
    const baseMb = rss();
    let peakMb = baseMb;
    let n = 0;
    const t0 = now();
    for await (const _record of wal.replayStream()) {
      if ((++n & 1023) === 0) {
        const m = rss();
        if (m > peakMb) peakMb = m;
      }
    }
    const m = rss();
    if (m > peakMb) peakMb = m;
    return { records: n, seconds: (now() - t0) / 1000, baseMb, peakMb };
  } finally {
    await wal.close();
  }
}
