/**
 * What the directory-lock implementations (`file_lock.ts` for Node and Bun, `deno_lock.ts` for Deno) share:
 * their errors and their retry bound. Imports nothing, so that neither pulls the other's runtime modules in.
 *
 * @module
 */

/** An Error carrying an OS-style code, as the adapters throw. */
export function codeError(code: string, message: string, cause?: unknown): Error & { code: string } {
  return Object.assign(new Error(`${code}: ${message}`, { cause }), { code });
}

/** The error for a lock path that is not a regular file (`kind` says what it is). */
export function notRegular(path: string, kind: string): Error {
  return codeError("EFTYPE", `${path} is ${kind}, not a regular file`);
}

/** How many times a locker starts over after the file it locked was removed under it. */
export const LOCK_ATTEMPTS = 16;
