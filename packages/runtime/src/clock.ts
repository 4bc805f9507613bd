/**
 * Injectable time source used by the work queue, the reconcile loop, leader election, informer
 * timers and the event recorder, so that timings (backoff, lease expiry, TTLs measured in hours or
 * days) can be tested without waiting.
 */

/** Opaque handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Marker so handles of different clocks are not mixed up by accident. */
  readonly __timer: true;
}

/**
 * A clock: wall time in milliseconds since the Unix epoch plus one-shot timers.
 * Implementations: {@link realClock} (Date.now / global timers) and {@link FakeClock}.
 */
export interface Clock {
  /** Current time in milliseconds since the Unix epoch (like `Date.now()`). */
  now(): number;
  /**
   * Calls `fn` once after `ms` milliseconds (clamped to >= 0). Timers of the real clock do not keep
   * the process alive (they are unref'd); whoever needs the process alive holds a server or socket.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

class RealTimer implements TimerHandle {
  readonly __timer = true as const;
  constructor(readonly t: NodeJS.Timeout) {}
}

/**
 * Longest delay of Node's timers: 2^31 - 1 ms (about 24.8 days). Node fires a timer with a longer delay
 * after 1 ms, so {@link realClock} clamps delays to this.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * The process clock: `Date.now()` and Node's timers (unref'd). A delay above
 * {@link MAX_TIMER_DELAY_MS} fires at that limit, early but never at once; whoever waits for a farther
 * instant checks the time again when the timer fires (e.g. a reconcile that returns `requeueAfter`
 * for a TTL of a year decides anew and requeues for the rest).
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, ms)));
    t.unref();
    return new RealTimer(t);
  },
  clearTimeout(handle) {
    if (handle instanceof RealTimer) clearTimeout(handle.t);
  },
};

class FakeTimer implements TimerHandle {
  readonly __timer = true as const;
  constructor(
    readonly id: number,
    readonly due: number,
    readonly fn: () => void,
  ) {}
}

/** Resolves after pending promise callbacks and I/O callbacks of the current turn have run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A manually driven clock for tests. Time only moves through {@link FakeClock.advance} /
 * {@link FakeClock.set}; due timers fire in order of due time (ties in creation order), each seeing
 * `now()` equal to its due time. Between timers the pending promise callbacks are flushed, so async
 * code woken by one timer can schedule the next before time moves on.
 */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers = new Map<number, FakeTimer>();

  /** @param startMs initial time in ms since the epoch (default 2025-01-01T00:00:00Z). */
  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.current = startMs;
  }

  /** Current fake time in ms since the epoch. */
  now(): number {
    return this.current;
  }

  /** Registers a timer due at `now() + max(0, ms)`. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = new FakeTimer(++this.seq, this.current + Math.max(0, ms), fn);
    this.timers.set(t.id, t);
    return t;
  }

  /** Cancels a timer of this clock. */
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle instanceof FakeTimer) this.timers.delete(handle.id);
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time (ms since epoch) of the earliest pending timer, or undefined. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const t of this.timers.values()) if (min === undefined || t.due < min) min = t.due;
    return min;
  }

  /**
   * Moves time forward by `ms` milliseconds, firing every timer that becomes due (including timers
   * created by fired timers, when they fall inside the window). Resolves when done.
   */
  async advance(ms: number): Promise<void> {
    await this.set(this.current + Math.max(0, ms));
  }

  /** Moves time to `targetMs` (never backwards), firing due timers in order. */
  async set(targetMs: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.due <= targetMs && (!next || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.due);
      next.fn();
      await flushMicrotasks();
    }
    this.current = Math.max(this.current, targetMs);
    await flushMicrotasks();
  }
}

/**
 * Resolves after `ms` milliseconds of `clock` time, or early (without rejecting) when `signal`
 * aborts. Returns true when the full delay elapsed, false when aborted.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clock.clearTimeout(h);
      resolve(false);
    };
    const h = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
