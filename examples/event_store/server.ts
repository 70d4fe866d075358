/**
 * A small HTTP event store: `POST /events` appends the request body as one event and answers `{"seq":N}` once it
 * is durable; `GET /events?after=N` returns up to 1000 events with seq > N. Runs on Node, Bun and Deno through
 * `node:http`.
 *
 *   node examples/event_store/server.ts --dir /tmp/events [--port 8080] [--store wal|sqlite|lmdb]
 *   deno run -A examples/event_store/server.ts --dir /tmp/events
 *
 * The `sqlite` and `lmdb` stores are the same server on SQLite (WAL journal, synchronous=FULL, one transaction
 * per event) and on lmdb (durable puts), for the benchmark. Prints `listening <port>` when ready; SIGTERM or
 * SIGINT closes the store and exits.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as http from "node:http";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WriteAheadLog } from "../../mod.ts";

/** What the server needs from a store. */
interface Store {
  append(body: string): Promise<number>;
  after(seq: number, limit: number): Promise<{ seq: number; body: string }[]>;
  close(): Promise<void>;
}

async function walStore(dir: string): Promise<Store> {
  const wal = await WriteAheadLog.open(dir);
  return {
    append: (body) => wal.append("EVENT", "", body),
    async after(seq, limit) {
      const out: { seq: number; body: string }[] = [];
      for await (const r of wal.replayStream({ afterSeq: seq })) {
        out.push({ seq: r.seqNum, body: r.value as string });
        if (out.length >= limit) break;
      }
      return out;
    },
    close: () => wal.close(),
  };
}

interface SqlStatement {
  run(...params: (string | number)[]): unknown;
  all(...params: (string | number)[]): unknown[];
}

interface SqlDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): SqlStatement;
  close(): void;
}

async function sqliteStore(dir: string): Promise<Store> {
  let db: SqlDatabase;
  if ("Bun" in globalThis) {
    const spec = "bun:sqlite";
    const m = (await import(spec)) as { Database: new (p: string) => SqlDatabase };
    db = new m.Database(path.join(dir, "events.db"));
  } else {
    const spec = "node:sqlite";
    const m = (await import(spec)) as { DatabaseSync: new (p: string) => SqlDatabase };
    db = new m.DatabaseSync(path.join(dir, "events.db"));
  }
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  db.exec("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO events (body) VALUES (?) RETURNING seq");
  const select = db.prepare("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
  return {
    // Synchronous: the commit's fsync runs on the event loop's thread.
    append: async (body) => (insert.all(body)[0] as { seq: number }).seq,
    after: async (seq, limit) => select.all(seq, limit) as { seq: number; body: string }[],
    close: async () => db.close(),
  };
}

interface LmdbDb {
  put(key: number, value: string): Promise<boolean>;
  getRange(options: { start: number; limit: number }): Iterable<{ key: number; value: string }>;
  getKeysCount(): number;
  close(): Promise<void>;
}

async function lmdbStore(dir: string): Promise<Store> {
  const spec = "lmdb";
  const m = (await import(spec)) as { open: (o: Record<string, unknown>) => LmdbDb };
  const db = m.open({ path: path.join(dir, "events.lmdb"), overlappingSync: false, keyEncoding: "uint32" });
  let next = db.getKeysCount() + 1;
  return {
    async append(body) {
      const seq = next++;
      await db.put(seq, body);
      return seq;
    },
    async after(seq, limit) {
      const out: { seq: number; body: string }[] = [];
      for (const { key, value } of db.getRange({ start: seq + 1, limit })) out.push({ seq: key, body: value });
      return out;
    },
    close: () => db.close(),
  };
}

function parseArgs(argv: readonly string[]): { dir: string; port: number; store: string } {
  let dir = "";
  let port = 8080;
  let store = "wal";
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--dir") dir = argv[++i];
    else if (argv[i] === "--port") port = Number(argv[++i]);
    else if (argv[i] === "--store") store = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (dir === "") throw new Error("--dir is required");
  if (!["wal", "sqlite", "lmdb"].includes(store)) throw new Error("--store: wal, sqlite or lmdb");
  return { dir, port, store };
}

const args = parseArgs(process.argv.slice(2));
fs.mkdirSync(args.dir, { recursive: true });
const store = args.store === "wal"
  ? await walStore(path.join(args.dir, "log"))
  : args.store === "sqlite"
  ? await sqliteStore(args.dir)
  : await lmdbStore(args.dir);

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname !== "/events") return reply(res, 404, { error: "not found" });
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // Answered only after the append resolved: the event is durable (sync mode).
      store.append(Buffer.concat(chunks).toString("utf8")).then(
        (seq) => reply(res, 201, { seq }),
        (e) => reply(res, 503, { error: String((e as Error).message ?? e) }),
      );
    });
    return;
  }
  if (req.method === "GET") {
    const after = Number(url.searchParams.get("after") ?? "0");
    if (!Number.isSafeInteger(after) || after < 0) return reply(res, 400, { error: "after: a non-negative integer" });
    store.after(after, 1000).then((events) => reply(res, 200, { events }), (e) => reply(res, 500, { error: String(e) }));
    return;
  }
  reply(res, 405, { error: "POST or GET" });
});

server.listen(args.port, "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening ${typeof address === "object" && address !== null ? address.port : args.port}`);
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections?.();
  store.close().then(() => process.exit(0), () => process.exit(1));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
