/**
 * The streams (`replayStream`, `iterate`) a log has open, so that `truncate` and `close` can reach them: a truncate
 * that removes records a stream has not yet yielded ends that stream, and `close` ends every stream and releases
 * its file descriptor at once, even for streams the application abandoned without calling `return()`. A stream's own
 * AbortSignal (`ReadOptions.signal`) ends that stream the same way.
 *
 * A stream's state is held strongly until it ends; an abandoned stream's generator that is garbage-collected has
 * its descriptor released by a finalizer, so it pins neither memory nor a deleted segment's disk space for the life
 * of the log. (No WeakRef: a WeakRef keeps its target alive until the microtask queue drains, and a loop of awaited
 * reads on an in-memory file system never lets it drain.)
 *
 * @module
 */

import type { LogCursor } from "./cursor.ts";
import type { WalError } from "./errors.ts";
import type { WalRecord } from "./reader.ts";
import type { SegmentInfo } from "./segment.ts";

/** One open stream as the log sees it. */
export interface StreamState {
  /** The cursor reading for it. */
  readonly cursor: LogCursor;
  /** The seq of the last record it yielded (its `afterSeq` before the first). */
  position: number;
  /** Records decoded and not all yielded yet: those from `next` on are still to come. */
  chunk: readonly WalRecord[];
  /** Index in `chunk` of the next record to yield. */
  next: number;
  /** False once the cursor has read all it will read: then only `chunk` is still to come. */
  more: boolean;
  /**
   * Why it must end (closed, truncated, its signal aborted), once it must; its next step throws `reason` (boxed,
   * since an abort reason may be any value).
   */
  ended: { readonly reason: unknown } | null;
}

/**
 * The lowest seq the stream may still yield: the next record of its chunk, a batch member held back for its
 * COMMIT, or (while the cursor reads on) whatever it reads next. A truncate up to at least this takes from the
 * stream something it would have yielded; a truncate below it (a COMMIT or CHECKPOINT the stream skipped, records
 * it already yielded) does not.
 */
export function lowestToCome(state: StreamState): number {
  let lowest = Infinity;
  if (state.next < state.chunk.length) lowest = state.chunk[state.next].seqNum;
  const pending = state.cursor.pendingFirstSeq;
  if (pending !== undefined && pending < lowest) lowest = pending;
  if (state.more) lowest = Math.min(lowest, Math.max(state.cursor.nextSeq, state.cursor.afterSeq + 1));
  return lowest;
}

/** Throws why the stream must end, once it must (a function, so that each check reads `ended` afresh). */
export function throwIfEnded(state: StreamState): void {
  if (state.ended !== null) throw state.ended.reason;
}

/** Where a stream's state goes once its generator starts running (the finalizer's handle on it). */
export interface StreamSlot {
  state: StreamState | null;
}

/** The open streams of one log. */
export class OpenStreams {
  #live = new Set<StreamState>();
  #finalizer = new FinalizationRegistry<StreamSlot>((slot) => {
    if (slot.state === null) return;
    this.#live.delete(slot.state);
    slot.state.cursor.close();
  });

  /** Watches a stream's generator: if it is collected before it ended, its cursor is closed. */
  watch(generator: object, slot: StreamSlot): void {
    this.#finalizer.register(generator, slot, slot);
  }

  /** Starts tracking a stream whose generator began running. */
  add(slot: StreamSlot, state: StreamState): void {
    slot.state = state;
    this.#live.add(state);
  }

  /** Stops tracking a stream that ended. */
  remove(slot: StreamSlot): void {
    this.#finalizer.unregister(slot);
    if (slot.state !== null) this.#live.delete(slot.state);
  }

  /** Moves every stream still open onto the segments a truncate left (see `LogCursor.retarget`). */
  retarget(segments: readonly SegmentInfo[], activeEnd: number): void {
    for (const state of this.#live) state.cursor.retarget(segments, activeEnd);
  }

  /** Ends every stream for which `error` returns an error (its next step throws it), releasing its descriptor now. */
  end(error: (state: StreamState) => WalError | null): void {
    for (const state of this.#live) {
      const why = error(state);
      if (why === null) continue;
      state.ended ??= { reason: why };
      state.cursor.close();
      this.#live.delete(state);
    }
  }

  /** Ends one stream whose signal aborted: its next step throws `reason`, and its descriptor is released now. */
  abort(state: StreamState, reason: unknown): void {
    state.ended ??= { reason };
    state.cursor.close();
    this.#live.delete(state);
  }
}
