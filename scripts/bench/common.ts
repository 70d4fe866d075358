/**
 * Shared pieces of the benchmark: the result types the worker writes and the orchestrator reads, timing and
 * statistics helpers and the workload data (16-byte keys, 128 B / 4 KiB / 64 KiB values). Every figure printed is
 * measured in the same run.
 *
 * @module
 */

import process from "node:process";

/** The runtimes the benchmark knows. */
export type RuntimeName = "deno" | "bun" | "node";

/** What a row's figure counts. */
export type Unit = "ops/s" | "records/s" | "MB/s" | "ms" | "MB";

/** One measured row: every sample of one workload, plus what it takes to print it. */
export interface Row {
  /** Stable id the report and the targets refer to, e.g. `wal.sync.1.128`. */
  id: string;
  /** Section of the table. */
  group: string;
  /** Human label. */
  label: string;
  /** Unit of `samples`. */
  unit: Unit;
  /** One figure per run. */
  samples: number[];
  /** Bytes per op or record on disk, when MB/s can be derived from an ops/s or records/s figure. */
  bytesPerOp?: number;
  /** Bytes one run processes, when MB/s can be derived from a time in ms (open rows). */
  bytes?: number;
  /** Extra facts printed next to the figure (group sizes, segment sizes, why a row is missing). */
  note?: string;
  /** Set when the workload could not run on this runtime; `samples` is then empty. */
  unavailable?: string;
}

/** What one worker process writes (as JSON) for the orchestrator. */
export interface WorkerResult {
  /** Which runtime ran it. */
  runtime: RuntimeName;
  /** Its version string. */
  version: string;
  /** Which phase of the worker produced it. */
  phase: "main" | "rss";
  /** Whether `--quick` was in force. */
  quick: boolean;
  /** The rows, in run order. */
  rows: Row[];
  /** Wall time of the phase in seconds. */
  seconds: number;
}

/** The settings of one run, derived from `--quick`. */
export interface BenchConfig {
  /** Quick smoke mode. */
  quick: boolean;
  /** Runs per figure (the median is printed). */
  repeats: number;
  /** Seconds per run of a time-boxed (fsync-bound or CPU-bound) workload. */
  seconds: number;
  /** Size in bytes of the "big" log (1 GiB, or 64 MiB with --quick). */
  bigLogBytes: number;
  /** Records of the 128 B replay / open log (200,000 in both modes: the open target names it). */
  smallRecords: number;
  /** Records of the 4 KiB replay log. */
  mediumRecords: number;
  /** Records of the 64 KiB replay log. */
  largeRecords: number;
}

/** The settings for full or quick mode. */
export function benchConfig(quick: boolean): BenchConfig {
  return quick
    ? {
      quick,
      repeats: 3,
      seconds: 0.06,
      bigLogBytes: 64 * 1024 * 1024,
      smallRecords: 200_000,
      mediumRecords: 4_000,
      largeRecords: 300,
    }
    : {
      quick,
      repeats: 5,
      seconds: 0.6,
      bigLogBytes: 1024 * 1024 * 1024,
      smallRecords: 200_000,
      mediumRecords: 25_000,
      largeRecords: 1_600,
    };
}

/** The runtime executing this code. */
export function currentRuntime(): RuntimeName {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/** The running runtime's version. */
export function runtimeVersion(): string {
  const g = globalThis as unknown as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno) return g.Deno.version.deno;
  if (g.Bun) return g.Bun.version;
  return process.versions.node;
}

/** Milliseconds from an arbitrary origin, sub-millisecond resolution. */
export function now(): number {
  return performance.now();
}

/** Median of the samples (mean of the middle two for an even count); NaN when empty. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Smallest sample; NaN when empty. */
export function min(samples: readonly number[]): number {
  return samples.length === 0 ? NaN : Math.min(...samples);
}

/** Largest sample; NaN when empty. */
export function max(samples: readonly number[]): number {
  return samples.length === 0 ? NaN : Math.max(...samples);
}

/** Writes one progress line to stderr. */
export function progress(message: string): void {
  process.stderr.write(`  [${currentRuntime()}] ${message}\n`);
}

/** Key length in bytes, as the issue sets it. */
export const KEY_BYTES = 16;

const KEY_POOL_SIZE = 4096;
/** 4096 distinct 16-byte ASCII keys; workloads cycle through them (`keys[n & KEY_MASK]`). */
export const keys: readonly string[] = Array.from(
  { length: KEY_POOL_SIZE },
  (_, i) => `k${String(i).padStart(15, "0")}`,
);
/** Mask to cycle through {@link keys}. */
export const KEY_MASK = KEY_POOL_SIZE - 1;

/** An ASCII string value of exactly `bytes` bytes. */
export function stringValue(bytes: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < bytes; i++) s += alphabet[(i * 7 + 3) % alphabet.length];
  return s;
}

/** A byte value of exactly `bytes` bytes (non-zero pattern, so nothing compresses or sparse-allocates). */
export function bytesValue(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}


/** Formats a number for the table: 3 significant digits, thousands separators. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
