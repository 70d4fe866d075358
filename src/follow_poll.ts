/**
 * How a read-only handle learns of what a writer in another process appends (the writer's process cannot wake
 * it): while a follower waits, it watches the log's directory (inotify and its kin, through the file system's
 * optional `watch`), and a change event brings a look forward; and it looks every `pollMs` anyway, since watching
 * is missing or silent on network and some container file systems. One timer and one watcher per handle whatever
 * the number of followers; a look costs a few system calls (see {@link mayHaveGrown}) until something did change.
 *
 * @module
 */

import { setImmediate } from "node:timers";

import { WalInvalidArgumentError } from "./errors.ts";
import { segmentName } from "./format.ts";
import type { WalFileSystem } from "./io/types.ts";
import type { SegmentInfo } from "./segment.ts";
import { headerRewritten, tailCut } from "./tail_stamp.ts";
import type { TailStamp } from "./tail_stamp.ts";
import { FollowHub } from "./follow.ts";

/** Default interval of a read-only follower's looks, in ms: see README ("Following a log") for its cost. */
export const DEFAULT_POLL_MS = 100;

/** What a look needs to know of the log as last read. */
export interface PolledView {
  segments: readonly SegmentInfo[];
  activeEnd: number;
  lastSeq: number;
  /** The newest segment's last record the view reads (see tail_stamp.ts). */
  tail: TailStamp;
}

/**
 * True when the log may hold more than `view`: bytes that are not zeros after the last complete unit of the
 * newest segment (a write in flight counts), a segment for the seq after the last one (a rotation), the newest
 * segment gone (a truncate), or the view's last record no longer where it was (a truncateAfter). One open, a
 * 16-byte and a 4-byte read, one close and two stats while nothing changes.
 */
export function mayHaveGrown(fs: WalFileSystem, dir: string, view: PolledView): boolean {
  if (view.segments.length === 0) return true;
  const newest = view.segments[view.segments.length - 1];
  let file;
  try {
    file = fs.openRead(newest.path);
  } catch {
    return true;
  }
  try {
    const head = new Uint8Array(16);
    const n = file.read(head, view.activeEnd);
    for (let i = 0; i < n; i++) if (head[i] !== 0) return true;
    // The writer's truncateAfter shortens the segment in place: the view's last record is gone or replaced.
    if (tailCut(file, view.activeEnd, view.tail, fs) || headerRewritten(file, view.tail)) return true;
  } catch {
    return true;
  } finally {
    file.close();
  }
  return fs.exists(fs.join(dir, segmentName(view.lastSeq + 1)));
}

/**
 * The looks of one read-only handle: followers wait on `changed(pollMs)`; a timer looks (at the shortest
 * interval a waiting follower asked for) and wakes them all, with one promise, when `look` reports a change.
 */
export class Poller {
  #hub = new FollowHub();
  #look: () => boolean;
  #active: () => boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = Infinity;
  #pollMs = Infinity;
  #stopped = false;
  #watch: ((onChange: () => void) => { close(): void } | null) | undefined;
  #watcher: { close(): void } | null = null;
  /** A watch event came while no follower waited: the next one to wait gets a look at once. */
  #dirty = false;
  #soon = false;

  /**
   * @param look reads what changed; true when followers have something new to read (or must end)
   * @param active false once no follower is left: the looks stop (and no timer keeps the process alive)
   * @param watch starts watching the log's directory (a hint that brings the next look forward), if it can
   */
  constructor(
    look: () => boolean,
    active: () => boolean,
    watch?: (onChange: () => void) => { close(): void } | null,
  ) {
    this.#look = look;
    this.#active = active;
    this.#watch = watch;
  }

  /** A watch event: look at once if a follower waits, else remember it for the next one that does. */
  #onEvent = (): void => {
    if (this.#stopped) return;
    if (this.#pollMs === Infinity) {
      this.#dirty = true;
      return;
    }
    this.#lookSoon();
  };

  #lookSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    // After the current turn: the events of one write (or of many) make one look.
    setImmediate(() => {
      this.#soon = false;
      if (this.#stopped || this.#pollMs === Infinity) return;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#tick();
    });
  }

  /** Settles after the next look that found a change. */
  changed(pollMs: number): Promise<void> {
    const promise = this.#hub.next();
    if (this.#stopped) return promise;
    if (pollMs < this.#pollMs) this.#pollMs = pollMs;
    const due = performance.now() + pollMs;
    if (this.#timer === undefined || due < this.#due) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#arm(pollMs);
    }
    if (this.#watcher === null && this.#watch !== undefined) this.#watcher = this.#watch(this.#onEvent);
    if (this.#dirty) {
      this.#dirty = false;
      this.#lookSoon();
    }
    return promise;
  }

  #arm(ms: number): void {
    this.#due = performance.now() + ms;
    this.#timer = setTimeout(this.#tick, ms);
  }

  #tick = (): void => {
    this.#timer = undefined;
    if (this.#stopped || !this.#active()) {
      this.release();
      return;
    }
    if (this.#look()) {
      // Woken followers read, and ask for the next look when they wait again.
      this.#pollMs = Infinity;
      this.#hub.wake();
      return;
    }
    this.#arm(this.#pollMs);
  };

  /** Wakes every waiter now (to see that it ended), and looks no more while none waits. */
  wake(): void {
    this.#pollMs = Infinity;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#hub.wake();
  }

  /** Stops looking and watching while no follower is left (the next `changed` starts again). */
  release(): void {
    this.#pollMs = Infinity;
    this.#dirty = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const watcher = this.#watcher;
    this.#watcher = null;
    watcher?.close();
  }

  /** Stops looking for good (the handle closed). */
  stop(): void {
    this.#stopped = true;
    this.release();
    this.#hub.wake();
  }
}

/** Checks `options.pollMs` of a read-only follower: an integer from 1 to 2^31 - 1 (a timer's range), default 100. */
export function checkPollMs(options: unknown): number {
  if (typeof options !== "object" || options === null) return DEFAULT_POLL_MS;
  const pollMs = (options as { pollMs?: unknown }).pollMs;
  if (pollMs === undefined) return DEFAULT_POLL_MS;
  if (typeof pollMs !== "number" || !Number.isInteger(pollMs) || pollMs < 1 || pollMs > 2 ** 31 - 1) {
    throw new WalInvalidArgumentError("options.pollMs", "must be an integer from 1 to 2147483647 (milliseconds)");
  }
  return pollMs;
}
