// Bad input: a typed error naming the argument and the rule, no seq consumed, not a byte written.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { MAX_PAYLOAD_BYTES, WalClosedError, WalFormatError, WalInvalidArgumentError, WriteAheadLog } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

/** The segments' bytes without the zeros the writer preallocates after the last record (no record here ends in 0). */
function snapshot(dir: string): string {
  return segmentFiles(dir).map((f) => {
    const bytes = new Uint8Array(fs.readFileSync(f));
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--;
    return Buffer.from(bytes.subarray(0, end)).toString("hex");
  }).join("|");
}

type Call = [label: string, argument: string, run: (wal: WriteAheadLog) => Promise<unknown>];

// deno-lint-ignore no-explicit-any
const loose = (x: unknown): any => x;

const badCalls: Call[] = [
  ["non-string key", "key", (w) => w.append("PUT", loose(42), "v")],
  ["value neither string nor bytes", "value", (w) => w.append("PUT", "k", loose({ a: 1 }))],
  ["value as an ArrayBuffer", "value", (w) => w.append("PUT", "k", loose(new ArrayBuffer(4)))],
  ["reserved opType COMMIT", "opType", (w) => w.append("COMMIT", "k", "v")],
  ["reserved opType CHECKPOINT", "opType", (w) => w.append("CHECKPOINT", "k", "v")],
  ["empty opType", "opType", (w) => w.append("", "k", "v")],
  ["non-string opType", "opType", (w) => w.append(loose(null), "k", "v")],
  ["opType over 255 bytes", "opType", (w) => w.append("X".repeat(256), "k", "v")],
  ["lone surrogate in key", "key", (w) => w.append("PUT", "\ud800", "v")],
  ["lone surrogate in value", "value", (w) => w.append("PUT", "k", "a\udc00")],
  ["record above the maximum size", "value", (w) => w.append("PUT", "k", new Uint8Array(MAX_PAYLOAD_BYTES + 1))],
  ["empty batch", "operations", (w) => w.appendBatch([])],
  ["batch that is not an array", "operations", (w) => w.appendBatch(loose("PUT"))],
  ["batch with a reserved opType", "operations[1].opType", (w) => w.appendBatch([["PUT", "a"], ["COMMIT", "b"]])],
  ["batch with a non-string key", "operations[0].key", (w) => w.appendBatch([{ opType: "PUT", key: loose(1) }])],
  ["batch with a bad value", "operations[0].value", (w) => w.appendBatch([["PUT", "a", loose(3)]])],
  ["batch element of the wrong shape", "operations[0]", (w) => w.appendBatch([loose(7)])],
  ["batch with an oversize member", "operations[1].value", (w) => w.appendBatch([["PUT", "a", "v"], ["PUT", "b", new Uint8Array(MAX_PAYLOAD_BYTES)]])],
  ["negative truncate seq", "upToSeq", (w) => w.truncate(-1)],
  ["non-integer truncate seq", "upToSeq", (w) => w.truncate(1.5)],
  ["non-number truncate seq", "upToSeq", (w) => w.truncate(loose("3"))],
  ["negative afterSeq", "options.afterSeq", (w) => w.replay({ afterSeq: -2 })],
  ["non-integer afterSeq", "options.afterSeq", (w) => w.replay({ afterSeq: 0.5 })],
  ["null afterSeq", "options.afterSeq", (w) => w.replay({ afterSeq: loose(null) })],
  ["read options that are not an object", "options", (w) => w.replay(loose("x"))],
  ["stream options that are not an object", "options", (w) => w.replayStream(loose(5)).next()],
  ["a view of a detached buffer as value", "value", (w) => w.append("PUT", "k", detached())],
  ["an out-of-bounds view of a shrunk resizable buffer", "value", (w) => w.append("PUT", "k", outOfBounds())],
  ["a NUL character in dir", "dir", () => WriteAheadLog.open("/tmp/a\0b")],
  ["batch with a null value", "operations[0].value", (w) => w.appendBatch([["PUT", "k", loose(null)]])],
  ["batch with a detached value", "operations[0].value", (w) => w.appendBatch([{ opType: "PUT", key: "k", value: detached() }])],
];

/** A view past the end of a resizable buffer that was shrunk after the view was made. */
function outOfBounds(): Uint8Array {
  const buffer = new ArrayBuffer(16, { maxByteLength: 64 });
  const view = new Uint8Array(buffer, 8, 8);
  buffer.resize(4);
  return view;
}

/** A Uint8Array whose buffer was transferred away (as postMessage or structuredClone with transfer leave it). */
function detached(): Uint8Array {
  const bytes = new Uint8Array(16);
  structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
  return bytes;
}

for (const [label, argument, run] of badCalls) {
  test(`bad input rejected: ${label}`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir);
      await wal.append("PUT", "before", "1");
      const before = snapshot(dir);
      const error = await run(wal).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalInvalidArgumentError, `expected WalInvalidArgumentError, got ${error}`);
      assert.equal(error.argument, argument);
      assert.ok(error.message.includes(argument), error.message);
      assert.equal(wal.currentSeqNum(), 1, "no seq consumed");
      assert.equal(await wal.append("PUT", "after", "2"), 2, "the next append gets the next seq");
      await wal.close();
      const afterBytes = snapshot(dir);
      assert.ok(afterBytes.startsWith(before), "the bytes before the bad call are untouched");
      const reopened = await WriteAheadLog.open(dir);
      assert.deepEqual((await reopened.replay()).map((r) => r.key), ["before", "after"]);
      await reopened.close();
    });
  });
}

test("bad options and directory are rejected with the option named", async () => {
  await withTempDir(async (dir) => {
    const cases: [unknown, string][] = [
      [{ syncMode: "fast" }, "options.syncMode"],
      [{ maxFileSize: 63 }, "options.maxFileSize"],
      [{ maxFileSize: 1.5e4 + 0.5 }, "options.maxFileSize"],
      [{ batchSyncCount: 0 }, "options.batchSyncCount"],
      [{ verify: "some" }, "options.verify"],
      [{ recovery: "maybe" }, "options.recovery"],
      [{ batchSyncIntervalMs: 2 ** 31 }, "options.batchSyncIntervalMs"],
      [{ fs: 42 }, "options.fs"],
      [{ fs: { join: () => "" } }, "options.fs"],
    ];
    for (const [options, argument] of cases) {
      const error = await WriteAheadLog.open(dir, loose(options)).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalInvalidArgumentError, `${JSON.stringify(options)}: ${error}`);
      assert.equal(error.argument, argument);
    }
    const noDir = await WriteAheadLog.open(loose(undefined)).then(() => null, (e: unknown) => e);
    assert.ok(noDir instanceof WalInvalidArgumentError && noDir.argument === "dir");
    const caller = { syncMode: "none" as const };
    const wal = await WriteAheadLog.open(dir, caller);
    assert.deepEqual(caller, { syncMode: "none" }, "options are not mutated");
    await wal.close();
  });
});

test("every call after close() rejects with WalClosedError; close twice is a no-op", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "k", "v");
    await wal.close();
    await wal.close();
    const calls: [string, () => Promise<unknown>][] = [
      ["append", () => wal.append("PUT", "k", "v")],
      ["appendBatch", () => wal.appendBatch([["PUT", "k", "v"]])],
      ["checkpoint", () => wal.checkpoint()],
      ["replay", () => wal.replay()],
      ["replayStream", async () => {
        for await (const _ of wal.replayStream()) { /* drain */ }
      }],
      ["iterate", async () => {
        for await (const _ of wal.iterate()) { /* drain */ }
      }],
      ["truncate", () => wal.truncate(1)],
      ["sync", () => wal.sync()],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(), WalClosedError, name);
    }
    assert.equal(wal.currentSeqNum(), 1);
  });
});

test("appends queued before close() are written by it", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    const pending = [wal.append("PUT", "a", "1"), wal.append("PUT", "b", "2")];
    await wal.close();
    assert.deepEqual(await Promise.all(pending), [1, 2]);
    const reopened = await WriteAheadLog.open(dir);
    assert.equal((await reopened.replay()).length, 2);
    await reopened.close();
  });
});

test("a dangling symbolic link as the directory is a WalFormatError on every runtime", async () => {
  await withTempDir(async (dir) => {
    const link = `${dir}/link`;
    fs.symlinkSync(`${dir}/missing`, link);
    const error = await WriteAheadLog.open(link).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof WalFormatError, `expected WalFormatError, got ${error}`);
    assert.ok(error.message.includes(link), error.message);
  });
});
