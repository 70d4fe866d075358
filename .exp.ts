import { WriteAheadLog } from "./mod.ts";
import { setImmediate } from "node:timers";
import * as fs from "node:fs";
const turn = () => new Promise<void>((r) => setImmediate(r));
for (const [mode, io] of [["none","async"],["sync","async"],["sync","async"]] as const) {
  const dir = fs.mkdtempSync("/work/wt/write/.tmpe-");
  const wal = await WriteAheadLog.open(dir, { syncMode: mode, io });
  let ops = 0; const end = performance.now() + 1000; const t0 = performance.now();
  await Promise.all(Array.from({ length: 256 }, async (_, p) => { while (performance.now() < end) { await turn(); await wal.append("PUT", "k" + p, "v".repeat(128)); ops++; } }));
  console.log(mode, io, Math.round(ops / ((performance.now() - t0) / 1000)), "per fsync", (ops / wal.stats.fsyncs).toFixed(1), "fsyncs/s", wal.stats.fsyncs);
  await wal.close(); fs.rmSync(dir, { recursive: true });
}
