// Adversarial: damage under read(seq): a flipped payload byte (sealed and active segment), a damaged record header
// on the way to a record in a sealed segment. read must throw WalCorruptionError (never a wrong record, never
// a raw error), and appends are refused until a reopen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as fs from "node:fs";
import { WalCorruptionError, WriteAheadLog } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

function flip(file: string, offset: number): void {
  const fd = fs.openSync(file, "r+");
  const b = new Uint8Array(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] ^= 0x20;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

for (const where of ["sealed payload", "active payload", "sealed header before the record"] as const) {
  test(`read(seq) over damage (${where}) throws WalCorruptionError and refuses appends`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048, verify: "tail" });
      for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, `value-${i}-`.padEnd(100, "x"));
      const segs = segmentFiles(dir);
      let target: number;
      if (where === "active payload") {
        await wal.read(wal.currentSeqNum()); // index built
        target = wal.currentSeqNum();
        // The active segment has zeros preallocated after its last record: find the record itself.
        const at = Buffer.from(fs.readFileSync(segs.at(-1)!)).indexOf(`value-${target}-`);
        assert.ok(at > 0);
        flip(segs.at(-1)!, at + 20);
      } else {
        const second = segs[1];
        const first = Number(second.split("/").at(-1)!.slice(0, 20));
        if (where === "sealed payload") {
          await wal.read(first + 2); // index built and cached
          target = first + 2;
          // The third record of the segment: header 32 B + record bytes; flip near the middle of the segment.
          const rec = await wal.read(first + 2);
          assert.ok(rec);
          const bytes = fs.readFileSync(second);
          const at = Buffer.from(bytes).indexOf(`value-${first + 2}-`);
          flip(second, at + 3);
        } else {
          target = first + 5;
          const bytes = fs.readFileSync(second);
          const at = Buffer.from(bytes).indexOf(`k${first + 3}`);
          flip(second, at - 20); // inside the record header of first + 3 (its lengths)
        }
      }
      let outcome: string;
      try {
        const r = await wal.read(target);
        outcome = `returned ${JSON.stringify(r)?.slice(0, 60)}`;
      } catch (e) {
        outcome = e instanceof WalCorruptionError ? "WalCorruptionError" : `threw ${e}`;
      }
      assert.equal(outcome, "WalCorruptionError");
      await assert.rejects(wal.append("PUT", "x", "y"), WalCorruptionError);
      await wal.close().catch(() => {});
    });
  });
}
