/**
 * The four commands of `wal`: stats, verify, dump, tail. Each opens the log read-only (never a write, never the
 * lock), so each works beside a live writer and on Deno with `--allow-read` only.
 *
 * @module
 */

import { WalReadError } from "../errors.ts";
import { defaultFileSystem } from "../io/default.ts";
import { ReadOnlyLog } from "../readonly.ts";
import type { DamageFound } from "../readonly.ts";
import type { RecoveryAction } from "../recovery.ts";
import { listSegments } from "../segment.ts";
import { writeStderr } from "../io/terminal.ts";
import { EXIT, Progress } from "./output.ts";
import type { LineWriter } from "./output.ts";
import { escape, jsonLine, tableHeader, tableRow } from "./render.ts";

/**
 * Opens the log read-only, with a progress bar on a terminal when the scan takes over a second; with
 * `verifyEveryRecord`, sealed segments are checked record by record too.
 */
export async function openLog(dir: string, verifyEveryRecord = false): Promise<ReadOnlyLog> {
  const progress = new Progress("wal: verifying");
  try {
    return await ReadOnlyLog.open(dir, { onProgress: (done, total) => progress.update(done, total), verifyEveryRecord });
  } finally {
    progress.done();
  }
}

function describeDamage(d: DamageFound): string {
  const kind = d.tail
    ? "torn tail (what a crash leaves after the last fdatasync; open cuts it)"
    : "damage a crash cannot explain (open repairs it by quarantine, or refuses with recovery: \"strict\")";
  return `${d.file} at offset ${d.offset} (expected seq ${d.seq}): ${d.reason} — ${kind}`;
}

function describeAction(a: RecoveryAction): string {
  const dropped = a.recordsDropped > 0 ? `, ${a.recordsDropped} records` : "";
  return `${a.action} ${a.file} at ${a.offset} (${a.bytes} bytes${dropped}): ${a.reason}`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** The segment files with their sizes (from a listing made now). */
async function segmentSizes(log: ReadOnlyLog): Promise<{ name: string; firstSeq: number; bytes: number }[]> {
  const fs = await defaultFileSystem();
  const dir = fs.realPath(log.dir);
  return listSegments(fs, dir).map((seg) => {
    const file = fs.openRead(seg.path);
    try {
      return { name: seg.name, firstSeq: seg.firstSeq, bytes: file.size() };
    } finally {
      file.close();
    }
  });
}

/** `wal stats DIR [--json]`: segments, records by kind, batches, bytes, seq range, damage. Exit 0. */
export async function stats(dir: string, json: boolean, out: LineWriter): Promise<number> {
  const log = await openLog(dir);
  try {
    const segments = await segmentSizes(log);
    const counts = new Map<string, number>();
    let records = 0;
    let first = 0;
    const last = log.currentSeqNum();
    const progress = new Progress("wal: counting");
    try {
      for await (const record of log.iterate()) {
        if (records === 0) first = record.seqNum;
        records++;
        counts.set(record.opType, (counts.get(record.opType) ?? 0) + 1);
        if ((records & 0xfff) === 0) progress.update(record.seqNum - first, last - first);
      }
    } finally {
      progress.done();
    }
    const bytes = segments.reduce((sum, s) => sum + s.bytes, 0);
    const result = {
      dir: log.dir,
      segments: segments.length,
      oldestSegment: segments[0] ?? null,
      newestSegment: segments[segments.length - 1] ?? null,
      bytes,
      records,
      firstSeq: records > 0 ? first : null,
      lastSeq: records > 0 ? last : null,
      byKind: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
      batches: counts.get("COMMIT") ?? 0,
      checkpoints: counts.get("CHECKPOINT") ?? 0,
      damage: log.damage,
      openWould: log.recovery.actions,
    };
    if (json) {
      await out.line(JSON.stringify(result));
      return EXIT.ok;
    }
    const seg = (s: { name: string; bytes: number } | null) => s === null ? "-" : `${s.name} (${formatBytes(s.bytes)})`;
    await out.line(`log              ${log.dir}`);
    await out.line(`segments         ${segments.length}`);
    await out.line(`oldest segment   ${seg(result.oldestSegment)}`);
    await out.line(`newest segment   ${seg(result.newestSegment)}`);
    await out.line(`bytes            ${bytes} (${formatBytes(bytes)})`);
    await out.line(`records          ${records}`);
    await out.line(`seq range        ${records > 0 ? `${first}..${last}` : "-"}`);
    const kinds = [...Object.entries(result.byKind)].map(([k, n]) => `${escape(k)} ${n}`).join(", ");
    await out.line(`by kind          ${kinds === "" ? "-" : kinds}`);
    await out.line(`batches          ${result.batches}`);
    await out.line(`damage           ${log.damage === null ? "none" : describeDamage(log.damage)}`);
    for (const a of log.recovery.actions) await out.line(`open would       ${describeAction(a)}`);
    return EXIT.ok;
  } finally {
    await log.close();
  }
}

/** `wal verify DIR`: exit 0 when every record checks out, 1 with where and why when damage is found. */
export async function verify(dir: string, out: LineWriter): Promise<number> {
  // The one check that trusts no seal: every record against its own checksum.
  const log = await openLog(dir, true);
  try {
    const r = log.recovery;
    for (const a of r.actions) {
      if (a.action === "cut-tail" || a.action === "cut-damage" || a.action === "quarantined-segment") continue;
      await out.line(`note: open would ${describeAction(a)}`);
    }
    if (log.damage !== null) {
      await out.line(`DAMAGE ${describeDamage(log.damage)}`);
      for (const a of r.actions) {
        if (a.action === "cut-tail" || a.action === "cut-damage" || a.action === "quarantined-segment") {
          await out.line(`open would ${describeAction(a)}`);
        }
      }
      await out.line(`valid log: up to seq ${log.currentSeqNum()}`);
      return EXIT.damage;
    }
    await out.line(
      `ok: ${r.segmentsVerified} segments, ${formatBytes(r.bytesVerified)} verified, last seq ${log.currentSeqNum()}`,
    );
    return EXIT.ok;
  } finally {
    await log.close();
  }
}

/** Options of `dump`. */
export interface DumpOptions {
  from: number;
  to: number;
  all: boolean;
  json: boolean;
}

/** `wal dump DIR`: every record as stored (COMMIT and CHECKPOINT included) from `from` to `to`, inclusive. */
export async function dump(dir: string, o: DumpOptions, out: LineWriter): Promise<number> {
  const log = await openLog(dir);
  try {
    if (!o.json) await out.line(tableHeader());
    for await (const record of log.iterate({ afterSeq: Math.max(0, o.from - 1) })) {
      if (record.seqNum > o.to || out.closed) break;
      await out.line(o.json ? jsonLine(record) : tableRow(record, o.all));
    }
    if (log.damage !== null) warn(`the valid log ends at seq ${log.currentSeqNum()}: ${describeDamage(log.damage)}`);
    return EXIT.ok;
  } finally {
    await log.close();
  }
}

/** Options of `tail`. */
export interface TailOptions {
  lines: number;
  follow: boolean;
  pollMs: number;
  all: boolean;
  json: boolean;
}

/**
 * `wal tail DIR`: the last `lines` records; with `follow`, then every record as it becomes complete in the
 * log, found by reading the newest segment on from where the last read ended every `pollMs`.
 */
export async function tail(dir: string, o: TailOptions, out: LineWriter): Promise<number> {
  const log = await openLog(dir);
  try {
    let last = Math.max(0, log.currentSeqNum() - o.lines);
    const show = async (): Promise<void> => {
      for (let attempt = 0;; attempt++) {
        try {
          for await (const record of log.iterate({ afterSeq: last })) {
            if (out.closed) return;
            await out.line(o.json ? jsonLine(record) : tableRow(record, o.all));
            last = record.seqNum;
          }
          break;
        } catch (e) {
          // The writer truncated the log under the read: look again and go on after the last record shown.
          if (!removedUnderRead(e) || attempt >= 5) throw e;
          await log.refresh();
          if (log.firstSeqNum() > last + 1) warn(`records ${last + 1}..${log.firstSeqNum() - 1} were truncated before they were shown`);
        }
      }
      await out.flush();
    };
    await show();
    last = Math.max(last, log.currentSeqNum());
    while (o.follow && !out.closed) {
      await new Promise((resolve) => setTimeout(resolve, o.pollMs));
      const now = await log.refresh();
      if (now > last) await show();
    }
    return EXIT.ok;
  } finally {
    await log.close();
  }
}

/** True for a read that failed because the writer removed the segment (a truncate) while it was being read. */
function removedUnderRead(e: unknown): boolean {
  return e instanceof WalReadError && (e.cause as { code?: unknown } | undefined)?.code === "ENOENT";
}

/** A note on stderr (not part of the records on stdout). */
function warn(text: string): void {
  writeStderr(`wal: note: ${text}\n`);
}
