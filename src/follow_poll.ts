/**
 * How a read-only handle learns of what a writer in another process appends: it looks every `pollMs` while a
 * follower waits, one timer per handle whatever the number of followers, and a look costs a few system calls
 * (see {@link mayHaveGrown}) until something did change. The writer's process cannot wake us, and file watching
 * (inotify and its kin) is missing or silent on network and some container file systems, so polling is the one
 * mechanism that works everywhere.
 *
 * @module
 */

import { WalInvalidArgumentError } from "./errors.ts";
import { segmentName } from "./format.ts";
import type { WalFileSystem } from "./io/types.ts";
import type { SegmentInfo } from "./segment.ts";
import { FollowHub } from "./follow.ts";

/** Default interval of a read-only follower's looks, in ms: see README ("Following a log") for its cost. */
export const DEFAULT_POLL_MS = 10;

/** What a look needs to know of the log as last read. */
export interface PolledView {
  segments: readonly SegmentInfo[];
  activeEnd: number;
  lastSeq: number;
}

/**
 * True when the log may hold more than `view`: bytes that are not zeros after the last complete unit of the
 * newest segment (a write in flight counts), a segment for the seq after the last one (a rotation), or the newest
 * segment gone (a truncate). One open, one 16-byte read, one close and one stat while nothing changes.
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

  /**
   * @param look reads what changed; true when followers have something new to read (or must end)
   * @param active false once no follower is left: the looks stop (and no timer keeps the process alive)
   */
  constructor(look: () => boolean, active: () => boolean) {
    this.#look = look;
    this.#active = active;
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
    return promise;
  }

  #arm(ms: number): void {
    this.#due = performance.now() + ms;
    this.#timer = setTimeout(this.#tick, ms);
  }

  #tick = (): void => {
    this.#timer = undefined;
    if (this.#stopped || !this.#active()) {
      this.#pollMs = Infinity;
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

  /** Stops looking for good (the handle closed). */
  stop(): void {
    this.#stopped = true;
    this.wake();
  }
}

/** Checks `options.pollMs` of a read-only follower: an integer from 1 to 2^31 - 1 (a timer's range), default 10. */
export function checkPollMs(options: unknown): number {
  if (typeof options !== "object" || options === null) return DEFAULT_POLL_MS;
  const pollMs = (options as { pollMs?: unknown }).pollMs;
  if (pollMs === undefined) return DEFAULT_POLL_MS;
  if (typeof pollMs !== "number" || !Number.isInteger(pollMs) || pollMs < 1 || pollMs > 2 ** 31 - 1) {
    throw new WalInvalidArgumentError("options.pollMs", "must be an integer from 1 to 2147483647 (milliseconds)");
  }
  return pollMs;
}
