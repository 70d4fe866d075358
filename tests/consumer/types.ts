// A strict TypeScript consumer of the installed package: type-checked by tsc under `module: nodenext` with
// noUncheckedIndexedAccess and exactOptionalPropertyTypes, and under the tsconfig `bun init` writes.
import {
  type BatchOperation,
  type RecoveryReport,
  type Value,
  WalCorruptionError,
  WalError,
  type WalErrorCode,
  type WalOptions,
  type WalRecord,
  WriteAheadLog,
} from "@wal/wal";

const options: WalOptions = { syncMode: "batch", maxFileSize: 1 << 20, recovery: "strict" };

export async function demo(dir: string): Promise<number> {
  await using wal = await WriteAheadLog.open(dir, options);
  const report: RecoveryReport = wal.recovery;
  const seq: number = await wal.append("PUT", "user:1", "alice");
  const ops: BatchOperation[] = [["PUT", "a", "1"], { opType: "DELETE", key: "b" }];
  await wal.appendBatch(ops);
  const records: WalRecord[] = await wal.replay({ afterSeq: 0 });
  const first = records[0];
  const value: Value | undefined = first?.value;
  if (typeof value === "string") value.toUpperCase();
  for await (const r of wal.replayStream({ afterSeq: seq })) r.seqNum satisfies number;
  await wal.truncate(seq);
  void report;
  return wal.currentSeqNum();
}

export function codeOf(e: unknown): WalErrorCode | "not a wal error" {
  if (e instanceof WalCorruptionError) return `${e.code}` as const;
  return e instanceof WalError ? e.code : "not a wal error";
}
