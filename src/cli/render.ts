/**
 * How the CLI shows a record: a table row (one line, control characters escaped, long keys and values cut
 * unless asked not to) or an NDJSON object (text values as text, byte values in base64).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { WalRecord } from "../reader.ts";

/** Characters of a value shown in a table row before it is cut (without `--all`). */
export const VALUE_WIDTH = 64;
/** Characters of a key shown in a table row before it is cut (without `--all`). */
export const KEY_WIDTH = 32;

/** The header line of the table. */
export function tableHeader(): string {
  return `${"SEQ".padStart(10)}  ${"OP".padEnd(10)}  ${"KEY".padEnd(KEY_WIDTH)}  VALUE`;
}

/** One table row: seq, opType, key, value (text, or `hex:` and the bytes; cut to the widths unless `all`). */
export function tableRow(record: WalRecord, all: boolean): string {
  const key = cut(escape(record.key), all ? Infinity : KEY_WIDTH);
  let value: string;
  if (typeof record.value === "string") {
    value = cut(escape(record.value), all ? Infinity : VALUE_WIDTH);
  } else {
    const bytes = record.value;
    const shown = all ? bytes : bytes.subarray(0, Math.floor((VALUE_WIDTH - 4) / 2));
    value = `hex:${Buffer.from(shown.buffer, shown.byteOffset, shown.length).toString("hex")}`;
    if (shown.length < bytes.length) value += `… (${bytes.length} bytes)`;
  }
  return `${String(record.seqNum).padStart(10)}  ${escape(record.opType).padEnd(10)}  ${key.padEnd(all ? 0 : KEY_WIDTH)}  ${value}`.trimEnd();
}

/** One NDJSON line: `{"seq","op","key","value","encoding"}`, encoding "utf8" for text and "base64" for bytes. */
export function jsonLine(record: WalRecord): string {
  const bytes = typeof record.value !== "string";
  const value = typeof record.value === "string"
    ? record.value
    : Buffer.from(record.value.buffer, record.value.byteOffset, record.value.length).toString("base64");
  return JSON.stringify({ seq: record.seqNum, op: record.opType, key: record.key, value, encoding: bytes ? "base64" : "utf8" });
}

/** Cuts `text` to `width` characters, saying how long it was. */
function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  // Never between the two halves of a surrogate pair (an emoji would print as U+FFFD).
  const end = (text.charCodeAt(width - 1) & 0xfc00) === 0xd800 ? width - 1 : width;
  return `${text.slice(0, end)}… (${text.length} chars)`;
}

/**
 * Escapes control characters (terminal escape sequences included), line and paragraph separators and
 * backslashes, so that a record is one line and a terminal draws it as is.
 */
export function escape(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/g, (c) => {
    if (c === "\\") return "\\\\";
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`;
  });
}
