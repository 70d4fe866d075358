/**
 * Checks of the arguments of the public calls. Each failure is a WalInvalidArgumentError that names the
 * argument and the rule; it is thrown before a seq is taken or a byte is queued.
 *
 * @module
 */

import { WalInvalidArgumentError } from "./errors.ts";
import { CHECKPOINT_OP, COMMIT_OP, MAX_OP_TYPE_BYTES } from "./format.ts";
import { opTypeByteLength } from "./encoder.ts";
import type { BatchOp, Value } from "./writer.ts";

// opTypes already found valid: an application uses a handful, and the append path checks one per record.
const validOpTypes = new Set<string>();

/** Checks an opType: a non-empty string of at most 255 UTF-8 bytes, not "COMMIT" or "CHECKPOINT". */
export function checkOpType(opType: unknown, name = "opType"): asserts opType is string {
  if (validOpTypes.has(opType as string)) return;
  if (typeof opType !== "string") throw new WalInvalidArgumentError(name, "must be a string");
  if (opType.length === 0) throw new WalInvalidArgumentError(name, "must not be empty");
  if (opType === COMMIT_OP || opType === CHECKPOINT_OP) {
    throw new WalInvalidArgumentError(name, `"${opType}" is reserved for the log's own records`);
  }
  if (!opType.isWellFormed()) throw new WalInvalidArgumentError(name, "must be well-formed UTF-16 (no lone surrogates)");
  if (opTypeByteLength(opType) > MAX_OP_TYPE_BYTES) {
    throw new WalInvalidArgumentError(name, `must be at most ${MAX_OP_TYPE_BYTES} bytes in UTF-8`);
  }
  if (validOpTypes.size < 256) validOpTypes.add(opType);
}

/** Checks a key: a well-formed string. */
export function checkKey(key: unknown, name = "key"): asserts key is string {
  if (typeof key !== "string") throw new WalInvalidArgumentError(name, "must be a string");
  if (!key.isWellFormed()) throw new WalInvalidArgumentError(name, "must be well-formed UTF-16 (no lone surrogates)");
}

/** Checks a value: a well-formed string or a Uint8Array. */
export function checkValue(value: unknown, name = "value"): asserts value is Value {
  if (typeof value === "string") {
    if (!value.isWellFormed()) {
      throw new WalInvalidArgumentError(name, "must be well-formed UTF-16 (no lone surrogates) or a Uint8Array");
    }
    return;
  }
  if (!(value instanceof Uint8Array)) throw new WalInvalidArgumentError(name, "must be a string or a Uint8Array");
  // A view of a transferred or detached buffer reads as empty in some calls and throws in others.
  const buffer = value.buffer as { detached?: boolean; resizable?: boolean };
  if (buffer.detached === true) throw new WalInvalidArgumentError(name, "must not be a view of a detached ArrayBuffer");
  if (buffer.resizable === true) {
    // A view of a resizable buffer that shrank below it is out of bounds: reading it throws a TypeError.
    try {
      value.slice(0, 0);
    } catch {
      throw new WalInvalidArgumentError(name, "must not be a view that is out of bounds of its (resized) ArrayBuffer");
    }
  }
}

/** Checks and normalizes the operations of a batch (tuples or objects). */
export function checkBatch(ops: unknown): BatchOp[] {
  if (!Array.isArray(ops)) throw new WalInvalidArgumentError("operations", "must be an array");
  if (ops.length === 0) throw new WalInvalidArgumentError("operations", "must not be empty");
  const out: BatchOp[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op: unknown = ops[i];
    const at = `operations[${i}]`;
    let opType: unknown, key: unknown, value: unknown;
    if (Array.isArray(op)) {
      if (op.length < 2 || op.length > 3) throw new WalInvalidArgumentError(at, "must be [opType, key, value?]");
      [opType, key, value] = op;
    } else if (typeof op === "object" && op !== null) {
      ({ opType, key, value } = op as Record<string, unknown>);
    } else {
      throw new WalInvalidArgumentError(at, "must be [opType, key, value?] or { opType, key, value }");
    }
    // Only a missing value defaults to "": null is refused, as it is by append().
    if (value === undefined) value = "";
    checkOpType(opType, `${at}.opType`);
    checkKey(key, `${at}.key`);
    checkValue(value, `${at}.value`);
    out[i] = { opType, key, value };
  }
  return out;
}

/** Checks a seq argument: a safe integer >= 0. */
export function checkSeq(seq: unknown, name: string): asserts seq is number {
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    throw new WalInvalidArgumentError(name, "must be an integer >= 0");
  }
}

/** Checks the options of a read and returns its `afterSeq` (default 0). */
export function checkReadOptions(options: unknown): number {
  if (options === undefined) return 0;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new WalInvalidArgumentError("options", "must be an object such as { afterSeq: 10 }, or undefined");
  }
  const afterSeq = (options as { afterSeq?: unknown }).afterSeq;
  if (afterSeq === undefined) return 0;
  checkSeq(afterSeq, "options.afterSeq");
  return afterSeq;
}

/** Checks the `signal` of a read's options (already checked by {@link checkReadOptions}): an AbortSignal or absent. */
export function checkReadSignal(options: unknown): AbortSignal | undefined {
  if (typeof options !== "object" || options === null) return undefined;
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new WalInvalidArgumentError("options.signal", "must be an AbortSignal (such as AbortController's signal)");
  }
  return signal;
}
