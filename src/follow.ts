/**
 * Live followers (`follow()`): async iterators of committed records that read what is in the log and then wait
 * for what is acknowledged next, of a writer in this process (`WriteAheadLog`) or another one (`ReadOnlyLog`).
 *
 * Waking is O(1) for whoever announces new records: every waiting follower awaits one shared promise (a
 * {@link FollowHub} generation), which the announcer resolves once per advance, however many followers there
 * are. Followers never take records from the writer's memory: each reads the segment files through a cursor of
 * its own, up to the end the writer has acknowledged, so a follower that falls behind reads more from disk and
 * costs the writer nothing.
 *
 * @module
 */

import { LogCursor } from "./cursor.ts";
import { WalTruncatedError } from "./errors.ts";
import type { WalError } from "./errors.ts";
import type { WalFileSystem } from "./io/types.ts";
import type { WalRecord } from "./reader.ts";
import type { SegmentInfo } from "./segment.ts";

/** Records a follower decodes at a time (as `replayStream` does). */
const FOLLOW_CHUNK = 128;
/** Bytes of records (as stored) a follower decodes at a time, whatever their number. */
const FOLLOW_STEP_BYTES = 4 * 1024 * 1024;

/** Options of `follow()`. */
export interface FollowOptions {
  /** Only records with seq greater than this (exclusive). Default 0: from the start of the log. */
  afterSeq?: number;
  /**
   * Ends the follower when it aborts: its next step (also one waiting for new records) rejects with the signal's
   * `reason`, and its file descriptor is released at once. Not an AbortSignal: WalInvalidArgumentError.
   */
  signal?: AbortSignal;
}

/**
 * One generation after another: waiters share the promise of the current generation, and `wake()` resolves it
 * (one call, whatever the number of waiters) and starts the next one lazily.
 */
export class FollowHub {
  /** Generations resolved by all hubs of this process (tests count wake-ups with it). */
  static resolutions = 0;
  #current: Promise<void> | null = null;
  #resolve: (() => void) | null = null;

  /** The promise the next `wake()` resolves. */
  next(): Promise<void> {
    if (this.#current === null) this.#current = new Promise<void>((resolve) => (this.#resolve = resolve));
    return this.#current;
  }

  /** Wakes every waiter of the current generation: one promise resolved, nothing when none waits. */
  wake(): void {
    const resolve = this.#resolve;
    if (resolve === null) return;
    this.#current = null;
    this.#resolve = null;
    FollowHub.resolutions++;
    resolve();
  }
}

/**
 * Where a follower starts: after `afterSeq` when the caller gave one, else before the oldest record (`firstSeq`).
 * A given afterSeq below `firstSeq - 1` (a truncate removed records after it since) or past `lastSeq` (the tail the
 * consumer saw was cut or lost since) is refused: the consumer would silently skip records it never saw.
 *
 * @throws WalTruncatedError for such an afterSeq
 */
export function followStart(afterSeq: number | undefined, firstSeq: number, lastSeq: number): number {
  if (afterSeq === undefined) return firstSeq - 1;
  if (afterSeq < firstSeq - 1) throw new WalTruncatedError(firstSeq - 1, afterSeq);
  if (afterSeq > lastSeq) throw new WalTruncatedError(lastSeq, afterSeq, true);
  return afterSeq;
}

/** Where a follower reads from: the log as it is now and the news of its changes. */
export interface FollowSource {
  /** The segments now, oldest first. */
  segments(): readonly SegmentInfo[];
  /** Bytes of the last segment that hold acknowledged (complete) records now. */
  activeEnd(): number;
  /** Settles at the next change (or, for a poller, the next look). Taken before a read, awaited after it. */
  changed(): Promise<void>;
  /** Runs one step of a cursor, mapping its errors as the handle does (and recovering where it can). */
  fill(state: FollowState, out: WalRecord[], limit: number, maxBytes: number): boolean;
}

/** A follower that `follow()` checked and registered, for its generator to run. */
export interface BegunFollow {
  state: FollowState;
  source: FollowSource;
}

/** Marks a follower ended cleanly (`close()`): its next step is `done`. */
const CLEAN_END: unique symbol = Symbol("clean end");

/** One follower as its log sees it; structurally a `StreamState`, so `lowestToCome` applies. */
export interface FollowState {
  /** Reads for it; replaced when a truncate moves it onto other files. */
  cursor: LogCursor;
  /** The seq of the last record it yielded (its `afterSeq` before the first). */
  position: number;
  /** Records read and not all yielded yet: those from `next` on are still to come. */
  chunk: WalRecord[];
  /** Index in `chunk` of the next record to yield. */
  next: number;
  /** Always true: a follower may always read on. */
  readonly more: true;
  /** Why it must end, once it must (`CLEAN_END` for a clean end). */
  ended: { readonly reason: unknown } | null;
  /** Wakes it if it is waiting for news (to see that it ended). */
  wake: (() => void) | null;
  /**
   * True from `follow()` without an afterSeq until its generator first runs: it starts at the oldest record
   * there is then, so a truncate in between moves it rather than ending it (as it does a stream not yet started).
   */
  fromOldest: boolean;
  /** Stops listening to its signal (set while it listens). */
  unlisten: (() => void) | null;
}

/** The seq after which a fresh cursor goes on where this follower's cursor is: a unit boundary. */
function resumeAfter(state: FollowState): number {
  const cursor = state.cursor;
  const pending = cursor.pendingFirstSeq;
  if (pending !== undefined) return pending - 1;
  return Math.max(cursor.nextSeq - 1, cursor.afterSeq);
}

/** Where a follower's state goes once its generator starts running (the finalizer's handle on it). */
export interface FollowSlot {
  state: FollowState | null;
}

/**
 * The followers of one log handle, so that `truncate`, `truncateAfter`, `close` and the signal can reach them.
 * An abandoned follower whose generator is garbage-collected has its descriptor released by a finalizer.
 */
export class Followers {
  #fs: WalFileSystem;
  #live = new Set<FollowState>();
  #finalizer = new FinalizationRegistry<FollowSlot>((slot) => {
    if (slot.state === null) return;
    slot.state.unlisten?.();
    this.#live.delete(slot.state);
    this.#overtaken.delete(slot.state);
    slot.state.cursor.close();
  });

  constructor(fs: WalFileSystem) {
    this.#fs = fs;
  }

  /** Followers running now. */
  get size(): number {
    return this.#live.size;
  }

  /**
   * Ends every follower for which `error` returns an error (its next step throws it) or `"done"` (its next step
   * is the end), releasing its descriptor now.
   */
  end(error: (state: FollowState) => WalError | "done" | null): void {
    for (const state of this.#live) {
      const why = error(state);
      if (why === null) continue;
      this.#stop(state, why === "done" ? CLEAN_END : why);
    }
  }

  /** Ends one follower whose signal aborted with `reason`. */
  abort(state: FollowState, reason: unknown): void {
    this.#stop(state, reason);
  }

  #stop(state: FollowState, reason: unknown): void {
    state.ended ??= { reason };
    state.cursor.close();
    this.#live.delete(state);
    if (state.ended.reason instanceof WalTruncatedError) this.#overtaken.add(state);
    state.wake?.();
  }

  /**
   * Followers ended by a truncate whose consumer has not yet been told: a later `truncateAfter` below the seq that
   * error tells them to resume after must lower it, or a consumer resuming there would miss the records appended
   * after the second cut.
   */
  #overtaken = new Set<FollowState>();

  /**
   * Moves every follower onto the files a truncate left (it removed nothing they have yet to yield): each goes on
   * after the last record it read, through a fresh cursor.
   */
  retarget(segments: readonly SegmentInfo[], activeEnd: number): void {
    this.cutAfter(Infinity, segments, activeEnd, () => null);
  }

  /**
   * After `truncateAfter(n)` (records with seq > n removed, numbering going on at n + 1, so those seqs will name
   * other records): ends with `error(state)` every follower that yielded a seq > n; the others drop whatever they
   * read past n and go on after the last record they read up to n, on the files left.
   */
  cutAfter(n: number, segments: readonly SegmentInfo[], activeEnd: number, error: (state: FollowState) => WalError | null): void {
    for (const state of this.#overtaken) {
      const reason = state.ended?.reason;
      if (!(reason instanceof WalTruncatedError)) continue;
      // Where its consumer would resume: after upToSeq (front truncate) or after its position, at most upToSeq.
      const resume = reason.after ? Math.min(reason.upToSeq, state.position) : Math.max(reason.upToSeq, state.position);
      if (n < resume) state.ended = { reason: new WalTruncatedError(n, state.position, true) };
    }
    for (const state of this.#live) {
      if (state.position > n) {
        const why = error(state);
        if (why !== null) {
          this.#stop(state, why);
          continue;
        }
      }
      let resume = resumeAfter(state);
      if (resume > n) {
        // Records read past n are gone: keep those up to n still to be yielded, read on after them.
        let keep = state.next;
        while (keep < state.chunk.length && state.chunk[keep].seqNum <= n) keep++;
        state.chunk.length = keep;
        resume = Math.max(n, state.position);
      }
      const old = state.cursor;
      state.cursor = new LogCursor(this.#fs, segments, activeEnd, resume, true, true);
      old.close();
    }
  }

  /**
   * Starts tracking a follower that reads after `afterSeq` from `source`'s files as they are now. Called when
   * `follow()` is, not when its generator first runs: a truncate or close between the two reaches it as it reaches
   * a running one. Its cursor opens no file before its first step. So does an abort of `signal`: one that comes
   * before a truncate or close is what its first step reports, as for a running follower.
   */
  begin(slot: FollowSlot, source: FollowSource, afterSeq: number, fromOldest = false, signal?: AbortSignal): FollowState {
    const state: FollowState = {
      cursor: new LogCursor(this.#fs, source.segments(), source.activeEnd(), afterSeq, true, true),
      position: afterSeq,
      chunk: [],
      next: 0,
      more: true,
      ended: null,
      wake: null,
      fromOldest,
      unlisten: null,
    };
    slot.state = state;
    this.#live.add(state);
    if (signal?.aborted) {
      this.abort(state, signal.reason);
    } else if (signal !== undefined) {
      // The descriptor is released when the signal aborts, not when the consumer next steps (it may never).
      const onAbort = () => this.abort(state, signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      state.unlisten = () => signal.removeEventListener("abort", onAbort);
    }
    return state;
  }

  /** Watches a follower's generator: if it is collected before it ended, its cursor is closed. */
  watch(generator: object, slot: FollowSlot): void {
    this.#finalizer.register(generator, slot, slot);
  }

  /** Stops tracking a follower that ended. */
  remove(slot: FollowSlot): void {
    this.#finalizer.unregister(slot);
    if (slot.state !== null) {
      slot.state.unlisten?.();
      slot.state.unlisten = null;
      this.#live.delete(slot.state);
      this.#overtaken.delete(slot.state);
    }
  }
}

/**
 * The follower's loop: what is readable now after its position, then, each time the source announces a change,
 * what became readable since; until its signal aborts (see `Followers.begin`), the consumer returns, or the log
 * ends it.
 */
export async function* followLog(
  followers: Followers,
  source: FollowSource,
  state: FollowState,
  slot: FollowSlot,
): AsyncGenerator<WalRecord, void, undefined> {
  const chunk = state.chunk;
  state.fromOldest = false;
  try {
    for (;;) {
      if (state.ended !== null) {
        if (state.ended.reason === CLEAN_END) return;
        throw state.ended.reason;
      }
      if (state.next < chunk.length) {
        const record = chunk[state.next++];
        state.position = record.seqNum;
        yield record;
        continue;
      }
      chunk.length = 0;
      state.next = 0;
      // Taken before the read: a change announced after it (or during it) settles this promise.
      const changed = source.changed();
      state.cursor.extend(source.segments(), source.activeEnd());
      // True with nothing taken: a batch larger than a step still held for its COMMIT, or a source that
      // recovered (a truncate under the read): read on rather than wait.
      const more = source.fill(state, chunk, FOLLOW_CHUNK, FOLLOW_STEP_BYTES);
      if (chunk.length > 0 || state.ended !== null || more) continue;
      // One reaction on the shared generation promise per wait: it is dropped with that promise.
      await new Promise<void>((resolve) => {
        state.wake = resolve;
        changed.then(resolve);
      });
      state.wake = null;
    }
  } finally {
    followers.remove(slot);
    state.cursor.close();
  }
}
