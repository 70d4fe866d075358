// Every WalError carries a stable string code, so that callers can switch on codes (across package copies, or
// after an error was serialized) as well as on classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as wal from "../mod.ts";
import { withTempDir } from "./helpers.ts";

const {
  WalClosedError,
  WalCorruptionError,
  WalError,
  WalFailedError,
  WalFormatError,
  WalInvalidArgumentError,
  WalLockedError,
  WalReadError,
  WalTruncatedError,
  WriteAheadLog,
} = wal;

test("each error class has its own stable code, and the code survives JSON", () => {
  const cases: [wal.WalError, wal.WalErrorCode][] = [
    [new WalError("plain"), "WAL_ERROR"],
    [new WalInvalidArgumentError("key", "must be a string"), "WAL_INVALID_ARGUMENT"],
    [new WalClosedError(), "WAL_CLOSED"],
    [new WalFailedError(new Error("EIO")), "WAL_FAILED"],
    [new WalCorruptionError({ file: "f", offset: 1, seq: 2, reason: "bad" }), "WAL_CORRUPTION"],
    [new WalFormatError("f", "newer version"), "WAL_FORMAT"],
    [new WalLockedError("LOCK", 42), "WAL_LOCKED"],
    [new WalTruncatedError(10, 4), "WAL_TRUNCATED"],
    [new WalReadError(new Error("EIO")), "WAL_READ"],
  ];
  for (const [error, code] of cases) {
    assert.equal(error.code, code, error.name);
    assert.ok(error instanceof WalError);
    assert.equal(JSON.parse(JSON.stringify(error)).code, code, `${error.name} serialized`);
  }
  assert.equal(new WalError("x", { code: "WAL_LOCKED" }).code, "WAL_LOCKED");
  assert.equal(new WalError("x", { cause: 1 }).cause, 1);
  assert.equal("cause" in new WalError("x"), false);
  // Every error class mod.ts exports is covered above: a new class needs its own code.
  const exported = (Object.values(wal) as unknown[]).filter((v): v is { name: string; prototype: unknown } =>
    typeof v === "function" && v.prototype instanceof Error
  );
  assert.deepEqual(
    exported.map((c) => c.name).sort(),
    cases.map(([e]) => e.constructor.name).sort(),
  );
  assert.equal(new Set(cases.map(([, c]) => c)).size, cases.length);
});

test("errors thrown by the log carry their codes", async () => {
  await withTempDir(async (dir) => {
    const log = await WriteAheadLog.open(dir);
    await assert.rejects(
      log.append("", "k"),
      (e: unknown) => e instanceof WalError && e.code === "WAL_INVALID_ARGUMENT",
    );
    await log.close();
    await assert.rejects(log.append("PUT", "k"), (e: unknown) => e instanceof WalError && e.code === "WAL_CLOSED");
    const foreign = path.join(dir, "not-a-log");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "notes.txt"), "mine");
    await assert.rejects(WriteAheadLog.open(foreign), (e: unknown) => e instanceof WalError && e.code === "WAL_FORMAT");
  });
});
