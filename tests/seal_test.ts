// Seals of rotated segments: when they are written, that open trusts exactly the ones that vouch for every byte,
// and that truncates and open never leave one that could vouch for bytes the segment no longer has.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { WalCorruptionError, WalInvalidArgumentError, WriteAheadLog } from "../mod.ts";
import { decodeSeal, encodeSeal } from "../src/format.ts";
import { crc32 } from "../src/crc32.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import type { WalFileSystem } from "../src/io/types.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

const sealOf = (segment: string) => segment.replace(/\.wal$/, ".seal");
const sealFiles = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith(".seal")).sort();
const value = "v".repeat(150);

/** A log of `count` records in segments of 4 KiB, written by one handle. */
async function writeLog(dir: string, count: number, first = 1): Promise<void> {
  const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096, syncMode: "none" });
  for (let i = first; i < first + count; i++) await wal.append("PUT", `k${i}`, value);
  await wal.close();
}

async function seqs(dir: string): Promise<number[]> {
  const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096, recovery: "strict" });
  try {
    return (await wal.replay()).map((r) => r.seqNum);
  } finally {
    await wal.close();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("every segment the writer created and rotated away from has a seal of its size, checksum and last seq", async () => {
  await withTempDir(async (dir) => {
    await writeLog(dir, 120);
    const segments = segmentFiles(dir);
    assert.ok(segments.length > 3);
    assert.deepEqual(sealFiles(dir), segments.slice(0, -1).map((s) => path.basename(sealOf(s))));
    for (let i = 0; i < segments.length - 1; i++) {
      const bytes = new Uint8Array(fs.readFileSync(segments[i]));
      const seal = decodeSeal(new Uint8Array(fs.readFileSync(sealOf(segments[i]))));
      assert.ok(seal !== null);
      assert.equal(seal.firstSeq, Number(path.basename(segments[i]).slice(0, 20)));
      assert.equal(seal.lastSeq, Number(path.basename(segments[i + 1]).slice(0, 20)) - 1);
      assert.equal(seal.size, bytes.length);
      assert.equal(seal.segmentCrc, crc32(bytes));
    }
  });
});

test("a segment reopened with records in it gets no seal; the next one the writer creates does", async () => {
  await withTempDir(async (dir) => {
    await writeLog(dir, 3);
    await writeLog(dir, 60, 4);
    const segments = segmentFiles(dir);
    assert.ok(!fs.existsSync(sealOf(segments[0])), "its first bytes were written by another handle");
    for (const s of segments.slice(1, -1)) assert.ok(fs.existsSync(sealOf(s)), s);
    assert.deepEqual(await seqs(dir), range(1, 63));
  });
});

test("open trusts a seal that matches every byte and checks record by record without one (forged seal)", async () => {
  await withTempDir(async (dir) => {
    await writeLog(dir, 120);
    const [first] = segmentFiles(dir);
    const bytes = new Uint8Array(fs.readFileSync(first));
    bytes[32 + 40] ^= 0x01; // in the payload of seq 1: its own checksum no longer matches
    fs.writeFileSync(first, bytes);
    const old = decodeSeal(new Uint8Array(fs.readFileSync(sealOf(first))));
    assert.ok(old !== null);
    // A seal that vouches for the changed bytes: open must have taken it (no record-by-record check).
    fs.writeFileSync(sealOf(first), encodeSeal({ ...old, segmentCrc: crc32(bytes) }));
    const trusted = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.equal(trusted.recovery.clean, true);
    // Reads check each record on their own.
    await assert.rejects(trusted.replay(), WalCorruptionError);
    await trusted.close();
    // A read-only open trusts it too, unless told to check every record (as `wal verify` does).
    const reader = await WriteAheadLog.openReadOnly(dir);
    assert.equal(reader.damage, null);
    await reader.close();
    const thorough = await WriteAheadLog.openReadOnly(dir, { verifyEveryRecord: true });
    assert.equal(thorough.damage?.seq, 1);
    await thorough.close();
    await assert.rejects(
      WriteAheadLog.openReadOnly(dir, { verifyEveryRecord: "yes" as unknown as boolean }),
      (e: unknown) => e instanceof WalInvalidArgumentError && /options\.verifyEveryRecord/.test(e.message),
    );
    // Without a seal the same open finds the record.
    fs.rmSync(sealOf(first));
    await assert.rejects(WriteAheadLog.open(dir, { recovery: "strict" }), /seq 1/);
  });
});

test("a bit flipped under a seal is found where a record-by-record check finds it, and the stale seal goes", async () => {
  await withTempDir(async (dir) => {
    await writeLog(dir, 120);
    const segments = segmentFiles(dir);
    const target = segments[1];
    const bytes = new Uint8Array(fs.readFileSync(target));
    bytes[bytes.length - 20] ^= 0x10;
    fs.writeFileSync(target, bytes);
    let sealed: unknown;
    await WriteAheadLog.open(dir, { recovery: "strict" }).catch((e) => (sealed = e));
    fs.rmSync(sealOf(target));
    let unsealed: unknown;
    await WriteAheadLog.open(dir, { recovery: "strict" }).catch((e) => (unsealed = e));
    assert.ok(sealed instanceof WalCorruptionError);
    assert.ok(unsealed instanceof WalCorruptionError);
    assert.equal((sealed as Error).message, (unsealed as Error).message);
    // Repair: the damaged segment's seal (put back) does not survive the open that finds the damage.
    fs.writeFileSync(sealOf(target), fs.readFileSync(sealOf(segments[0])));
    const repaired = await WriteAheadLog.open(dir);
    assert.equal(repaired.recovery.clean, false);
    await repaired.close();
    assert.ok(!fs.existsSync(sealOf(target)));
  });
});

test("truncateAfter and truncate remove the seals of what they cut or delete; open removes stale and orphan ones", async () => {
  await withTempDir(async (dir) => {
    await writeLog(dir, 120);
    const before = segmentFiles(dir);
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    // Inside the third segment: it is cut, those after it deleted.
    const cutAt = Number(path.basename(before[2]).slice(0, 20)) + 2;
    await wal.truncateAfter(cutAt);
    assert.ok(!fs.existsSync(sealOf(before[2])), "the cut segment's seal");
    for (const s of before.slice(3)) assert.ok(!fs.existsSync(sealOf(s)), s);
    for (let i = cutAt + 1; i <= cutAt + 40; i++) await wal.append("PUT", `k${i}`, "w".repeat(150));
    await wal.truncate(Number(path.basename(before[1]).slice(0, 20)));
    assert.ok(!fs.existsSync(sealOf(before[0])));
    await wal.close();
    // Every seal left matches its segment and is not the newest segment's.
    const segments = segmentFiles(dir);
    for (const name of sealFiles(dir)) {
      const segment = path.join(dir, name.replace(/\.seal$/, ".wal"));
      assert.ok(segments.slice(0, -1).includes(segment), name);
      const seal = decodeSeal(new Uint8Array(fs.readFileSync(path.join(dir, name))));
      assert.equal(seal?.segmentCrc, crc32(new Uint8Array(fs.readFileSync(segment))), name);
    }
    // An orphan, a torn one and one for the newest segment: open removes all three and reads the log right.
    const newest = segments[segments.length - 1];
    fs.writeFileSync(path.join(dir, "00000000000000999999.seal"), fs.readFileSync(path.join(dir, sealFiles(dir)[0])));
    fs.writeFileSync(sealOf(segments[0]), new Uint8Array(10));
    fs.writeFileSync(sealOf(newest), new Uint8Array(36));
    const first = Number(path.basename(before[1]).slice(0, 20)) + 1;
    assert.deepEqual(await seqs(dir), range(first, cutAt + 40));
    assert.ok(!fs.existsSync(path.join(dir, "00000000000000999999.seal")));
    assert.ok(!fs.existsSync(sealOf(segments[0])));
    assert.ok(!fs.existsSync(sealOf(newest)));
  });
});

test("a seal that cannot be written (disk full) fails nothing: the segment is checked record by record", async () => {
  await withTempDir(async (dir) => {
    let refused = 0;
    const full: WalFileSystem = {
      ...nodeFileSystem,
      openWrite(p, options) {
        if (p.endsWith(".seal")) {
          refused++;
          throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        }
        return nodeFileSystem.openWrite(p, options);
      },
    };
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096, fs: full });
    for (let i = 1; i <= 120; i++) assert.equal(await wal.append("PUT", `k${i}`, value), i);
    await wal.close();
    assert.ok(refused > 3);
    assert.deepEqual(sealFiles(dir), []);
    assert.deepEqual(await seqs(dir), range(1, 120));
  });
});
