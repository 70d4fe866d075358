// Adversary round 4: OS errors on the rotation that follows a truncateAfter (the fdatasync of the cut segment,
// the new segment's header, its first record). Whatever fails: an append that resolved survives a reopen, one that
// failed is rejected with the error, and the reopened log holds the records up to the cut and nothing removed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import type { Fault } from "../src/io/crash_fs.ts";

const DIR = "/wal";
const faults: Fault[] = [];
for (const op of ["append", "datasync"] as const) for (let nth = 1; nth <= 4; nth++) faults.push({ op, nth, code: "EIO" });
faults.push({ op: "append", nth: 1, code: "ENOSPC", partial: 5 }, { op: "append", nth: 2, code: "ENOSPC", partial: 5 });

for (const syncMode of ["sync", "batch", "none"] as const) {
  for (const fault of faults) {
    test(`fault ${fault.op}#${fault.nth} ${fault.code}${fault.partial ? " partial" : ""} on the first appends after a cut (${syncMode})`, async () => {
      const fs = new CrashFileSystem({ seed: 3 });
      const opts = { fs, syncMode, maxFileSize: 400 } as const;
      const wal = await WriteAheadLog.open(DIR, opts);
      for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `old-${i}`);
      await wal.sync();
      await wal.truncateAfter(9);
      fs.inject(fault);
      const outcomes: string[] = [];
      for (let i = 10; i <= 13; i++) {
        outcomes.push(await wal.append("PUT", `k${i}`, `new-${i}`).then((s) => `ok ${s}`, (e) => `err ${e?.code ?? e?.constructor?.name}`));
      }
      const sync = await wal.sync().then(() => "ok", (e) => `err ${e?.code ?? e?.constructor?.name}`);
      const closed = await wal.close().then(() => "ok", (e) => `err ${e?.code ?? e?.constructor?.name}`);
      fs.clearFaults();
      const again = await WriteAheadLog.open(DIR, { fs, syncMode, maxFileSize: 400 });
      const got = await again.replay();
      await again.close();
      const where = `appends ${outcomes}; sync ${sync}; close ${closed}; log ${got.map((r) => `${r.seqNum}:${r.value}`)}`;
      for (let s = 1; s <= 9; s++) assert.equal(got[s - 1]?.value, `old-${s}`, where);
      for (const r of got) if (r.seqNum > 9) assert.equal(r.value, `new-${r.seqNum}`, `removed record back: ${where}`);
      // Resolved appends survive when sync and close said so.
      if (sync === "ok" && closed === "ok") {
        for (const o of outcomes) if (o.startsWith("ok ")) assert.ok(got.some((r) => r.seqNum === Number(o.slice(3))), `acknowledged ${o} lost: ${where}`);
      }
      if (syncMode === "sync") {
        for (const o of outcomes) if (o.startsWith("ok ")) assert.ok(got.some((r) => r.seqNum === Number(o.slice(3))), `acknowledged ${o} lost: ${where}`);
      }
    });
  }
}
