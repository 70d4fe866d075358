/**
 * The streams (`replayStream`, `iterate`) a log has open, so that `truncate` and `close` can reach them: a truncate
 * that removes records a stream has not yet yielded ends that stream, and `close` ends every stream and releases
 * its file descriptor at once, even for streams the application abandoned without calling `return()`.
 *
 * Streams are held weakly: an abandoned stream that is garbage-collected has its descriptor released by a
 * finalizer, so it pins neither memory nor a deleted segment's disk space for the life of the log.
 *
 * @module
 */

import type { LogCursor } from "./cursor.ts";
import type { WalError } from "./errors.ts";
import type { SegmentInfo } from "./segment.ts";

/** One open stream as the log sees it. */
export interface StreamState {
  /** The cursor reading for it. */
  readonly cursor: LogCursor;
  /** The seq of the last record it yielded (its `afterSeq` before the first). */
  position: number;
  /** Why it must end (closed, truncated), once it must; its next step throws this. */
  ended: WalError | null;
}

/** The open streams of one log. */
export class OpenStreams {
  #live = new Set<WeakRef<StreamState>>();
  #finalizer = new FinalizationRegistry<{ cursor: LogCursor; ref: WeakRef<StreamState> }>((held) => {
    this.#live.delete(held.ref);
    held.cursor.close();
  });

  /** Starts tracking a stream; call `remove` when it ends. */
  add(state: StreamState): void {
    const ref = new WeakRef(state);
    this.#live.add(ref);
    this.#finalizer.register(state, { cursor: state.cursor, ref }, state);
  }

  /** Stops tracking a stream that ended on its own. */
  remove(state: StreamState): void {
    this.#finalizer.unregister(state);
    for (const ref of this.#live) {
      if (ref.deref() === state) this.#live.delete(ref);
    }
  }

  /** Moves every stream still open onto the segments a truncate left (see `LogCursor.retarget`). */
  retarget(segments: readonly SegmentInfo[], activeEnd: number): void {
    for (const ref of this.#live) ref.deref()?.cursor.retarget(segments, activeEnd);
  }

  /** Ends every stream for which `error` returns an error (its next step throws it), releasing its descriptor now. */
  end(error: (state: StreamState) => WalError | null): void {
    for (const ref of this.#live) {
      const state = ref.deref();
      if (state === undefined) {
        this.#live.delete(ref);
        continue;
      }
      const why = error(state);
      if (why === null) continue;
      state.ended ??= why;
      state.cursor.close();
      this.#finalizer.unregister(state);
      this.#live.delete(ref);
    }
  }
}
