// A version-1 log whose newest segment holds only its header (an old writer rotated and stopped): the writer's open
// replaces that header with a version-2 one. A read-only follower whose newest segment it was must read on (no
// record was removed), not end as if the writer had cut the log.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { WriteAheadLog } from "../mod.ts";
import { encodeSegmentHeader, segmentName } from "../src/format.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { withTempDir } from "./helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const goldenV1 = path.join(here, "fixtures", "golden", "00000000000000000001.wal");

test("read-only follower on an empty version-1 newest segment: the writer's open replacing its header is no cut", async () => {
  await withTempDir(async (dir) => {
    fs.copyFileSync(goldenV1, path.join(dir, path.basename(goldenV1)));
    const probe = await WriteAheadLog.openReadOnly(dir);
    const last = probe.currentSeqNum();
    await probe.close();
    fs.writeFileSync(path.join(dir, segmentName(last + 1)), encodeSegmentHeader(last + 1, 1));
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    // Every record the follower can yield now (batch members with their COMMIT, no watch, no look to wait for).
    const expected = (await reader.replay()).length;
    for (let i = 0; i < expected; i++) assert.ok((await it.next()).value !== undefined);
    const wal = await WriteAheadLog.open(dir);
    assert.equal(await wal.append("PUT", "next", "v"), last + 1);
    let outcome: string;
    try {
      await reader.refresh();
      const r = await it.next();
      outcome = `yielded ${r.value?.seqNum}:${r.value?.value}`;
    } catch (e) {
      outcome = `threw ${e instanceof Error ? e.name : e}`;
    }
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, `yielded ${last + 1}:v`);
  });
});
