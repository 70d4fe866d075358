/**
 * The physical limit: the same record size written by the runtime's own file calls, with no log on top.
 * Every function runs for about `seconds` and returns operations per second.
 *
 * @module
 */

import * as fs from "node:fs";
import * as zlib from "node:zlib";
import { now } from "./common.ts";

/** A loop of `writeSync` (O_APPEND) + `fdatasyncSync` on one file, through `node:fs`. */
export function appendSyncLoop(path: string, record: Uint8Array, seconds: number): number {
  const fd = fs.openSync(path, "a");
  try {
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      fs.writeSync(fd, record, 0, record.length, null);
      fs.fdatasyncSync(fd);
      n++;
      t = now();
    } while (t < end);
    return n / ((t - t0) / 1000);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates a file of `bytes` non-sparse bytes and makes it durable, so later overwrites change no metadata. */
export function preallocate(path: string, bytes: number): void {
  const fd = fs.openSync(path, "w");
  try {
    const chunk = new Uint8Array(1024 * 1024).fill(0x5a);
    for (let done = 0; done < bytes; done += chunk.length) {
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done), done);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The same loop as {@link appendSyncLoop} into a file preallocated by {@link preallocate}, wrapping around. */
export function preallocatedSyncLoop(path: string, fileBytes: number, record: Uint8Array, seconds: number): number {
  const fd = fs.openSync(path, "r+");
  try {
    const slots = Math.floor(fileBytes / record.length);
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      fs.writeSync(fd, record, 0, record.length, (n % slots) * record.length);
      fs.fdatasyncSync(fd);
      n++;
      t = now();
    } while (t < end);
    return n / ((t - t0) / 1000);
  } finally {
    fs.closeSync(fd);
  }
}

/** The same loop with the promise API (`FileHandle.write` + `datasync`), for comparison. */
export async function appendAsyncLoop(path: string, record: Uint8Array, seconds: number): Promise<number> {
  const fh = await fs.promises.open(path, "a");
  try {
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      await fh.write(record, 0, record.length, null);
      await fh.datasync();
      n++;
      t = now();
    } while (t < end);
    return n / ((t - t0) / 1000);
  } finally {
    await fh.close();
  }
}

/** The part of `Deno` the Deno-native loop uses. */
interface DenoFsApi {
  openSync(path: string, options: { append: boolean; create: boolean }): {
    writeSync(p: Uint8Array): number;
    syncDataSync(): void;
    syncSync(): void;
    close(): void;
  };
}

/** The loop with Deno's own `Deno.FsFile` `writeSync` + `syncDataSync` (what the log uses on Deno). */
export function denoAppendSyncLoop(path: string, record: Uint8Array, seconds: number): number {
  const deno = (globalThis as unknown as { Deno: DenoFsApi }).Deno;
  const file = deno.openSync(path, { append: true, create: true });
  try {
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      let done = 0;
      while (done < record.length) done += file.writeSync(done === 0 ? record : record.subarray(done));
      file.syncDataSync();
      n++;
      t = now();
    } while (t < end);
    return n / ((t - t0) / 1000);
  } finally {
    file.close();
  }
}

/**
 * Buffered appends of the same bytes with no sync, through `node:fs`: stops after `seconds` or `maxBytes`,
 * whichever comes first. The file is fsync'ed after the clock stops so that its dirty pages do not slow the
 * next workload.
 */
export function bufferedAppendLoop(path: string, record: Uint8Array, seconds: number, maxBytes: number): number {
  const fd = fs.openSync(path, "a");
  try {
    const maxOps = Math.max(1, Math.floor(maxBytes / record.length));
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      for (let i = 0; i < 64; i++) fs.writeSync(fd, record, 0, record.length, null);
      n += 64;
      t = now();
    } while (t < end && n < maxOps);
    const rate = n / ((t - t0) / 1000);
    fs.fdatasyncSync(fd);
    return rate;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads `paths` sequentially in 4 MiB chunks with `node:fs` and checksums every chunk; returns MB/s (10^6). */
export function rawReadCrc(paths: readonly string[], buffer: Uint8Array): number {
  const crc32 = (zlib as unknown as { crc32: (data: Uint8Array, seed?: number) => number }).crc32;
  let bytes = 0;
  let sink = 0;
  const t0 = now();
  for (const path of paths) {
    const fd = fs.openSync(path, "r");
    try {
      let pos = 0;
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, pos);
        if (n <= 0) break;
        sink ^= crc32(buffer.subarray(0, n));
        pos += n;
      }
      bytes += pos;
    } finally {
      fs.closeSync(fd);
    }
  }
  const ms = now() - t0;
  if (sink === 0.5) throw new Error("unreachable"); // keeps the checksums alive
  return bytes / 1e6 / (ms / 1000);
}
