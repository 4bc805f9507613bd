import { type Clock, realClock } from './clock.js';
import { type KubeClient, type KubeObject, resourcePath } from './client.js';
import { isNotFound } from './errors.js';
import { microTime } from './leaderelection.js';
import { type Logger, silentLogger } from './logging.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';
import { TokenBucket } from './ratelimit.js';

/** A reference to an object (`core/v1 ObjectReference`), used as an Event's `regarding` / `related`. */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/**
 * Builds an ObjectReference from an object. `apiVersion` and `kind` are taken from the object unless
 * given (objects from LIST responses usually lack them, so pass them for cached objects).
 */
export function objectReference(obj: KubeObject, apiVersion?: string, kind?: string): ObjectReference {
  const ref: ObjectReference = {
    apiVersion: apiVersion ?? obj.apiVersion,
    kind: kind ?? obj.kind,
    name: obj.metadata?.name,
  };
  if (obj.metadata?.namespace) ref.namespace = obj.metadata.namespace;
  if (obj.metadata?.uid) ref.uid = obj.metadata.uid;
  if (obj.metadata?.resourceVersion) ref.resourceVersion = obj.metadata.resourceVersion;
  return ref;
}

/** Event type of `events.k8s.io/v1`. */
export type EventType = 'Normal' | 'Warning';

/** One Event to record. Field limits of events.k8s.io/v1: reason and action <= 128 chars, note <= 1 kB (truncated). */
export interface EventInput {
  /** The object the event is about. */
  regarding: ObjectReference;
  /** A second object involved (optional). */
  related?: ObjectReference;
  type: EventType;
  /** UpperCamelCase reason, e.g. "PDBCreated". */
  reason: string;
  /** What the controller did or failed to do, e.g. "Create", "Delete", "Reconcile". */
  action: string;
  /** Human-readable explanation. */
  note: string;
}

/** What {@link EventAggregator.observe} decides for one occurrence. */
export type AggregationDecision =
  { action: 'create' } | { action: 'patch'; count: number } | { action: 'drop'; count: number };

interface AggEntry {
  firstAt: number;
  lastAt: number;
  lastWriteAt: number;
  count: number;
  name?: string;
}

/**
 * Local dedup of isomorphic events, after client-go's events/v1 broadcaster: occurrences of the same
 * (regarding, related, type, reason, action, note) within `windowMs` of the previous one form a
 * series. The first occurrence creates an Event; a repeat becomes a PATCH of `series.count` when the
 * last write of that series is at least `patchIntervalMs` old, else it is only counted (dropped).
 * After `windowMs` of silence the next occurrence starts a new Event.
 */
export class EventAggregator {
  private entries = new Map<string, AggEntry>();

  /** @param windowMs series window (default 6 min, client-go); @param patchIntervalMs min gap between series patches (default 30 s) */
  constructor(
    readonly windowMs = 6 * 60_000,
    readonly patchIntervalMs = 30_000,
    readonly maxEntries = 4096,
  ) {}

  /** Dedup key of an event. */
  static key(e: EventInput): string {
    const r = (x?: ObjectReference) => (x ? [x.apiVersion, x.kind, x.namespace, x.name, x.uid, x.fieldPath] : null);
    return JSON.stringify([r(e.regarding), r(e.related), e.type, e.reason, e.action, e.note]);
  }

  /** Records one occurrence at `nowMs` and returns what to write. */
  observe(key: string, nowMs: number): AggregationDecision {
    const e = this.entries.get(key);
    if (!e || nowMs - e.lastAt > this.windowMs) {
      if (!e && this.entries.size >= this.maxEntries) this.sweep(nowMs);
      this.entries.set(key, {
        firstAt: nowMs,
        lastAt: nowMs,
        lastWriteAt: nowMs,
        count: 1,
      });
      return { action: 'create' };
    }
    e.count++;
    e.lastAt = nowMs;
    if (nowMs - e.lastWriteAt >= this.patchIntervalMs) {
      e.lastWriteAt = nowMs;
      return { action: 'patch', count: e.count };
    }
    return { action: 'drop', count: e.count };
  }

  /** Remembers the Event name created for a series (needed for later patches). */
  setName(key: string, name: string): void {
    const e = this.entries.get(key);
    if (e) e.name = name;
  }

  /** The Event name of a series, once created. */
  nameOf(key: string): string | undefined {
    return this.entries.get(key)?.name;
  }

  /** Forgets a series (e.g. its Event was deleted: the next occurrence creates a new one). */
  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Number of tracked series. */
  get size(): number {
    return this.entries.size;
  }

  private sweep(nowMs: number): void {
    for (const [k, e] of this.entries) if (nowMs - e.lastAt > this.windowMs) this.entries.delete(k);
    if (this.entries.size >= this.maxEntries) {
      const oldest = [...this.entries.entries()].sort((a, b) => a[1].lastAt - b[1].lastAt);
      for (const [k] of oldest.slice(0, Math.ceil(this.maxEntries / 4))) this.entries.delete(k);
    }
  }
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  client: KubeClient;
  /** `reportingController`, e.g. "kubeaws.io/pdb-controller". */
  reportingController: string;
  /** `reportingInstance`, e.g. the Pod name (<= 128 chars). */
  reportingInstance: string;
  /** Log events instead of writing them. */
  dryRun?: boolean;
  /** Series window (ms); default 6 min. */
  seriesWindowMs?: number;
  /** Minimum gap between series-count patches (ms); default 30 s. */
  seriesPatchIntervalMs?: number;
  /**
   * Spam filter per regarding object (client-go's `EventSourceObjectSpamFilter`): each object may
   * cause at most `burst` Event writes (creates and series patches), refilled at `qps` per second.
   * Default burst 25, qps 1/300 (one more every 5 minutes), as client-go. Both this filter and the
   * budget run on real time (they pace API traffic), not on `clock`.
   */
  spamFilter?: { burst?: number; qps?: number };
  /**
   * Budget of the whole recorder (writes per second, burst): writes beyond it are dropped and counted
   * (`result="dropped"`), never queued, so a storm of Events cannot delay the component. Default
   * 10 / 100. The recorder should have a client of its own (see {@link Manager}) so Events never take
   * the write tokens of the component's objects.
   */
  budget?: { qps?: number; burst?: number };
  clock?: Clock;
  logger?: Logger;
  metrics?: ComponentMetrics;
}

function truncate(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = s.slice(0, max);
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return out + '...';
}

/**
 * Records `events.k8s.io/v1` Events (https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/).
 * Recording never throws and never blocks the caller: writes happen in the background, failures
 * are logged. Repeats are aggregated locally ({@link EventAggregator}); in dry-run mode nothing is
 * written. Metrics: `events_total{type,reason,result}` with result created|patched|dropped|failed|dry_run;
 * `events_in_flight`, the writes accepted by {@link record} and not yet finished (0 once every Event is written).
 * Needs RBAC `events.k8s.io` `events`: create, patch.
 */
export class EventRecorder {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly agg: EventAggregator;
  private inflight = new Set<Promise<void>>();
  private chains = new Map<string, Promise<void>>();
  private seq = 0;
  private readonly m;
  private readonly spam = new Map<string, TokenBucket>();
  private readonly budget: TokenBucket;

  constructor(private readonly opts: EventRecorderOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger ?? silentLogger();
    this.agg = new EventAggregator(opts.seriesWindowMs, opts.seriesPatchIntervalMs);
    this.budget = new TokenBucket(opts.budget?.qps ?? 10, opts.budget?.burst ?? 100, realClock);
    const metrics = opts.metrics ?? detachedMetrics();
    this.m = {
      events: metrics.counter('events_total', 'Kubernetes Events recorded', ['type', 'reason', 'result']),
      inFlight: metrics.gauge('events_in_flight', 'Event writes (creates and series patches) accepted, not yet finished'),
    };
  }

  /** Records a Normal event; returns what {@link record} returns. */
  normal(regarding: ObjectReference, reason: string, action: string, note: string, related?: ObjectReference): boolean {
    return this.record({ regarding, related, type: 'Normal', reason, action, note });
  }

  /** Records a Warning event; returns what {@link record} returns. */
  warning(
    regarding: ObjectReference,
    reason: string,
    action: string,
    note: string,
    related?: ObjectReference,
  ): boolean {
    return this.record({ regarding, related, type: 'Warning', reason, action, note });
  }

  /**
   * Records an event (fire and forget; see the class docs). Returns true when the occurrence was
   * accepted: a create or series patch is under way (its outcome is only logged and counted), or it was
   * logged in dry run. Returns false when it was dropped (`result="dropped"`): a repeat inside the
   * series patch interval, the per-object spam filter or the recorder's budget; a caller that
   * deduplicates on its own (e.g. "once per hour") can then try again later instead of remembering it
   * as sent.
   */
  record(e: EventInput): boolean {
    try {
      const key = EventAggregator.key(e);
      const now = this.clock.now();
      const d = this.agg.observe(key, now);
      const fields = {
        eventType: e.type,
        reason: e.reason,
        regarding: `${e.regarding.kind ?? ''}/${e.regarding.namespace ?? ''}/${e.regarding.name ?? ''}`,
        note: e.note,
      };
      if (this.opts.dryRun) {
        if (d.action === 'create') this.log.info({ ...fields, dryRun: true }, 'event (dry run, not written)');
        this.m.events.inc({
          type: e.type,
          reason: e.reason,
          result: 'dry_run',
        });
        if (d.action === 'create') this.agg.setName(key, 'dry-run');
        return true;
      }
      if (d.action === 'drop' || !this.admit(e.regarding)) {
        if (d.action === 'create') this.agg.reset(key);
        this.m.events.inc({
          type: e.type,
          reason: e.reason,
          result: 'dropped',
        });
        return false;
      }
      const prev = this.chains.get(key) ?? Promise.resolve();
      const p: Promise<void> = prev.then(() => this.write(key, e, d, now, fields));
      this.chains.set(key, p);
      this.inflight.add(p);
      this.m.inFlight.set(this.inflight.size);
      void p.finally(() => {
        this.inflight.delete(p);
        this.m.inFlight.set(this.inflight.size);
        if (this.chains.get(key) === p) this.chains.delete(key);
      });
      return true;
    } catch (err) {
      this.log.error({ err }, 'recording event failed');
      return false;
    }
  }

  private async write(
    key: string,
    e: EventInput,
    d: AggregationDecision,
    now: number,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const ns = e.regarding.namespace || 'default';
    try {
      const existing = this.agg.nameOf(key);
      if (d.action === 'patch' && existing) {
        try {
          await this.opts.client.mergePatch(
            resourcePath({
              group: 'events.k8s.io',
              version: 'v1',
              resource: 'events',
              namespace: ns,
              name: existing,
            }),
            { series: { count: d.count, lastObservedTime: microTime(now) } },
          );
          this.m.events.inc({
            type: e.type,
            reason: e.reason,
            result: 'patched',
          });
          this.log.debug({ ...fields, count: d.count }, 'event repeated (series patched)');
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.agg.reset(key);
          this.agg.observe(key, now);
        }
      }
      if (d.action === 'patch' && !existing) {
        this.agg.reset(key);
        this.agg.observe(key, now);
      }
      const base = truncate(e.regarding.name || 'event', 200);
      const name = `${base}.${(BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
      const body: Record<string, unknown> = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        eventTime: microTime(now),
        reportingController: this.opts.reportingController,
        reportingInstance: truncate(this.opts.reportingInstance, 128),
        action: truncate(e.action, 128),
        reason: truncate(e.reason, 128),
        note: truncate(e.note, 1024),
        type: e.type,
        regarding: e.regarding,
      };
      if (e.related) body.related = e.related;
      await this.opts.client.create(
        resourcePath({
          group: 'events.k8s.io',
          version: 'v1',
          resource: 'events',
          namespace: ns,
        }),
        body,
      );
      this.agg.setName(key, name);
      this.m.events.inc({ type: e.type, reason: e.reason, result: 'created' });
      this.log.debug({ ...fields, event: `${ns}/${name}` }, 'event recorded');
    } catch (err) {
      this.agg.reset(key);
      this.m.events.inc({ type: e.type, reason: e.reason, result: 'failed' });
      this.log.warn({ ...fields, err }, 'failed to write event');
    }
  }

  /** Spam filter per regarding object, then the recorder's budget (see the options). */
  private admit(regarding: ObjectReference): boolean {
    const k = `${regarding.apiVersion ?? ''}/${regarding.kind ?? ''}/${regarding.namespace ?? ''}/${regarding.name ?? ''}/${regarding.uid ?? ''}`;
    let b = this.spam.get(k);
    if (!b) {
      if (this.spam.size >= 4096) this.spam.delete(this.spam.keys().next().value!);
      b = new TokenBucket(this.opts.spamFilter?.qps ?? 1 / 300, this.opts.spamFilter?.burst ?? 25, realClock);
      this.spam.set(k, b);
    }
    if (!b.tryTake()) return false;
    return this.budget.tryTake();
  }

  /** Resolves when every write started so far has finished (for shutdown). */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}
