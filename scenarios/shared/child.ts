/**
 * Starting a scenario program as a child process on the same runtime, reading its stdout line by line, and
 * signalling it. On Deno this uses `Deno.Command`, which needs only `--allow-run` for the Deno binary; Deno's
 * `node:child_process` would also demand `--allow-env` to copy the environment.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";

/** A running child. */
export interface Child {
  /** Sends a signal ("SIGINT", "SIGKILL"). */
  kill(signal: "SIGINT" | "SIGKILL"): void;
  /** Resolves when the child exited, with its code (null if a signal ended it) and the signal's name. */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** The part of the `Deno` namespace used here, declared so the sources type-check on every runtime. */
interface DenoProcessApi {
  execPath(): string;
  Command: new (cmd: string, options: {
    args: string[];
    stdin: "null";
    stdout: "piped";
    stderr: "inherit";
  }) => {
    spawn(): {
      stdout: ReadableStream<Uint8Array>;
      status: Promise<{ code: number; signal: string | null }>;
      kill(signal: string): void;
    };
  };
}

/**
 * Runs `script` with `args` on the runtime running this code; `onLine` gets each stdout line as it arrives.
 * `denoPermissions` are the flags the child needs on Deno (ignored elsewhere).
 */
export function spawnScript(
  script: string,
  args: string[],
  denoPermissions: string[],
  onLine: (line: string) => void,
): Child {
  const lines = lineSplitter(onLine);
  if ("Deno" in globalThis) {
    const D = (globalThis as unknown as { Deno: DenoProcessApi }).Deno;
    const child = new D.Command(D.execPath(), {
      args: ["run", ...denoPermissions, script, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const drained = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) lines.push(decoder.decode(chunk, { stream: true }));
      lines.end();
    })();
    return {
      kill: (signal) => {
        try {
          child.kill(signal);
        } catch {
          // It already exited: the kill came too late to matter.
        }
      },
      exited: Promise.all([child.status, drained]).then(([s]) => ({
        code: s.signal === null ? s.code : null,
        signal: s.signal,
      })),
    };
  }
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => lines.push(text));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.on("error", reject);
    // "close" rather than "exit": it fires after stdout is drained, so no line is missed.
    child.on("close", (code, signal) => {
      lines.end();
      resolve({ code, signal });
    });
  });
  return { kill: (signal) => void child.kill(signal), exited };
}

function lineSplitter(onLine: (line: string) => void): { push(text: string): void; end(): void } {
  let buffered = "";
  return {
    push(text: string) {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        onLine(buffered.slice(0, nl).replace(/\r$/, ""));
        buffered = buffered.slice(nl + 1);
      }
    },
    end() {
      if (buffered.length > 0) onLine(buffered);
      buffered = "";
    },
  };
}
