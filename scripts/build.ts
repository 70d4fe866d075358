// npm run build (and npm pack, through prepack): compiles mod.ts and src/ file for file to JavaScript, .d.ts and
// maps in dist/ (git-ignored) with TypeScript 7's native tsc (tsconfig.build.json), then points the relative
// imports of the declarations at .js: tsc keeps the sources' ".ts" there, which TypeScript before 5.x and some
// tools do not resolve. ".ts" and ".js" have the same length, so the declaration maps stay exact.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const started = performance.now();
fs.rmSync(dist, { recursive: true, force: true });
const tsc = path.join(root, "node_modules", ".bin", process.platform === "win32" ? "tsc.cmd" : "tsc");
execFileSync(tsc, ["-p", path.join(root, "tsconfig.build.json")], {
  stdio: "inherit",
  shell: process.platform === "win32",
});
let files = 0;
for (const name of fs.readdirSync(dist, { recursive: true, encoding: "utf8" })) {
  if (!name.endsWith(".d.ts")) continue;
  const file = path.join(dist, name);
  const text = fs.readFileSync(file, "utf8");
  const fixed = text.replace(/(["'])(\.\.?\/[^"'\n]*)\.ts\1/g, "$1$2.js$1");
  if (fixed !== text) fs.writeFileSync(file, fixed);
  files++;
}
console.log(`built dist/ (${files} declaration files) in ${Math.round(performance.now() - started)} ms`);
