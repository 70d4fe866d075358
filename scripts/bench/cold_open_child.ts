/**
 * One fresh process of the cold-open benchmark (`cold_open.ts`): `open <entry> <dir>` imports the library from
 * `entry`, opens the log in `dir` with full verification and closes it; `raw <dir>` reads every segment file of
 * `dir` in 4 MiB chunks and checksums each chunk (the physical reference). Prints one line of JSON.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import * as zlib from "node:zlib";

const [mode, a, b] = process.argv.slice(2);
if (mode === "open") {
  const t0 = performance.now();
  const lib = await import(pathToFileURL(a).href) as typeof import("../../mod.ts");
  const t1 = performance.now();
  const wal = await lib.WriteAheadLog.open(b);
  const t2 = performance.now();
  const seq = wal.currentSeqNum();
  await wal.close();
  console.log(JSON.stringify({ importMs: t1 - t0, openMs: t2 - t1, seq, bytes: wal.recovery.bytesVerified }));
} else if (mode === "raw") {
  const crc32 = (zlib as unknown as { crc32: (data: Uint8Array, seed?: number) => number }).crc32;
  const bun = (globalThis as { Bun?: { hash: { crc32: (data: Uint8Array) => number } } }).Bun;
  const crc = bun !== undefined ? bun.hash.crc32 : crc32;
  const t0 = performance.now();
  const files = fs.readdirSync(a).filter((n) => n.endsWith(".wal")).sort();
  const buffer = new Uint8Array(4 * 1024 * 1024);
  let bytes = 0;
  let sink = 0;
  for (const name of files) {
    const fd = fs.openSync(path.join(a, name), "r");
    try {
      for (let pos = 0;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, pos);
        if (n <= 0) break;
        sink ^= crc(buffer.subarray(0, n));
        pos += n;
        bytes += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ rawMs: ms, bytes, sink }));
} else {
  throw new Error(`usage: cold_open_child.ts open <entry> <dir> | raw <dir>`);
}
