// Runs on `npm ci` / `npm install` of this repository (the "prepare" script; never for consumers of the package).
// Two devDependencies carry a `node` binary: `node` (Node 24, the one the suite runs on) and `node22` (an alias of
// the `node` package, for the consumer test). npm links whichever it installs last as node_modules/.bin/node, which
// differs between installs, so this points that link back at Node 24 every time.
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const bin = path.join(root, "node_modules", ".bin");
const target = path.join("..", "node", "bin", "node");
if (process.platform !== "win32" && fs.existsSync(path.join(bin, target))) {
  const link = path.join(bin, "node");
  fs.rmSync(link, { force: true });
  fs.symlinkSync(target, link);
}
