// A file named like a seal that is not a regular file (a FIFO, or a link to one) is refused before open reads it:
// reading a FIFO blocks until someone writes to it, so verification would hang instead of answering.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { WalFormatError, WriteAheadLog } from "../mod.ts";
import { checkLogDirectory } from "../src/recovery.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { withTempDir } from "./helpers.ts";

const kinds: [string, (seal: string, dir: string) => boolean][] = [
  ["fifo", (seal) => spawnSync("mkfifo", [seal]).status === 0],
  ["link to a fifo", (seal, dir) => {
    const fifo = path.join(dir, ".fifo");
    if (spawnSync("mkfifo", [fifo]).status !== 0) return false;
    fs.symlinkSync(fifo, seal);
    return true;
  }],
];

test("a seal name that is a FIFO is refused with WalFormatError (open, openReadOnly), never read", async () => {
  for (const [kind, make] of kinds) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096, syncMode: "none" });
      for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
      await wal.close();
      const seals = fs.readdirSync(dir).filter((n) => n.endsWith(".seal")).sort();
      assert.ok(seals.length > 0);
      // The seal of the oldest segment, which is not the newest: full verification would read it.
      const seal = path.join(dir, seals[0]);
      fs.rmSync(seal);
      if (!make(seal, dir)) {
        console.log(`skipped the ${kind} case: mkfifo is not available here`);
        return;
      }
      // Checked first, synchronously: where the library decides, before anything could block on the FIFO.
      assert.throws(() => checkLogDirectory(nodeFileSystem, dir), WalFormatError, `${kind}: checkLogDirectory`);
      await assert.rejects(WriteAheadLog.open(dir), WalFormatError, `${kind}: open`);
      await assert.rejects(WriteAheadLog.openReadOnly(dir), WalFormatError, `${kind}: openReadOnly`);
    });
  }
});
