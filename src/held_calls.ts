/**
 * The write calls made while a `truncateAfter` runs: held, then issued in call order once it is done, before its
 * own promise resolves, so that each gets its seq after the cut. A truncate called meanwhile is held too and
 * runs exclusively in its turn.
 *
 * @module
 */

import type { WalError } from "./errors.ts";

/** A write call held behind a running `truncateAfter`. */
interface HeldCall {
  issue: () => Promise<unknown>;
  exclusive: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The queue of held calls of one log handle.
 *
 * @example
 * ```ts
 * import { HeldCalls } from "./held_calls.ts";
 * const held = new HeldCalls(() => null);
 * const cut = held.hold(() => Promise.resolve("cut"), true); // runs now; later calls wait for it
 * const write = held.hold(() => Promise.resolve(7), false); // issued once the cut settles
 * console.log(held.active, await cut, await write); // true "cut" 7
 * ```
 */
export class HeldCalls {
  /** While an exclusive call runs (null otherwise): the calls made since, in call order. */
  #held: HeldCall[] | null = null;
  /** Callers of `drained()` waiting for the held calls to be issued. */
  #waiters: (() => void)[] = [];
  /** Why the handle refuses work now (a held call is then rejected with it rather than issued), or null. */
  #broken: () => WalError | null;

  constructor(broken: () => WalError | null) {
    this.#broken = broken;
  }

  /** True while an exclusive call runs or calls held behind one are still to be issued. */
  get active(): boolean {
    return this.#held !== null;
  }

  /** Resolves once nothing is held (at once when nothing is). */
  drained(): Promise<void> {
    if (this.#held === null) return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Runs `issue` now when nothing is held, else once every call held before it was issued. `exclusive` (a
   * `truncateAfter`, or a truncate held behind one): later calls are held until the promise `issue` returns
   * settles. Arguments were checked already.
   */
  hold<T>(issue: () => Promise<T>, exclusive: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: HeldCall = { issue, exclusive, resolve: resolve as (v: unknown) => void, reject };
      if (this.#held !== null) this.#held.push(call);
      else if (exclusive) {
        this.#held = [];
        this.#run(call);
      } else this.#issue(call);
    });
  }

  #issue(call: HeldCall): void {
    const broken = this.#broken();
    if (broken !== null) return call.reject(broken);
    try {
      call.issue().then(call.resolve, call.reject);
    } catch (e) {
      call.reject(e);
    }
  }

  /** Runs an exclusive call; when it settles, issues what was held behind it before its caller hears back. */
  #run(call: HeldCall): void {
    const done = (settle: () => void) => {
      this.#release();
      settle();
    };
    let result: Promise<unknown>;
    const broken = this.#broken();
    try {
      result = broken !== null ? Promise.reject(broken) : call.issue();
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then((v) => done(() => call.resolve(v)), (e) => done(() => call.reject(e)));
  }

  #release(): void {
    const held = this.#held ?? [];
    for (;;) {
      const next = held.shift();
      if (next === undefined) break;
      if (next.exclusive) {
        this.#run(next);
        return;
      }
      this.#issue(next);
    }
    this.#held = null;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
