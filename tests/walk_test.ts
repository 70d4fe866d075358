// Open's verification checks a run of records with one CRC-32 (their checksum fields replaced by chain resets),
// by a WebAssembly loop (src/walk.wat) when the chunk is the walker's memory and by a JavaScript loop otherwise.
// Both must stop exactly where checking each record with its own checksum stops, on every kind of damage, and
// the module's bytes must be the assembly of its text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as nodeFs from "node:fs";
import { WriteAheadLog } from "../mod.ts";
import { CrashFileSystem, seededRandom } from "../src/io/crash_fs.ts";
import { CRC_CHAIN_RESET, FORMAT_VERSION } from "../src/format.ts";
import { crc32 } from "../src/crc32.ts";
import { ReadBuffer, SegmentScanner, withScanChunk } from "../src/reader.ts";
import { walkChunk } from "../src/walk.ts";
import { walkWasmBytes } from "../src/walk_wasm.ts";
import { assembleWalk } from "../scripts/wasm_assemble.ts";

const DIR = "/wal";

interface Outcome {
  stop: string | null;
  unitEnd: number;
  unitStart: number;
  unitSeq: number;
  pendingMembers: number;
  zerosFrom: number;
}

function outcome(s: SegmentScanner): Outcome {
  const stop = s.stop === null ? null : `${s.stop.offset}:${s.stop.seq}:${s.stop.reason}`;
  return {
    stop,
    unitEnd: s.unitEnd,
    unitStart: s.unitStart,
    unitSeq: s.unitSeq,
    pendingMembers: s.pendingMembers,
    zerosFrom: s.zerosFrom,
  };
}

/** The three ways to read a segment: record by record, the chained JavaScript loop, the chained WebAssembly one. */
function scanAllWays(fs: CrashFileSystem, path: string, firstSeq: number): { each: Outcome; js: Outcome; wasm: Outcome } {
  const file = fs.openRead(path);
  try {
    const size = file.size();
    const each = new SegmentScanner(file, firstSeq, size, undefined, new ReadBuffer(4096), FORMAT_VERSION);
    while (each.next()) { /* every record with its own checksum */ }
    const js = new SegmentScanner(file, firstSeq, size, undefined, new ReadBuffer(4096), FORMAT_VERSION);
    js.verifyToEnd();
    const wasm = withScanChunk(new ReadBuffer(4096), size, (chunk) => {
      assert.equal(chunk.bytes, walkChunk()?.bytes, "the scan did not get the WebAssembly walker's memory");
      const s = new SegmentScanner(file, firstSeq, size, undefined, chunk, FORMAT_VERSION);
      s.verifyToEnd();
      return outcome(s);
    });
    return { each: outcome(each), js: outcome(js), wasm };
  } finally {
    file.close();
  }
}

/** A log of mixed records in one segment larger than a read chunk (4 MiB): chunk boundaries fall mid-record. */
async function mixedLog(): Promise<{ fs: CrashFileSystem; path: string; bytes: Uint8Array }> {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs, syncMode: "none", maxFileSize: 64 * 1024 * 1024 });
  const random = seededRandom(99);
  const pending: Promise<number>[] = [];
  let bytes = 0;
  while (bytes < 5 * 1024 * 1024) {
    const r = random();
    const value = r < 0.01
      ? new Uint8Array(40_000 + Math.floor(random() * 1000)).fill(7)
      : "v".repeat(Math.floor(random() * 300));
    if (r > 0.97) {
      const n = 1 + Math.floor(random() * 4);
      pending.push(wal.appendBatch(Array.from({ length: n }, (_, i) => ["PUT", `b${i}`, "x".repeat(i * 50)] as const)));
    } else if (r > 0.96) {
      pending.push(wal.checkpoint());
    } else {
      pending.push(wal.append("PUT", `key:${bytes}`, value));
    }
    bytes += typeof value === "string" ? value.length + 60 : value.length;
  }
  await Promise.all(pending);
  await wal.close();
  const path = fs.join(DIR, fs.list(DIR).filter((n) => n.endsWith(".wal"))[0]);
  const file = fs.openRead(path);
  const all = new Uint8Array(file.size());
  file.read(all, 0);
  file.close();
  return { fs, path, bytes: all };
}

function rewrite(fs: CrashFileSystem, path: string, bytes: Uint8Array): void {
  fs.remove(path);
  const out = fs.openWrite(path, { create: true });
  out.append(bytes);
  out.close();
}

test("the WebAssembly walker exists on this runtime and its bytes are the assembly of src/walk.wat", async () => {
  assert.notEqual(walkChunk(), null, "WebAssembly walker unavailable: open would fall back to the JavaScript loop");
  const wat = nodeFs.readFileSync(new URL("../src/walk.wat", import.meta.url), "utf8");
  assert.equal(await assembleWalk(wat), Buffer.from(walkWasmBytes()).toString("base64"), "src/walk_wasm.ts is stale: run node scripts/build-wasm.ts");
});

test("CRC_CHAIN_RESET: one CRC-32 over records with their checksums replaced equals the last one's exactly when all match", () => {
  const random = seededRandom(5);
  for (let trial = 0; trial < 200; trial++) {
    const records: Uint8Array[] = [];
    const n = 1 + Math.floor(random() * 6);
    for (let i = 0; i < n; i++) {
      const rec = new Uint8Array(4 + Math.floor(random() * 90));
      for (let j = 4; j < rec.length; j++) rec[j] = Math.floor(random() * 256);
      new DataView(rec.buffer).setUint32(0, crc32(rec.subarray(4)), true);
      records.push(rec);
    }
    const bad = random() < 0.5 ? Math.floor(random() * n) : -1;
    if (bad >= 0) {
      const rec = records[bad];
      rec[4 + Math.floor(random() * (rec.length - 4))] ^= 1 << Math.floor(random() * 8);
      if (rec.length === 4) rec[0] ^= 1; // no payload: damage the stored checksum instead
    }
    const run = new Uint8Array(records.reduce((a, r) => a + r.length, 0));
    const view = new DataView(run.buffer);
    let at = 0;
    let register = -1;
    let last = 0;
    for (const rec of records) {
      run.set(rec, at);
      const stored = view.getInt32(at, true);
      view.setInt32(at, register ^ CRC_CHAIN_RESET, true);
      register = ~stored;
      last = stored;
      at += rec.length;
    }
    const good = records.every((r) => new DataView(r.buffer).getUint32(0, true) === crc32(r.subarray(4)));
    assert.equal((crc32(run) | 0) === last, good, `trial ${trial}: bad record ${bad}`);
  }
});

test("chained verification (WebAssembly and JavaScript) stops exactly where record-by-record checking does", async () => {
  const { fs, path, bytes } = await mixedLog();
  const clean = scanAllWays(fs, path, 1);
  assert.equal(clean.each.stop, null);
  assert.deepEqual(clean.js, clean.each);
  assert.deepEqual(clean.wasm, clean.each);
  const random = seededRandom(2024);
  const damages: [string, (b: Uint8Array) => void][] = [
    ["bit flip", (b) => {
      b[32 + Math.floor(random() * (b.length - 32))] ^= 1 << Math.floor(random() * 8);
    }],
    ["checksum field", (b) => {
      // Somewhere in the first 4 MiB chunk, most likely inside a chained run.
      b[32 + Math.floor(random() * Math.min(4 << 20, b.length - 64))] ^= 0x80;
    }],
    ["two flips", (b) => {
      for (let k = 0; k < 2; k++) b[32 + Math.floor(random() * (b.length - 32))] ^= 1 << Math.floor(random() * 8);
    }],
    ["zeroed page", (b) => {
      const at = 32 + Math.floor(random() * (b.length - 4128));
      b.fill(0, at, at + 4096);
    }],
    ["cut", (b) => {
      b.fill(0, 32 + Math.floor(random() * (b.length - 32)));
    }],
  ];
  let detected = 0;
  for (let trial = 0; trial < 60; trial++) {
    const [what, damage] = damages[trial % damages.length];
    const copy = bytes.slice();
    damage(copy);
    rewrite(fs, path, copy);
    const got = scanAllWays(fs, path, 1);
    if (got.each.stop !== null) detected++;
    assert.deepEqual(got.js, got.each, `trial ${trial} (${what}): JavaScript chained loop`);
    assert.deepEqual(got.wasm, got.each, `trial ${trial} (${what}): WebAssembly chained loop`);
  }
  // Nearly every case damages a record; the comparison above is only as good as the damage it sees.
  assert.ok(detected >= 40, `only ${detected} of 60 damaged copies stopped early`);
});
