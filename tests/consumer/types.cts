// The same package from CommonJS TypeScript: `require` of an ES module (Node >= 22.12, Bun), typed.
import wal = require("@wal/wal");

async function count(dir: string): Promise<number> {
  const log = await wal.WriteAheadLog.open(dir);
  const n = (await log.replay()).length;
  await log.close();
  return n;
}

export = { count };
