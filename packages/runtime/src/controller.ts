import { type Clock, realClock } from './clock.js';
import { parseApiPath } from './client.js';
import { ApiError, type ErrorClass, classifyError } from './errors.js';
import { type Logger, silentLogger } from './logging.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';
import type { RateLimiter } from './ratelimit.js';
import { WorkQueue } from './workqueue.js';

/** What a reconcile asks for next. Returning nothing (or `{}`) means "done, forget the backoff". */
export interface ReconcileResult {
  /** Process the key again after this many ms (forgets the backoff first, like controller-runtime). */
  requeueAfter?: number;
  /** Process the key again after the rate limiter's backoff. */
  requeue?: boolean;
}

/** Passed to every reconcile call. */
export interface ReconcileContext {
  /** Aborted when the controller stops (shutdown past the drain deadline, or leadership lost). */
  signal: AbortSignal;
  /** Logger bound to `controller` and `key`. */
  log: Logger;
  /** Failures of this key since its last success (0 on the first attempt). */
  attempt: number;
}

/**
 * The reconcile function: brings the world in line for one key. May return a {@link ReconcileResult}
 * or throw; thrown errors are classified by {@link classifyError} (see {@link Controller}).
 */
export type Reconciler = (
  key: string,
  ctx: ReconcileContext,
) => Promise<ReconcileResult | void> | ReconcileResult | void;

/** Anything whose cache sync the controller waits for before starting workers (e.g. an Informer). */
export interface Syncable {
  hasSynced(): boolean;
  waitForSync(signal?: AbortSignal): Promise<boolean>;
}

/** Options of {@link Controller}. */
export interface ControllerOptions {
  /** Controller name: `controller` metric label, log field and queue name. */
  name: string;
  reconcile: Reconciler;
  /** Concurrent workers; default 1. One key is never processed by two workers at once. */
  workers?: number;
  /** Caches that must be synced before workers start. */
  waitFor?: Syncable[];
  /**
   * Called when a reconcile fails with 400/422 (the API rejected the request as invalid): the key is
   * retried with backoff only (no hot loop); use the hook to emit a Warning Event with `err.message`.
   */
  onInvalid?: (key: string, err: ApiError) => void;
  /** Called for every failed reconcile, after classification. */
  onError?: (key: string, err: unknown, cls: ErrorClass) => void;
  /**
   * Whether a 404 names the key's primary object (then the key is done: the object is gone). Any other
   * 404 (a missing secondary object, e.g. a referenced ConfigMap) is retried with backoff like a
   * server error, so the key is never dropped silently. Default {@link sameObjectAsKey}; the
   * {@link ControllerBuilder} sets it from the `for()` resource.
   */
  isPrimaryNotFound?: (key: string, err: ApiError) => boolean;
  /** 409 Conflicts retried at once before falling back to backoff; default 3. */
  maxImmediateConflictRetries?: number;
  rateLimiter?: RateLimiter;
  clock?: Clock;
  logger?: Logger;
  metrics?: ComponentMetrics;
}

/**
 * The reconcile loop (controller-runtime's controller): a {@link WorkQueue} fed by event handlers
 * through {@link enqueue}, and N workers that call `reconcile(key)`.
 *
 * Outcome handling:
 * - returns nothing: forget the key's backoff (`result="success"`);
 * - `{ requeueAfter: ms }`: forget, then re-add after ms (`result="requeue_after"`);
 * - `{ requeue: true }`: re-add with backoff (`result="requeue"`);
 * - throws (`result="error"`, `reconcile_errors_total{class}`), by {@link ErrorClass}:
 *   `not_found` (404) of the key's primary object ({@link ControllerOptions.isPrimaryNotFound}): done,
 *   counted as success (the object is gone); a 404 of any other object: backoff (class `not_found`);
 *   `terminal` ({@link TerminalError}): logged at error, `onError` hook, key forgotten (no retry);
 *   `conflict` (409): re-added at once, up to `maxImmediateConflictRetries` in a row, then backoff;
 *   `throttled` (429) / `server` (5xx) / `network`: backoff, at least the server's Retry-After;
 *   `invalid` (400/422): `onInvalid` hook, then backoff (exponential, so no hot loop);
 *   `namespace_terminating` (403): dropped (nothing can be written until the namespace is gone);
 *   `not_leader`: re-added without backoff for the next leadership term;
 *   anything else: backoff.
 *
 * Metrics: `reconcile_total{controller,result}`, `reconcile_errors_total{controller,class}`,
 * `reconcile_duration_seconds{controller}`, `controller_active_workers{controller}`, plus the queue's.
 *
 * Keys can be enqueued at any time (also before {@link start} and while not leading: they wait in the
 * deduplicating queue). Workers run between {@link start} and {@link pause} / {@link stop}.
 */
export class Controller {
  readonly name: string;
  /** The controller's work queue. */
  readonly queue: WorkQueue;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly workers: number;
  private conflicts = new Map<string, number>();
  private runAbort?: AbortController;
  private workerLoops: Promise<void>[] = [];
  private running = false;
  private readonly m;

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger()).child({ controller: opts.name });
    this.workers = Math.max(1, opts.workers ?? 1);
    const metrics = opts.metrics ?? detachedMetrics();
    this.queue = new WorkQueue({
      name: opts.name,
      clock: this.clock,
      rateLimiter: opts.rateLimiter,
      metrics,
    });
    this.m = {
      total: metrics.counter(
        'reconcile_total',
        'Reconciles by controller and result (success, error, requeue, requeue_after)',
        ['controller', 'result'],
      ),
      errors: metrics.counter('reconcile_errors_total', 'Failed reconciles by controller and error class', [
        'controller',
        'class',
      ]),
      duration: metrics.histogram('reconcile_duration_seconds', 'Reconcile duration', ['controller']).labels(opts.name),
      active: metrics
        .gauge('controller_active_workers', 'Workers currently reconciling', ['controller'])
        .labels(opts.name),
    };
    for (const r of ['success', 'error', 'requeue', 'requeue_after'])
      this.m.total.inc({ controller: opts.name, result: r }, 0);
  }

  /** Queues a key (deduplicated). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Queues a key after `delayMs` ms (earliest pending delay wins). */
  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /** True while workers run. */
  isRunning(): boolean {
    return this.running;
  }

  /**
   * Waits until every `waitFor` cache has synced, then starts the workers. Resolves once they run
   * (true), or false when `signal` aborted first.
   */
  async start(signal?: AbortSignal): Promise<boolean> {
    if (this.running) return true;
    for (const s of this.opts.waitFor ?? []) {
      if (!s.hasSynced() && !(await s.waitForSync(signal))) return false;
    }
    if (signal?.aborted || this.queue.isShuttingDown()) return false;
    this.running = true;
    const ac = new AbortController();
    this.runAbort = ac;
    this.workerLoops = Array.from({ length: this.workers }, () => this.worker(ac.signal));
    this.log.info({ workers: this.workers }, 'controller workers started');
    return true;
  }

  /**
   * Stops the workers without shutting the queue down (leadership lost): in-flight reconciles see
   * their signal aborted and are awaited (at most `timeoutMs`, default 5000); queued keys stay for the
   * next {@link start}.
   */
  async pause(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.runAbort?.abort();
    await withTimeout(Promise.all(this.workerLoops), timeoutMs);
    this.log.info('controller workers paused');
  }

  /**
   * Shuts down: no new keys are accepted; if workers run, they drain the queue (at most
   * `drainTimeoutMs`, default 30 000), after which in-flight reconciles are aborted. Resolves true when
   * the queue drained completely.
   */
  async stop(drainTimeoutMs = 30_000): Promise<boolean> {
    let drained: boolean;
    if (this.running) {
      drained = await this.queue.shutDownWithDrain(drainTimeoutMs);
    } else {
      this.queue.shutDown({ discardQueued: true });
      drained = true;
    }
    this.running = false;
    this.runAbort?.abort();
    await withTimeout(Promise.all(this.workerLoops), 5000);
    return drained;
  }

  private async worker(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const key = await this.queue.get(signal);
      if (key === undefined) return;
      try {
        await this.process(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string, signal: AbortSignal): Promise<void> {
    const log = this.log.child({ key });
    const t0 = performance.now();
    this.m.active.inc();
    const name = this.name;
    try {
      const res = await this.opts.reconcile(key, {
        signal,
        log,
        attempt: this.queue.numRequeues(key),
      });
      this.conflicts.delete(key);
      if (res && res.requeueAfter !== undefined && res.requeueAfter > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfter);
        this.m.total.inc({ controller: name, result: 'requeue_after' });
      } else if (res && res.requeue) {
        this.queue.addRateLimited(key);
        this.m.total.inc({ controller: name, result: 'requeue' });
      } else {
        this.queue.forget(key);
        this.m.total.inc({ controller: name, result: 'success' });
      }
    } catch (err) {
      this.handleError(key, err, log);
    } finally {
      this.m.active.dec();
      this.m.duration.observe((performance.now() - t0) / 1000);
    }
  }

  private handleError(key: string, err: unknown, log: Logger): void {
    const cls = classifyError(err);
    const name = this.name;
    const primaryGone =
      cls.class === 'not_found' && (this.opts.isPrimaryNotFound ?? sameObjectAsKey)(key, err as ApiError);
    if (primaryGone) {
      this.conflicts.delete(key);
      this.queue.forget(key);
      this.m.total.inc({ controller: name, result: 'success' });
      log.debug({ err }, 'reconcile hit 404; object gone, key done');
      this.callHook(() => this.opts.onError?.(key, err, cls.class));
      return;
    }
    this.m.total.inc({ controller: name, result: 'error' });
    this.m.errors.inc({ controller: name, class: cls.class });
    let retryInMs: number | undefined;
    switch (cls.class) {
      case 'conflict': {
        const n = (this.conflicts.get(key) ?? 0) + 1;
        this.conflicts.set(key, n);
        if (n <= (this.opts.maxImmediateConflictRetries ?? 3)) {
          this.queue.add(key);
          retryInMs = 0;
        } else {
          retryInMs = this.queue.addRateLimited(key);
        }
        break;
      }
      case 'invalid':
        this.callHook(() => this.opts.onInvalid?.(key, err as ApiError));
        retryInMs = this.queue.addRateLimited(key);
        break;
      case 'namespace_terminating':
      case 'terminal':
        this.queue.forget(key);
        break;
      case 'not_leader':
        this.queue.add(key);
        break;
      default:
        retryInMs = this.queue.addRateLimited(key, cls.retryAfterMs ?? 0);
    }
    const level = cls.class === 'conflict' ? 'info' : cls.class === 'terminal' ? 'error' : 'warn';
    log[level]({ err, class: cls.class, statusCode: cls.statusCode, retryInMs }, 'reconcile failed');
    this.callHook(() => this.opts.onError?.(key, err, cls.class));
  }

  private callHook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'controller hook threw');
    }
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  if (t) clearTimeout(t);
}

/**
 * Default {@link ControllerOptions.isPrimaryNotFound}: true when the failed request's path names an
 * object with the key's namespace and name (the last two `/`-separated parts of the key, or its only
 * part for cluster-scoped keys), or when the error carries no path to tell.
 */
export function sameObjectAsKey(key: string, err: ApiError): boolean {
  if (!err.path) return true;
  const target = parseApiPath(err.path);
  if (!target.resource) return true;
  if (target.resource === 'namespaces' && target.name !== undefined) target.namespace = undefined;
  const parts = key.split('/');
  const name = parts[parts.length - 1];
  const namespace = parts.length >= 2 ? parts[parts.length - 2] : undefined;
  return target.name === name && (target.namespace ?? undefined) === (namespace || undefined);
}
