/**
 * The peers a user would otherwise pick: LevelDB (`classic-level`) and SQLite (`bun:sqlite` on Bun,
 * `node:sqlite` on Node and Deno). Both are loaded lazily through minimal local interfaces, so that a runtime
 * where one does not load reports it instead of failing. Every workload returns records per second.
 *
 * @module
 */

import { currentRuntime, KEY_MASK, keys, now } from "./common.ts";

/** The part of a `classic-level` database the benchmark uses. */
interface LevelDb {
  open(): Promise<void>;
  close(): Promise<void>;
  put(key: string, value: string, options: { sync: boolean }): Promise<void>;
  batch(ops: { type: "put"; key: string; value: string }[], options: { sync: boolean }): Promise<void>;
}

type LevelCtor = new (location: string) => LevelDb;

/** The part of a SQLite statement the benchmark uses (the same shape on `bun:sqlite` and `node:sqlite`). */
interface SqlStatement {
  run(...params: string[]): unknown;
}

/** The part of a SQLite database the benchmark uses. */
interface SqlDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): SqlStatement;
  close(): void;
}

let levelCtor: LevelCtor | undefined;
let sqliteOpen: ((path: string) => SqlDatabase) | undefined;

/** Loads `classic-level`; returns the reason when it cannot, or null. */
export async function loadLevel(): Promise<string | null> {
  try {
    const spec = "classic-level";
    const mod = (await import(spec)) as { ClassicLevel?: LevelCtor; default?: { ClassicLevel?: LevelCtor } };
    levelCtor = mod.ClassicLevel ?? mod.default?.ClassicLevel;
    if (levelCtor === undefined) return "classic-level has no ClassicLevel export here";
    return null;
  } catch (e) {
    return `classic-level does not load: ${String((e as Error).message ?? e).split("\n")[0]}`;
  }
}

/** Loads the runtime's SQLite; returns the reason when it cannot, or null. */
export async function loadSqlite(): Promise<string | null> {
  try {
    if (currentRuntime() === "bun") {
      const spec = "bun:sqlite";
      const mod = (await import(spec)) as { Database: new (path: string) => SqlDatabase };
      sqliteOpen = (path) => new mod.Database(path);
    } else {
      const spec = "node:sqlite";
      const mod = (await import(spec)) as { DatabaseSync: new (path: string) => SqlDatabase };
      sqliteOpen = (path) => new mod.DatabaseSync(path);
    }
    return null;
  } catch (e) {
    return `SQLite does not load: ${String((e as Error).message ?? e).split("\n")[0]}`;
  }
}

/** Which SQLite binding is used on this runtime. */
export function sqliteName(): string {
  return currentRuntime() === "bun" ? "bun:sqlite" : "node:sqlite";
}

/**
 * LevelDB `put(key, value, { sync: true })` with `outstanding` puts in flight (1: one at a time), or with
 * `batch > 1`, `batch(..., { sync: true })` of that many puts awaited one after another.
 */
export async function levelPut(
  dir: string,
  value: string,
  seconds: number,
  outstanding: number,
  batch = 1,
): Promise<number> {
  if (levelCtor === undefined) throw new Error("classic-level not loaded");
  const db = new levelCtor(dir);
  await db.open();
  try {
    let n = 0;
    let stop = false;
    const t0 = now();
    const end = t0 + seconds * 1000;
    if (batch > 1) {
      const ops = Array.from({ length: batch }, (_, i) => ({ type: "put" as const, key: keys[i & KEY_MASK], value }));
      while (!stop) {
        await db.batch(ops, { sync: true });
        n += batch;
        if (now() >= end) stop = true;
      }
    } else {
      const loop = async () => {
        while (!stop) {
          await db.put(keys[n & KEY_MASK], value, { sync: true });
          n++;
          if (now() >= end) stop = true;
        }
      };
      await Promise.all(Array.from({ length: outstanding }, loop));
    }
    return n / ((now() - t0) / 1000);
  } finally {
    await db.close();
  }
}

/**
 * SQLite with the WAL journal and `synchronous=FULL`: `perTransaction` inserts of (key, value) per
 * transaction (1: autocommit), transactions one after another. Returns inserts per second.
 */
export function sqliteInsert(path: string, value: string, seconds: number, perTransaction: number): number {
  if (sqliteOpen === undefined) throw new Error("SQLite not loaded");
  const db = sqliteOpen(path);
  try {
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("CREATE TABLE IF NOT EXISTS log (k TEXT NOT NULL, v TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO log (k, v) VALUES (?, ?)");
    let n = 0;
    const t0 = now();
    const end = t0 + seconds * 1000;
    let t = t0;
    do {
      if (perTransaction === 1) {
        insert.run(keys[n & KEY_MASK], value);
        n++;
      } else {
        db.exec("BEGIN");
        for (let i = 0; i < perTransaction; i++) insert.run(keys[(n + i) & KEY_MASK], value);
        db.exec("COMMIT");
        n += perTransaction;
      }
      t = now();
    } while (t < end);
    return n / ((t - t0) / 1000);
  } finally {
    db.close();
  }
}
