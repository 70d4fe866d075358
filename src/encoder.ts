/**
 * Encodes records (layout in `format.ts`) straight into one growing buffer per write group, so the append path
 * allocates nothing per record beyond what the caller's strings need.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { crc32 } from "./crc32.ts";
import { runtime } from "./io/runtime.ts";
import {
  FLAG_BATCH,
  FLAG_BYTES,
  KIND_DATA,
  MAX_PAYLOAD_BYTES,
  RECORD_HEADER_SIZE,
  setU64,
} from "./format.ts";
import { WalInvalidArgumentError } from "./errors.ts";

const textEncoder = new TextEncoder();
const IS_DENO = runtime === "deno";
const opTypeCache = new Map<string, Uint8Array>();

function opTypeBytes(opType: string): Uint8Array {
  let bytes = opTypeCache.get(opType);
  if (bytes === undefined) {
    bytes = textEncoder.encode(opType);
    if (opTypeCache.size < 256) opTypeCache.set(opType, bytes);
  }
  return bytes;
}

/** The UTF-8 length of an opType, for validation. */
export function opTypeByteLength(opType: string): number {
  return opTypeBytes(opType).length;
}

/** A growing byte buffer that records are encoded into, back to back. */
export class RecordEncoder {
  /** The bytes; valid up to `length`. */
  bytes: Uint8Array;
  /** How many bytes are in use. */
  length = 0;
  #view: DataView;
  #text: Buffer;

  constructor(initialSize = 64 * 1024) {
    this.bytes = new Uint8Array(initialSize);
    this.#view = new DataView(this.bytes.buffer);
    this.#text = Buffer.from(this.bytes.buffer, 0, this.bytes.length);
  }

  #setBytes(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer);
    this.#text = Buffer.from(bytes.buffer, 0, bytes.length);
  }

  #reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.#setBytes(grown);
  }

  /** Forgets everything from `length` on (used to undo a unit that failed validation, and after a flush). */
  rewind(length: number): void {
    this.length = length;
    // A huge record should not pin its buffer for the life of the log.
    if (length === 0 && this.bytes.length > 16 * 1024 * 1024) this.#setBytes(new Uint8Array(64 * 1024));
  }

  /**
   * Appends a DATA record. Throws WalInvalidArgumentError naming `argument` (leaving the buffer as it was) if
   * opType + key + value exceed the maximum payload.
   */
  data(seq: number, opType: string, key: string, value: string | Uint8Array, inBatch: boolean, argument = "value"): void {
    const op = opTypeBytes(opType);
    const isBytes = typeof value !== "string";
    // Worst case of UTF-8: 3 bytes per UTF-16 code unit.
    const maxValue = isBytes ? value.length : value.length * 3;
    const maxPayload = op.length + key.length * 3 + maxValue;
    if (op.length + key.length + (isBytes ? value.length : value.length) > MAX_PAYLOAD_BYTES) {
      throw tooLarge(argument);
    }
    this.#reserve(RECORD_HEADER_SIZE + maxPayload);
    const start = this.length;
    const bytes = this.bytes;
    let at = start + RECORD_HEADER_SIZE;
    bytes.set(op, at);
    at += op.length;
    const keyLen = key.length === 0 ? 0 : this.#encodeText(key, at);
    at += keyLen;
    let valueLen: number;
    if (isBytes) {
      bytes.set(value, at);
      valueLen = value.length;
    } else {
      valueLen = value.length === 0 ? 0 : this.#encodeText(value, at);
    }
    at += valueLen;
    if (op.length + keyLen + valueLen > MAX_PAYLOAD_BYTES) throw tooLarge(argument);
    const view = this.#view;
    setU64(view, start + 4, seq);
    bytes[start + 12] = KIND_DATA;
    bytes[start + 13] = (isBytes ? FLAG_BYTES : 0) | (inBatch ? FLAG_BATCH : 0);
    view.setUint16(start + 14, op.length, true);
    view.setUint32(start + 16, keyLen, true);
    view.setUint32(start + 20, valueLen, true);
    view.setUint32(start, crc32(bytes.subarray(start + 4, at)), true);
    this.length = at;
  }

  /**
   * Encodes `text` as UTF-8 at `at`; returns the byte count. Room for 3 bytes per code unit must exist.
   * Measured per runtime: Buffer#write is the fastest on Node and Bun; on Deno it is slow, and a hand loop
   * (short ASCII) or encodeInto (the rest) wins.
   */
  #encodeText(text: string, at: number): number {
    if (!IS_DENO) return this.#text.write(text, at, "utf8");
    const n = text.length;
    if (n <= DENO_HAND_ENCODE_MAX) {
      const into = this.bytes;
      let i = 0;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) break;
        into[at + i] = c;
      }
      if (i === n) return n;
    }
    return textEncoder.encodeInto(text, this.bytes.subarray(at)).written;
  }

  /** Appends a COMMIT or CHECKPOINT record. */
  marker(seq: number, kind: number): void {
    this.#reserve(RECORD_HEADER_SIZE);
    const start = this.length;
    const bytes = this.bytes;
    bytes.fill(0, start, start + RECORD_HEADER_SIZE);
    setU64(this.#view, start + 4, seq);
    bytes[start + 12] = kind;
    this.#view.setUint32(start, crc32(bytes.subarray(start + 4, start + RECORD_HEADER_SIZE)), true);
    this.length = start + RECORD_HEADER_SIZE;
  }
}

function tooLarge(argument: string): WalInvalidArgumentError {
  return new WalInvalidArgumentError(
    argument,
    `opType + key + value must be at most ${MAX_PAYLOAD_BYTES} bytes (64 MiB) in UTF-8`,
  );
}

/** Short strings that Deno encodes faster by hand than through `encodeInto`. */
const DENO_HAND_ENCODE_MAX = 32;
