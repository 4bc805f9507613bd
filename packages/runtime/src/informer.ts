import { type Clock, type TimerHandle, realClock, sleep } from './clock.js';
import { type IndexFunc, type ReadonlyStore, Store, objectKey } from './cache.js';
import { type KubeClient, type KubeObject, type WatchEvent, parseApiPath } from './client.js';
import { ApiError, type Status, isGone } from './errors.js';
import { type Logger, silentLogger } from './logging.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';
import { Backoff } from './ratelimit.js';

/**
 * Event handlers of an informer (client-go `ResourceEventHandlerFuncs`). Handlers run synchronously
 * on delivery and must not block; exceptions are logged and swallowed.
 */
export interface EventHandler<T> {
  /** A new object; `isInInitialList` is true for objects of the first list (and for replays to late handlers). */
  onAdd?(obj: T, isInInitialList: boolean): void;
  /** A changed object; periodic resync calls it with `oldObj === newObj`. */
  onUpdate?(oldObj: T, newObj: T): void;
  /**
   * A deleted object. `finalStateUnknown` is true when the deletion was noticed by a relist rather
   * than a watch event (client-go's `DeletedFinalStateUnknown`): `obj` is then the last cached state.
   */
  onDelete?(obj: T, finalStateUnknown: boolean): void;
}

/** Options of {@link Informer}. */
export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  /**
   * Collection path to list and watch, e.g. `/apis/apps/v1/deployments` (all namespaces) or
   * `/api/v1/namespaces/kube-system/configmaps`.
   */
  path: string;
  /** Name used in logs and as the `resource` metric label; default `<resource>.<group>` from the path. */
  name?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** List page size (`limit`); default 500. */
  pageSize?: number;
  /** Re-deliver every cached object as an update this often (ms, from the cache, no API call); 0 = off (default). */
  resyncPeriodMs?: number;
  /**
   * A watch that delivers nothing (no event, not even a bookmark) for this long (ms) is restarted.
   * Default 180 000 (kube-apiserver sends bookmarks about once a minute). The informer counts as
   * stalled for `/healthz` when its loop made no progress for twice this time.
   */
  watchdogMs?: number;
  /** Server-side watch timeout: uniform in [min, 2*min) seconds, like client-go's reflector; default 300. */
  minWatchTimeoutSeconds?: number;
  /** Restart backoff: jittered exponential from `initialMs` (default 800) to `maxMs` (default 30 000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Applied to every object before it is cached and delivered (e.g. {@link dropManagedFields}). */
  transform?: (obj: T) => T;
  /** Custom indexes (the namespace index is built in). */
  indexers?: Record<string, IndexFunc<T>>;
  /**
   * Drives the resync period only. Backoff, the watchdog and stall detection always use real time:
   * they pace network I/O, which a fake clock would freeze.
   */
  clock?: Clock;
  logger?: Logger;
  metrics?: ComponentMetrics;
}

/** Transform that removes `metadata.managedFields` (saves memory in large caches). */
export function dropManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

class WatchStalled extends Error {}

/**
 * A shared informer for one list/watch path, following client-go's reflector + shared informer:
 *
 * - initial paginated LIST (`limit` 500, `continue` tokens, consistent read) fills an indexed cache,
 *   then WATCH from the list's resourceVersion with `allowWatchBookmarks=true`, tracking the latest
 *   resourceVersion from events and bookmarks;
 * - a watch that ends normally is reopened at once from the last resourceVersion; on HTTP 410 Gone or
 *   an ERROR event with code 410 (resourceVersion compacted) it relists, delivering adds, updates
 *   (only objects whose resourceVersion changed) and deletes (`finalStateUnknown`) for the
 *   difference; any other failure restarts after jittered exponential backoff (0.8 s -> 30 s);
 * - a watchdog restarts a watch silent for `watchdogMs`;
 * - optional periodic resync re-delivers cached objects as updates without API calls.
 *
 * Metrics (label `resource`): `informer_list_requests_total`, `informer_relists_total`,
 * `informer_watch_restarts_total{reason}`, `informer_synced`, `informer_objects`,
 * `informer_watch_events_total{type}`.
 */
export class Informer<T extends KubeObject = KubeObject> {
  /** Name used in logs and metrics. */
  readonly name: string;
  /** Collection path listed and watched, e.g. `/apis/apps/v1/deployments`. */
  readonly path: string;
  private readonly store: Store<T>;
  private readonly handlers: EventHandler<T>[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly watchdogMs: number;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private rv = '';
  private abort?: AbortController;
  private loop?: Promise<void>;
  private resyncTimer?: TimerHandle;
  private lastProgress = 0;
  private running = false;
  private listedOnce = false;
  private lastErr: unknown;
  private readonly m;

  constructor(private readonly opts: InformerOptions<T>) {
    const ref = parseApiPath(opts.path);
    this.name = opts.name ?? (ref.group ? `${ref.resource}.${ref.group}` : ref.resource);
    this.path = opts.path;
    this.store = new Store<T>(opts.indexers);
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger()).child({ informer: this.name });
    this.backoff = new Backoff(
      {
        initialMs: opts.backoff?.initialMs ?? 800,
        maxMs: opts.backoff?.maxMs ?? 30_000,
        factor: 2,
        jitter: 1,
        resetAfterMs: 120_000,
      },
      realClock,
    );
    this.watchdogMs = opts.watchdogMs ?? 180_000;
    const metrics = opts.metrics ?? detachedMetrics();
    const l = { resource: this.name };
    this.m = {
      lists: metrics
        .counter('informer_list_requests_total', 'LIST requests (pages) made by informers', ['resource'])
        .labels(l),
      relists: metrics
        .counter('informer_relists_total', 'Full relists after the first (410 Gone, restarts)', ['resource'])
        .labels(l),
      restarts: metrics.counter('informer_watch_restarts_total', 'Watch restarts by reason', ['resource', 'reason']),
      synced: metrics.gauge('informer_synced', '1 once the informer cache has synced', ['resource']).labels(l),
      objects: metrics.gauge('informer_objects', 'Objects in the informer cache', ['resource']).labels(l),
      events: metrics.counter('informer_watch_events_total', 'Watch events received', ['resource', 'type']),
    };
    this.m.synced.set(0);
  }

  /** The indexed cache (read-only). */
  get cache(): ReadonlyStore<T> {
    return this.store;
  }

  /**
   * The error of the last failed list or watch attempt, cleared by the next successful list or watch
   * connection (e.g. an ApiError 403/404 when the resource is forbidden or its CRD is missing).
   */
  get lastError(): unknown {
    return this.lastErr;
  }

  /** Last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.rv;
  }

  /**
   * Registers handlers. Objects already cached are replayed to them as adds (`isInInitialList`
   * true), as client-go does for handlers added to a running informer. Returns an unregister function.
   */
  addEventHandler(h: EventHandler<T>): () => void {
    this.handlers.push(h);
    if (this.store.size > 0) for (const o of this.store.list()) this.call(h, 'onAdd', o, true);
    return () => {
      const i = this.handlers.indexOf(h);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** True once the first full list has been stored and delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false when `signal` aborts (or `timeoutMs` real ms pass) first. */
  waitForSync(signal?: AbortSignal, timeoutMs?: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = (v: boolean) => {
        if (t) clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        const i = this.syncWaiters.indexOf(onSync);
        if (i >= 0) this.syncWaiters.splice(i, 1);
        resolve(v);
      };
      const onSync = () => done(true);
      const onAbort = () => done(false);
      this.syncWaiters.push(onSync);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) t = setTimeout(() => done(false), timeoutMs);
    });
  }

  /**
   * True when the list/watch loop has made no progress (no successful list, no watch event, no
   * connection attempt) for twice the watchdog period while running: the loop itself is stuck.
   */
  isStalled(): boolean {
    return this.running && realClock.now() - this.lastProgress > 2 * this.watchdogMs;
  }

  /** Starts the list/watch loop (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.lastProgress = realClock.now();
    this.loop = this.run(this.abort.signal);
    this.scheduleResync();
  }

  /** Stops the loop and closes the watch; the cache keeps its content. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort?.abort();
    this.clock.clearTimeout(this.resyncTimer);
    await this.loop;
  }

  private progress(): void {
    this.lastProgress = realClock.now();
  }

  private scheduleResync(): void {
    const p = this.opts.resyncPeriodMs ?? 0;
    if (!(p > 0)) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (!this.running) return;
      if (this.synced) {
        for (const o of this.store.list()) this.emit('onUpdate', o, o);
      }
      this.scheduleResync();
    }, p);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          if (this.listedOnce) this.m.relists.inc();
          await this.listAndReplace(signal);
          this.listedOnce = true;
          needList = false;
          if (signal.aborted) break;
        }
        await this.watchOnce(signal);
        // server closed the watch normally (timeoutSeconds): reopen at once from the last RV
      } catch (err) {
        if (signal.aborted) break;
        this.progress();
        if (err instanceof WatchStalled) {
          this.m.restarts.inc({ resource: this.name, reason: 'stalled' });
          this.log.warn(
            { watchdogMs: this.watchdogMs, resourceVersion: this.rv },
            'watch delivered nothing within the watchdog period; restarting',
          );
          continue;
        }
        if (isGone(err)) {
          this.m.restarts.inc({ resource: this.name, reason: 'gone' });
          this.log.info({ resourceVersion: this.rv }, 'resourceVersion too old (410 Gone); relisting');
          needList = true;
          continue;
        }
        this.lastErr = err;
        const delay = this.backoff.next();
        this.m.restarts.inc({ resource: this.name, reason: 'error' });
        this.log.warn({ err, delayMs: delay, listing: needList }, 'list/watch failed; retrying after backoff');
        await sleep(realClock, delay, signal);
      }
    }
  }

  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      this.m.lists.inc();
      const page = await this.opts.client.list<T>(this.opts.path, {
        limit: this.opts.pageSize ?? 500,
        continue: cont,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        signal,
      });
      this.progress();
      for (const raw of page.items ?? []) {
        const o = this.transform(raw);
        fresh.set(objectKey(o), o);
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont && !signal.aborted);
    if (signal.aborted) return;
    const initial = !this.synced;
    for (const key of this.store.keys()) {
      if (!fresh.has(key)) {
        const old = this.store.delete(key)!;
        this.emit('onDelete', old, true);
      }
    }
    for (const [, o] of fresh) {
      const old = this.store.upsert(o);
      if (!old) this.emit('onAdd', o, initial);
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) this.emit('onUpdate', old, o);
    }
    this.rv = rv;
    this.m.objects.set(this.store.size);
    this.backoff.reset();
    this.lastErr = undefined;
    if (!this.synced) {
      this.synced = true;
      this.m.synced.set(1);
      this.log.info({ objects: this.store.size, resourceVersion: rv }, 'informer synced');
      const ws = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of ws) w();
    }
  }

  private transform(o: T): T {
    return this.opts.transform ? this.opts.transform(o) : o;
  }

  private async watchOnce(outer: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onOuter = () => ac.abort();
    outer.addEventListener('abort', onOuter, { once: true });
    let stalled = false;
    let eventError: Error | undefined;
    let dog: TimerHandle | undefined;
    const arm = () => {
      realClock.clearTimeout(dog);
      dog = realClock.setTimeout(() => {
        stalled = true;
        ac.abort();
      }, this.watchdogMs);
    };
    const min = this.opts.minWatchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(min * (1 + Math.random()));
    try {
      arm();
      await this.opts.client.watch<T>(
        this.opts.path,
        {
          resourceVersion: this.rv || undefined,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (ev) => {
          if (eventError) return;
          arm();
          this.progress();
          try {
            this.handleEvent(ev);
          } catch (e) {
            eventError = e as Error;
            ac.abort();
          }
        },
        ac.signal,
        () => {
          arm();
          this.progress();
          this.backoff.reset();
          this.lastErr = undefined;
        },
      );
    } finally {
      realClock.clearTimeout(dog);
      outer.removeEventListener('abort', onOuter);
    }
    if (eventError) throw eventError;
    if (stalled && !outer.aborted) throw new WatchStalled('watch stalled');
  }

  private handleEvent(ev: WatchEvent<T>): void {
    this.m.events.inc({ resource: this.name, type: ev.type });
    if (ev.type === 'ERROR') {
      const st = ev.object as Status;
      const code = st?.code ?? 500;
      throw new ApiError(
        code,
        st?.reason ?? (code === 410 ? 'Expired' : 'WatchError'),
        st?.message ?? `watch error ${code}`,
        undefined,
        st,
      );
    }
    const obj = ev.object as T;
    const rv = obj?.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (rv) this.rv = rv;
      return;
    }
    const o = this.transform(obj);
    const key = objectKey(o);
    if (ev.type === 'DELETED') {
      const old = this.store.delete(key);
      this.emit('onDelete', o ?? old, false);
    } else {
      const old = this.store.upsert(o);
      if (old) this.emit('onUpdate', old, o);
      else this.emit('onAdd', o, false);
    }
    if (rv) this.rv = rv;
    this.m.objects.set(this.store.size);
  }

  private emit(kind: 'onAdd', obj: T, initial: boolean): void;
  private emit(kind: 'onUpdate', oldObj: T, newObj: T): void;
  private emit(kind: 'onDelete', obj: T, unknown: boolean): void;
  private emit(kind: keyof EventHandler<T>, a: T, b: T | boolean): void {
    for (const h of this.handlers) this.call(h, kind, a, b);
  }

  private call(h: EventHandler<T>, kind: keyof EventHandler<T>, a: T, b: T | boolean): void {
    try {
      const fn = h[kind] as ((x: T, y: T | boolean) => void) | undefined;
      fn?.call(h, a, b);
    } catch (err) {
      this.log.error({ err, handler: kind }, 'informer event handler threw');
    }
  }
}
