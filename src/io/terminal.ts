/**
 * The command line's standard streams: the one place outside the log's own file system where `wal` touches the
 * process's I/O. stdout is written with backpressure (a dump can be far larger than memory); stderr synchronously
 * (notes, errors and the progress bar must appear before the process goes on or exits).
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";

/** Writes `text` to stderr now. */
export function writeStderr(text: string): void {
  writeSync(2, text);
}

/** True when stderr is a terminal (only then is a progress bar drawn). */
export function stderrIsTerminal(): boolean {
  return process.stderr.isTTY === true;
}

let gone = false;
let watching = false;

/**
 * Writes `text` to stdout and resolves once stdout took it: to true, or to false once the reader went away
 * (EPIPE: `wal dump DIR | head`), after which nothing more is written.
 */
export function writeStdout(text: string): Promise<boolean> {
  if (!watching) {
    watching = true;
    // A reader that went away may be reported as an 'error' event after the write's callback: without a listener
    // that event would end the process with a stack trace and exit code 1, verify's "damage found".
    process.stdout.on("error", () => {
      gone = true;
    });
  }
  if (gone) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onError = (): void => {
      gone = true;
      resolve(false);
    };
    process.stdout.once("error", onError);
    try {
      process.stdout.write(text, (error) => {
        process.stdout.off("error", onError);
        if (error) gone = true;
        resolve(!gone);
      });
    } catch {
      // Deno throws EPIPE from write itself.
      process.stdout.off("error", onError);
      onError();
    }
  });
}
