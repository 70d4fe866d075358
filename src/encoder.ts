/**
 * Encodes records (layout in `format.ts`) straight into one growing buffer per write group, so the append path
 * allocates nothing per record beyond what the caller's strings need.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { runtime } from "./io/runtime.ts";
import {
  crc32Range,
  crc32Small,
  FLAG_BATCH,
  FLAG_BYTES,
  HEADER_CRC_SPAN,
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

/**
 * A growing byte buffer that records are encoded into, back to back (format version 2).
 *
 * @example
 * ```ts
 * const enc = new RecordEncoder();
 * enc.syncedThrough = 0; // nothing known durable yet
 * enc.data(1, "PUT", "k", "v", false);
 * // enc.bytes.subarray(0, enc.length) is the record, ready to be written
 * ```
 */
export class RecordEncoder {
  /** The bytes; valid up to `length`. */
  bytes: Uint8Array;
  /** How many bytes are in use. */
  length = 0;
  /**
   * The highest seq known durable (covered by a successful fdatasync) when the next records are encoded; 0 =
   * unknown. Every record encoded carries it (as `syncedBack`, see `format.ts`), so that open can prove damage
   * before it is not a crash's. It must never be more than what is durable: a value too low only makes open
   * more lenient, a value too high can make strict mode refuse what a crash left.
   */
  syncedThrough = 0;
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
   * Appends a DATA record. Throws WalInvalidArgumentError (leaving the buffer as it was) if opType + key +
   * value exceed the maximum payload: naming `argument` ("value", or e.g. "operations[2].value"), or the key
   * argument beside it ("key", "operations[2].key") when opType + key alone exceed it.
   */
  data(seq: number, opType: string, key: string, value: string | Uint8Array, inBatch: boolean, argument = "value"): void {
    const op = opTypeBytes(opType);
    const isBytes = typeof value !== "string";
    // UTF-16 code units are a lower bound of UTF-8 bytes: refuse what is surely too large before encoding.
    if (op.length + key.length > MAX_PAYLOAD_BYTES) throw tooLarge(keyArgument(argument));
    if (op.length + key.length + value.length > MAX_PAYLOAD_BYTES) throw tooLarge(argument);
    // Worst case of UTF-8: 3 bytes per UTF-16 code unit.
    const maxValue = isBytes ? value.length : value.length * 3;
    const maxPayload = op.length + key.length * 3 + maxValue;
    this.#reserve(RECORD_HEADER_SIZE + maxPayload);
    const start = this.length;
    const bytes = this.bytes;
    const payloadStart = start + RECORD_HEADER_SIZE;
    let at = payloadStart;
    bytes.set(op, at);
    at += op.length;
    const keyLen = key.length === 0 ? 0 : this.#encodeText(key, at);
    at += keyLen;
    if (op.length + keyLen > MAX_PAYLOAD_BYTES) throw tooLarge(keyArgument(argument));
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
    view.setUint32(start + 24, this.#syncedBack(seq), true);
    view.setUint32(start + 28, crc32Small(bytes, start + 4, HEADER_CRC_SPAN), true);
    view.setUint32(start, crc32Range(bytes, start + 4, at - start - 4), true);
    this.length = at;
  }

  /** The `syncedBack` field for a record of seq `seq`: how far back the durable seq is, 0 if unknown. */
  #syncedBack(seq: number): number {
    const through = this.syncedThrough;
    if (!(through > 0 && through < seq)) return 0;
    const back = seq - through;
    return back <= 0xffff_ffff ? back : 0;
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
    this.#view.setUint32(start + 24, this.#syncedBack(seq), true);
    this.#view.setUint32(start + 28, crc32Small(bytes, start + 4, HEADER_CRC_SPAN), true);
    this.#view.setUint32(start, crc32Small(bytes, start + 4, RECORD_HEADER_SIZE - 4), true);
    this.length = start + RECORD_HEADER_SIZE;
  }
}

/** The key argument that goes with a value argument: "value" -> "key", "operations[2].value" -> "operations[2].key". */
function keyArgument(valueArgument: string): string {
  return valueArgument.endsWith("value") ? valueArgument.slice(0, -"value".length) + "key" : valueArgument;
}

function tooLarge(argument: string): WalInvalidArgumentError {
  return new WalInvalidArgumentError(
    argument,
    `opType + key + value must be at most ${MAX_PAYLOAD_BYTES} bytes (64 MiB) in UTF-8`,
  );
}

/** Short strings that Deno encodes faster by hand than through `encodeInto`. */
const DENO_HAND_ENCODE_MAX = 32;
