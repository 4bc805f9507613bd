import { type Clock, realClock, sleep } from './clock.js';

/**
 * Per-item rate limiter of the work queue, as client-go's `workqueue.TypedRateLimiter`:
 * `when(key)` records one more failure of `key` and returns how long (ms) to wait before the retry,
 * `forget(key)` clears its history (after success), `numRequeues(key)` counts failures since.
 */
export interface RateLimiter {
  /** Delay in ms before `key` may be retried; counts one more requeue of `key`. */
  when(key: string): number;
  /** Stops tracking `key` (call after it was processed successfully). */
  forget(key: string): void;
  /** Failures of `key` since the last forget. */
  numRequeues(key: string): number;
}

/**
 * Token bucket: `qps` tokens per second, at most `burst` stored; starts full. Like Go's
 * `golang.org/x/time/rate.Limiter`, a reservation may push the bucket into debt, so callers are
 * served in order and each gets the delay it must wait.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param qps refill rate in tokens per second (> 0; Infinity disables limiting)
   * @param burst bucket size (>= 1)
   */
  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly clock: Clock = realClock,
  ) {
    if (!(qps > 0)) throw new RangeError(`qps must be > 0, got ${qps}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be >= 1, got ${burst}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
      this.last = now;
    }
  }

  /** Takes one token and returns the wait in ms before the caller may act (0 if a token was available). */
  reserve(): number {
    if (this.qps === Infinity) return 0;
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    return Math.ceil((-this.tokens / this.qps) * 1000);
  }

  /** Takes one token if one is available now (true), else takes nothing (false): drop-style limiting. */
  tryTake(): boolean {
    if (this.qps === Infinity) return true;
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Takes one token, waiting (on the clock) as long as needed; returns the ms waited. */
  async take(signal?: AbortSignal): Promise<number> {
    const d = this.reserve();
    if (d > 0) await sleep(this.clock, d, signal);
    return d;
  }
}

/**
 * client-go's `ItemExponentialFailureRateLimiter`: delay = base * 2^failures, capped at max.
 * Defaults follow client-go's `DefaultControllerRateLimiter`: 5 ms base, 1000 s cap.
 */
export class ExponentialFailureRateLimiter implements RateLimiter {
  private failures = new Map<string, number>();

  /** @param baseDelayMs first delay (ms); @param maxDelayMs cap (ms) */
  constructor(
    readonly baseDelayMs = 5,
    readonly maxDelayMs = 1_000_000,
  ) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const d = this.baseDelayMs * 2 ** n;
    return Number.isFinite(d) ? Math.min(d, this.maxDelayMs) : this.maxDelayMs;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * client-go's `BucketRateLimiter`: an overall token bucket shared by all keys (default 10 qps, burst
 * 100), so a storm of failing keys cannot retry faster than that in total.
 */
export class BucketRateLimiter implements RateLimiter {
  private bucket: TokenBucket;

  constructor(qps = 10, burst = 100, clock: Clock = realClock) {
    this.bucket = new TokenBucket(qps, burst, clock);
  }

  when(): number {
    return this.bucket.reserve();
  }

  forget(): void {}

  numRequeues(): number {
    return 0;
  }
}

/** client-go's `MaxOfRateLimiter`: the longest delay of all limiters; requeues counted by the max. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let d = 0;
    for (const l of this.limiters) d = Math.max(d, l.when(key));
    return d;
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    let n = 0;
    for (const l of this.limiters) n = Math.max(n, l.numRequeues(key));
    return n;
  }
}

/**
 * client-go's `DefaultControllerRateLimiter`: max of per-key exponential backoff (5 ms -> 1000 s) and
 * an overall bucket of 10 qps / burst 100.
 */
export function defaultControllerRateLimiter(clock: Clock = realClock): RateLimiter {
  return new MaxOfRateLimiter(new ExponentialFailureRateLimiter(5, 1_000_000), new BucketRateLimiter(10, 100, clock));
}

/**
 * Jittered exponential backoff for retry loops (informer restarts, leader-election retries), after
 * client-go's `wait.Backoff` / reflector backoff manager: delay_n = min(cap, initial * factor^n) plus
 * up to `jitter` * delay of random extra; resets to `initial` after `resetAfterMs` without failures.
 */
export class Backoff {
  private steps = 0;
  private lastFailure = 0;

  constructor(
    readonly opts: {
      initialMs: number;
      maxMs: number;
      factor?: number;
      jitter?: number;
      resetAfterMs?: number;
    },
    private readonly clock: Clock = realClock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Next delay in ms (counts one failure). */
  next(): number {
    const now = this.clock.now();
    if (this.opts.resetAfterMs !== undefined && this.steps > 0 && now - this.lastFailure > this.opts.resetAfterMs) {
      this.steps = 0;
    }
    this.lastFailure = now;
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * (this.opts.factor ?? 2) ** this.steps);
    this.steps++;
    const jitter = this.opts.jitter ?? 1;
    return Math.round(Math.min(this.opts.maxMs * (1 + jitter), base + base * jitter * this.random()));
  }

  /** Forgets past failures. */
  reset(): void {
    this.steps = 0;
  }
}
