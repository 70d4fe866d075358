/**
 * The CLI's output: lines to stdout with backpressure (a dump can be far larger than memory), a progress bar on
 * stderr only when stderr is a terminal, and the exit codes.
 *
 * @module
 */

import { stderrIsTerminal, writeStderr, writeStdout } from "../io/terminal.ts";

/** Exit codes of every command. */
export const EXIT = {
  /** Done; for `verify`, no damage found. */
  ok: 0,
  /** `verify` (and `stats`) found damage. */
  damage: 1,
  /** Bad usage, or the log could not be read. */
  error: 2,
} as const;

/** Thrown to end a command with a message on stderr and an exit code. */
export class CliExit extends Error {
  /** The process's exit code. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Writes lines to stdout, in chunks, waiting when the pipe is full. Ends quietly when the reader went away. */
export class LineWriter {
  #parts: string[] = [];
  #size = 0;
  #closed = false;

  /** True once stdout is gone (EPIPE: `wal dump DIR | head`). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues one line; flushes once 64 KiB are queued. */
  async line(text: string): Promise<void> {
    this.#parts.push(text, "\n");
    this.#size += text.length + 1;
    if (this.#size >= 64 * 1024) await this.flush();
  }

  /** Writes what is queued and waits until stdout took it. */
  async flush(): Promise<void> {
    if (this.#parts.length === 0 || this.#closed) return;
    const text = this.#parts.join("");
    this.#parts = [];
    this.#size = 0;
    if (!(await writeStdout(text))) this.#closed = true;
  }
}

/**
 * A progress bar on stderr, drawn only when stderr is a terminal and only once the work has taken more than
 * `delayMs`; erased when done. Writes synchronously: the scan it reports on holds the event loop.
 */
export class Progress {
  #label: string;
  #start = Date.now();
  #delayMs: number;
  #shown = false;
  #last = 0;
  #enabled: boolean;

  constructor(label: string, delayMs = 1000) {
    this.#label = label;
    this.#delayMs = delayMs;
    this.#enabled = stderrIsTerminal();
  }

  /** Reports `done` of `total` (any unit). */
  update(done: number, total: number): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#start < this.#delayMs || now - this.#last < 100) return;
    this.#last = now;
    this.#shown = true;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    writeStderr(`\r${this.#label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
  }

  /** Erases the bar, if it was drawn. */
  done(): void {
    if (this.#shown) writeStderr("\r\x1b[K");
    this.#shown = false;
  }
}
