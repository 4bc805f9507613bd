import { type Clock, type TimerHandle, realClock } from './clock.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';
import { type RateLimiter, defaultControllerRateLimiter } from './ratelimit.js';

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Queue name, used as the `name` label of the queue metrics. */
  name: string;
  /** Time source for delays and latency metrics; default the real clock. */
  clock?: Clock;
  /** Per-key retry limiter; default {@link defaultControllerRateLimiter} (5 ms -> 1000 s, 10 qps / 100 burst). */
  rateLimiter?: RateLimiter;
  /** Registry for `workqueue_*` metrics; default a detached one. */
  metrics?: ComponentMetrics;
}

/**
 * A rate-limited, delaying work queue of string keys with client-go `workqueue` semantics:
 *
 * - dedup: a key queued several times before a worker takes it is processed once;
 * - one key is never handed to two workers at once: a key added while being processed is marked
 *   dirty and re-queued when the worker calls {@link done} ("dirty" and "processing" sets);
 * - {@link addAfter} delays (the earliest pending delay per key wins), {@link addRateLimited} uses the
 *   per-key exponential backoff of the rate limiter, {@link forget} resets it;
 * - {@link shutDown}: new adds are ignored and pending delays dropped; keys already queued are still
 *   handed out, then {@link get} resolves `undefined`. {@link shutDownWithDrain} additionally waits
 *   until every handed-out key is done.
 *
 * Metrics (prefix `kubeaws_<component>_`, label `name`): `workqueue_depth`, `workqueue_adds_total`,
 * `workqueue_retries_total`, `workqueue_queue_duration_seconds` (add -> get latency),
 * `workqueue_work_duration_seconds` (get -> done).
 */
export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private queue: string[] = [];
  private head = 0;
  private dirty = new Set<string>();
  private processing = new Set<string>();
  private addedAt = new Map<string, number>();
  private startedAt = new Map<string, number>();
  private waiting = new Map<string, { due: number; timer: TimerHandle }>();
  private getters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private shuttingDown = false;
  private discarding = false;
  private readonly m;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter(this.clock);
    const metrics = opts.metrics ?? detachedMetrics();
    this.m = {
      depth: metrics.gauge('workqueue_depth', 'Keys waiting in the work queue', ['name']).labels(this.name),
      adds: metrics.counter('workqueue_adds_total', 'Keys added to the work queue', ['name']).labels(this.name),
      retries: metrics
        .counter('workqueue_retries_total', 'Rate-limited re-adds (retries) of keys', ['name'])
        .labels(this.name),
      latency: metrics
        .histogram('workqueue_queue_duration_seconds', 'Time a key waits in the queue before a worker takes it', [
          'name',
        ])
        .labels(this.name),
      work: metrics
        .histogram('workqueue_work_duration_seconds', 'Time from a worker taking a key to marking it done', ['name'])
        .labels(this.name),
    };
  }

  /** Queues `key` now, unless it is already queued (dedup) or the queue is shutting down. */
  add(key: string): void {
    if (this.shuttingDown) return;
    this.m.adds.inc();
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.now());
    if (this.processing.has(key)) return;
    this.push(key);
  }

  private push(key: string): void {
    this.queue.push(key);
    this.m.depth.set(this.len());
    const g = this.getters.shift();
    if (g) g();
  }

  /**
   * Queues `key` after `delayMs` milliseconds (<= 0: now). If the key already waits for a delay, the
   * earlier due time wins. Ignored while shutting down.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) return this.add(key);
    const due = this.clock.now() + delayMs;
    const existing = this.waiting.get(key);
    if (existing) {
      if (existing.due <= due) return;
      this.clock.clearTimeout(existing.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { due, timer });
  }

  /**
   * Re-queues `key` after the rate limiter's delay (per-key exponential backoff, overall bucket), or
   * after `minDelayMs` if that is longer (e.g. a server's Retry-After). Returns the delay used (ms).
   */
  addRateLimited(key: string, minDelayMs = 0): number {
    if (this.shuttingDown) return 0;
    const d = Math.max(this.limiter.when(key), minDelayMs);
    this.m.retries.inc();
    this.addAfter(key, d);
    return d;
  }

  /** Clears the rate limiter's failure history of `key`. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Failures recorded for `key` since its last {@link forget}. */
  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /** Number of keys queued and ready (not counting delayed or in-flight keys). */
  len(): number {
    return this.queue.length - this.head;
  }

  /** Number of keys waiting for a delay ({@link addAfter}). */
  delayedLen(): number {
    return this.waiting.size;
  }

  /** Number of keys handed to workers and not yet done. */
  processingLen(): number {
    return this.processing.size;
  }

  /** True once {@link shutDown} was called. */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** True when a delayed re-add of `key` is pending. */
  isDelayed(key: string): boolean {
    return this.waiting.has(key);
  }

  /**
   * Waits for the next key and marks it as processing; the caller must call {@link done} with it.
   * Resolves `undefined` when the queue is shut down and empty, or when `signal` aborts.
   */
  async get(signal?: AbortSignal): Promise<string | undefined> {
    if (signal?.aborted) return undefined;
    while (this.len() === 0) {
      if (this.shuttingDown || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.getters.indexOf(wake);
          if (i >= 0) this.getters.splice(i, 1);
          resolve();
        };
        this.getters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    if (signal?.aborted) return undefined;
    const key = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.m.depth.set(this.len());
    this.processing.add(key);
    this.dirty.delete(key);
    const now = this.clock.now();
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.m.latency.observe((now - added) / 1000);
    this.startedAt.set(key, now);
    return key;
  }

  /** Marks `key` as no longer processing; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    if (started !== undefined) this.m.work.observe((this.clock.now() - started) / 1000);
    if (this.dirty.has(key)) {
      if (this.discarding) this.dirty.delete(key);
      else this.push(key);
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.processing.size === 0 && this.len() === 0 && this.idleWaiters.length) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
    if (this.shuttingDown && this.processing.size === 0 && this.len() === 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  /**
   * Resolves true once no key is queued and none is being processed (at once if that holds now), or
   * false when `signal` aborts first. Delayed keys ({@link addAfter}, backoff retries) do not count:
   * an idle queue may still get keys when their delay ends. The queue keeps running (unlike
   * {@link shutDownWithDrain}); e.g. a one-shot run waits for the writes it queued.
   */
  waitIdle(signal?: AbortSignal): Promise<boolean> {
    if (this.processing.size === 0 && this.len() === 0) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onIdle = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = () => {
        const i = this.idleWaiters.indexOf(onIdle);
        if (i >= 0) this.idleWaiters.splice(i, 1);
        resolve(false);
      };
      this.idleWaiters.push(onIdle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops accepting keys and drops pending delays. Keys already queued are still handed out by
   * {@link get} unless `discardQueued` is set; waiting getters then resolve `undefined`.
   */
  shutDown(opts: { discardQueued?: boolean } = {}): void {
    this.shuttingDown = true;
    for (const w of this.waiting.values()) this.clock.clearTimeout(w.timer);
    this.waiting.clear();
    if (opts.discardQueued) {
      this.discarding = true;
      for (let i = this.head; i < this.queue.length; i++) this.dirty.delete(this.queue[i]!);
      this.queue = [];
      this.head = 0;
      this.m.depth.set(0);
    }
    const gs = this.getters;
    this.getters = [];
    for (const g of gs) g();
    this.checkDrained();
  }

  /**
   * {@link shutDown}, then waits until every queued key was handed out and every handed-out key is
   * done, at most `timeoutMs` (real time). Resolves true when drained, false on timeout.
   */
  async shutDownWithDrain(timeoutMs = 30_000): Promise<boolean> {
    this.shutDown();
    if (this.processing.size === 0 && this.len() === 0) return true;
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(() => {
        const i = this.drainWaiters.indexOf(onDrained);
        if (i >= 0) this.drainWaiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const onDrained = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.drainWaiters.push(onDrained);
    });
  }
}
