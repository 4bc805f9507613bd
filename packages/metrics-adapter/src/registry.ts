/**
 * Sources, subscriptions and the values they hold (docs/metrics-adapter.md#ma-sources, #ma-freshness,
 * #ma-serving). One source per distinct backend key, reference-counted by the HPA metrics that use it; each
 * source polls on its own schedule (jitter only lengthens the wait, exponential backoff on failure, never
 * overlapping, missed ticks never caught up). Values are checked for staleness when read. Serving answers
 * from memory only: no backend I/O on the request path.
 */
import { createHash } from 'node:crypto';
import type { Clock, LabelRequirement, Labels, TimerHandle } from '@kubeaws/runtime';
import { type ConfigError, type JsonPathConfig, type MetricSpec, type ObjectRef, type ParsedHpa } from './grammar';
import { aggregate, evalJsonEval, numbersAt, parseJsonEval } from './jsoneval';
import { formatQuantity } from './quantity';
import { canonicalRequirements, matchesRequirements } from './selector';

/** Named causes of a missing value (docs/metrics-adapter.md#ma-causes). */
export type MissingCause =
  | 'MetricNotConfigured'
  | 'InvalidMetricConfig'
  | 'NotYetCollected'
  | 'CollectionFailed'
  | 'MetricStale'
  | 'NoData'
  | 'NoPodsMatched'
  | 'UnsupportedScope';

/** Causes of failed collections (docs/metrics-adapter.md#ma-bad-input, collection rows). */
export type CollectCause =
  | 'QueueNotFound'
  | 'AccessDenied'
  | 'CredentialsError'
  | 'PrometheusQueryError'
  | 'MultipleSeries'
  | 'AggregatorRequired'
  | 'BackendUnavailable'
  | 'Throttled'
  | 'NoData'
  | 'PodScrapeFailed'
  | 'ScaleTargetNotFound'
  | 'InvalidResponse'
  | 'Internal';

/** A failed poll. `reason` is the closed label set of `collector_errors_total`; `transient` errors wait for the threshold. */
export class CollectError extends Error {
  constructor(
    override readonly cause: CollectCause,
    message: string,
    readonly reason: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** One pod's scraped document (json-path sources). */
export interface PodDoc {
  name: string;
  labels: Labels;
  doc: unknown;
}

/** What a source's poll returns. */
export type SourceResult =
  | { kind: 'sqs'; attributes: Record<string, number> }
  | { kind: 'prometheus'; value: number }
  | { kind: 'pods'; pods: PodDoc[]; selector: string };

/** A source as the collectors see it. */
export interface SourceInfo {
  key: string;
  namespace: string;
  spec: MetricSpec;
  /** SQS: the union of attribute names the subscribers need. */
  attributes: string[];
  intervalMs: number;
}

/** The backend I/O, injected (collectors.ts in production, fakes in tests). */
export type Collect = (source: SourceInfo, signal: AbortSignal) => Promise<SourceResult>;

/** Options of {@link Registry}. */
export interface RegistryOptions {
  clock: Clock;
  collect: Collect;
  /** `--max-staleness-factor`. */
  stalenessFactor: number;
  /** `--collection-jitter`, a fraction of the interval. */
  jitter: number;
  /** `--max-backoff`, ms. */
  maxBackoffMs: number;
  /** Uniform [0,1); default Math.random. */
  random?: () => number;
  /** `status.replicas` of a workload (per-replica), undefined when unknown. */
  replicasOf?: (namespace: string, target: ObjectRef) => number | undefined;
  /** Called after each poll (metrics, logs, Events). */
  onPoll?: (source: SourceState, error: CollectError | undefined, durationMs: number) => void;
  /** Called after pending HPA changes were applied, with the conflict errors before and after (Events, gauges). */
  onRebuild?: (before: ReadonlyMap<string, ConfigError[]>, after: ReadonlyMap<string, ConfigError[]>) => void;
}

/** The state of one source. Times in ms since the epoch. */
export interface SourceState {
  info: SourceInfo;
  subscribers: Set<string>;
  startedAt: number;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  collectedAt?: number;
  lastError?: CollectError;
  consecutiveFailures: number;
  result?: SourceResult;
  polling: boolean;
  timer?: TimerHandle;
  abort?: AbortController;
  polls: number;
}

/** The HPA identity a subscription belongs to. */
export interface HpaMeta {
  namespace: string;
  name: string;
  uid?: string;
  creationTimestamp?: string;
}

interface Subscription {
  id: string;
  hpaKey: string;
  hpa: HpaMeta;
  spec: MetricSpec;
  sourceKey: string;
  identity: string;
  /** Source and extraction: subscriptions with equal keys serve equal pods items. */
  servingKey: string;
}

/** One served item, before serialisation. `timestamp` is when the backend answered (ms). */
export interface ServedItem {
  value: string;
  timestamp: number;
  pod?: string;
  describedObject?: ObjectRef;
  selector: MetricSpec['selector'];
  labels: Record<string, string>;
}

/** The answer for one metric request. */
export type ServeResult =
  | { ok: true; items: ServedItem[] }
  | { ok: false; code: 400 | 404; cause: MissingCause | 'BadRequest'; message: string };

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** The deduplication key of a spec's backend source (docs/metrics-adapter.md#ma-sources). */
export function sourceKey(namespace: string, spec: MetricSpec): string {
  const c = spec.config;
  switch (c.collector) {
    case 'sqs-queue-length':
      return JSON.stringify(['sqs', c.region, c.queueUrl ?? '', c.queueName ?? '']);
    case 'prometheus':
      return JSON.stringify(['prometheus', c.server, c.query]);
    case 'json-path':
      return JSON.stringify(['json-path', namespace, spec.scaleTarget.kind, spec.scaleTarget.name, c.scheme, c.port, c.path,
        c.rawQuery ?? '', c.connectTimeoutMs, c.requestTimeoutMs, c.minPodReadyAgeMs]);
  }
}

/** A short hash of a source key, for logs. */
export function sourceHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 10);
}

/** SQS attribute names a subscription needs. */
export function sqsAttributes(spec: MetricSpec): string[] {
  if (spec.config.collector !== 'sqs-queue-length') return [];
  return [
    'ApproximateNumberOfMessages',
    ...(spec.config.includeInFlight ? ['ApproximateNumberOfMessagesNotVisible'] : []),
    ...(spec.config.includeDelayed ? ['ApproximateNumberOfMessagesDelayed'] : []),
  ];
}

function identityOf(namespace: string, spec: MetricSpec): string {
  return JSON.stringify([namespace, spec.type, spec.name, spec.selectorKey,
    spec.describedResource ?? '', spec.describedObject?.name ?? '',
    spec.type === 'pods' ? `${spec.scaleTarget.kind}/${spec.scaleTarget.name}` : '']);
}

function definitionOf(spec: MetricSpec): string {
  return JSON.stringify(spec.config);
}

/**
 * The in-memory registry of subscriptions and sources. Not thread-safe by design (one event loop).
 */
export class Registry {
  private readonly hpas = new Map<string, { meta: HpaMeta; parsed: ParsedHpa }>();
  private subs = new Map<string, Subscription>();
  /** Subscriptions by `namespace|type|metric`: the serving index. */
  private byMetric = new Map<string, Subscription[]>();
  private readonly sourceStates = new Map<string, SourceState>();
  private conflictErrors = new Map<string, ConfigError[]>();
  /** Set by setHpa/deleteHpa; the next read rebuilds once (a full informer list costs one rebuild, not N). */
  private dirty = false;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly opts: RegistryOptions) {
    this.random = opts.random ?? Math.random;
  }

  /** Sets (or replaces) an HPA's parsed configuration and applies the difference to the sources. */
  setHpa(key: string, meta: HpaMeta, parsed: ParsedHpa): void {
    this.hpas.set(key, { meta, parsed });
    this.markDirty();
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    // apply soon even when nobody reads, so that new sources start polling
    queueMicrotask(() => this.flush());
  }

  /** Applies pending HPA changes (diffing subscriptions and sources) now. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.rebuild();
  }

  /** Sources by key (after pending changes are applied). */
  get sources(): ReadonlyMap<string, SourceState> {
    this.flush();
    return this.sourceStates;
  }

  /** Per HPA key: ConflictingMetricDefinition errors (after pending changes are applied). */
  get conflicts(): ReadonlyMap<string, ConfigError[]> {
    this.flush();
    return this.conflictErrors;
  }

  /** Removes an HPA: its series disappear at once; sources without subscribers stop. */
  deleteHpa(key: string): void {
    if (this.hpas.delete(key)) this.markDirty();
  }

  /** Configuration errors of an HPA (grammar and conflicts). */
  errorsOf(key: string): ConfigError[] {
    return [...(this.hpas.get(key)?.parsed.errors ?? []), ...(this.conflicts.get(key) ?? [])];
  }

  /** The subscriptions of a source: HPA key and meta, metric type and name. */
  subscribersOf(sourceKey: string): Array<{ hpaKey: string; hpa: HpaMeta; spec: MetricSpec }> {
    this.flush();
    return [...this.subs.values()].filter((s) => s.sourceKey === sourceKey).map((s) => ({ hpaKey: s.hpaKey, hpa: s.hpa, spec: s.spec }));
  }

  /** Every HPA key with its meta and errors. */
  hpaEntries(): Array<{ key: string; meta: HpaMeta; specs: number; errors: ConfigError[] }> {
    return [...this.hpas].map(([key, h]) => ({ key, meta: h.meta, specs: h.parsed.specs.length, errors: this.errorsOf(key) }));
  }

  private rebuild(): void {
    // Oldest HPA first (creationTimestamp, then name): the winner of conflicting definitions.
    const ordered = [...this.hpas].sort(
      ([ka, a], [kb, b]) => (a.meta.creationTimestamp ?? '').localeCompare(b.meta.creationTimestamp ?? '') || ka.localeCompare(kb),
    );
    const subs = new Map<string, Subscription>();
    const byIdentity = new Map<string, Subscription>();
    const conflicts = new Map<string, ConfigError[]>();
    for (const [hpaKey, h] of ordered) {
      for (const spec of h.parsed.specs) {
        const identity = identityOf(h.meta.namespace, spec);
        const sub: Subscription = {
          id: `${hpaKey}#${spec.index}`,
          hpaKey,
          hpa: h.meta,
          spec,
          sourceKey: sourceKey(h.meta.namespace, spec),
          identity,
          servingKey: '',
        };
        const c = spec.config;
        sub.servingKey = c.collector === 'json-path' ? `${sub.sourceKey}|${c.jsonKey ?? ''}|${c.jsonEval ?? ''}|${c.aggregator ?? ''}` : sub.sourceKey;
        const winner = byIdentity.get(identity);
        if (winner && definitionOf(winner.spec) !== definitionOf(spec)) {
          const metric = `${spec.type}/${spec.name}`;
          const mk = (other: HpaMeta, field: string): ConfigError => ({
            metric, cause: 'ConflictingMetricDefinition', field, warning: false,
            message: `HPA ${other.namespace}/${other.name} defines the same series (${metric} with selector "${spec.selectorKey}") differently; the older HPA ${winner.hpa.namespace}/${winner.hpa.name} wins`,
          });
          const field = `spec.metrics[${spec.index}]`;
          conflicts.set(hpaKey, [...(conflicts.get(hpaKey) ?? []), mk(winner.hpa, field)]);
          conflicts.set(winner.hpaKey, [...(conflicts.get(winner.hpaKey) ?? []).filter((e) => e.metric !== metric || !e.message.includes(`${h.meta.namespace}/${h.meta.name} `)),
            mk(h.meta, `spec.metrics[${winner.spec.index}]`)]);
          continue;
        }
        if (!winner) byIdentity.set(identity, sub);
        subs.set(sub.id, sub);
      }
    }
    const before = this.conflictErrors;
    this.subs = subs;
    this.conflictErrors = conflicts;
    const byMetric = new Map<string, Subscription[]>();
    for (const sub of subs.values()) {
      const k = `${sub.hpa.namespace}|${sub.spec.type}|${sub.spec.name}`;
      const list = byMetric.get(k);
      if (list) list.push(sub);
      else byMetric.set(k, [sub]);
    }
    this.byMetric = byMetric;
    // Diff sources.
    const wanted = new Map<string, Subscription[]>();
    for (const s of subs.values()) wanted.set(s.sourceKey, [...(wanted.get(s.sourceKey) ?? []), s]);
    for (const [key, st] of this.sourceStates)
      if (!wanted.has(key)) {
        this.opts.clock.clearTimeout(st.timer);
        st.abort?.abort(new Error('source removed'));
        this.sourceStates.delete(key);
      }
    for (const [key, list] of wanted) {
      const intervalMs = Math.min(...list.map((s) => s.spec.intervalMs));
      const attributes = [...new Set(list.flatMap((s) => sqsAttributes(s.spec)))].sort();
      const info: SourceInfo = { key, namespace: list[0]!.hpa.namespace, spec: list[0]!.spec, attributes, intervalMs };
      const st = this.sourceStates.get(key);
      if (st) {
        const sooner = intervalMs < st.info.intervalMs;
        st.info = info;
        st.subscribers = new Set(list.map((s) => s.id));
        if (sooner && !st.polling) this.schedule(st, Math.max(0, (st.lastAttemptAt ?? 0) + intervalMs - this.opts.clock.now()));
      } else if (!this.stopped) {
        const ns: SourceState = { info, subscribers: new Set(list.map((s) => s.id)), startedAt: this.opts.clock.now(), consecutiveFailures: 0, polling: false, polls: 0 };
        this.sourceStates.set(key, ns);
        this.schedule(ns, 0);
      }
    }
    try {
      this.opts.onRebuild?.(before, conflicts);
    } catch {
      // observers never break reconciliation
    }
  }

  private schedule(st: SourceState, ms: number): void {
    this.opts.clock.clearTimeout(st.timer);
    st.timer = this.opts.clock.setTimeout(() => void this.poll(st), ms);
  }

  /** The wait before the next poll (docs/metrics-adapter.md#ma-freshness): never shorter than the interval. */
  nextDelay(st: SourceState): number {
    const base = st.consecutiveFailures === 0
      ? st.info.intervalMs
      : Math.min(st.info.intervalMs * 2 ** (st.consecutiveFailures - 1), Math.max(this.opts.maxBackoffMs, st.info.intervalMs));
    return base + st.info.intervalMs * this.opts.jitter * this.random();
  }

  private async poll(st: SourceState): Promise<void> {
    if (st.polling || this.stopped || this.sourceStates.get(st.info.key) !== st) return;
    st.polling = true;
    const start = this.opts.clock.now();
    st.lastAttemptAt = start;
    st.polls++;
    const abort = new AbortController();
    st.abort = abort;
    let error: CollectError | undefined;
    try {
      const result = await this.opts.collect(st.info, abort.signal);
      st.result = result;
      st.collectedAt = this.opts.clock.now();
      st.lastSuccessAt = st.collectedAt;
      st.consecutiveFailures = 0;
      st.lastError = undefined;
    } catch (e) {
      error = e instanceof CollectError ? e : new CollectError('Internal', (e as Error)?.message ?? String(e), 'internal', true);
      st.lastError = error;
      st.consecutiveFailures++;
    } finally {
      st.polling = false;
      st.abort = undefined;
    }
    const durationMs = this.opts.clock.now() - start;
    try {
      this.opts.onPoll?.(st, error, durationMs);
    } catch {
      // observers never break polling
    }
    if (this.sourceStates.get(st.info.key) !== st || this.stopped) return;
    // next poll is due at start + delay; a slow poll never causes a catch-up burst
    this.schedule(st, Math.max(0, start + this.nextDelay(st) - this.opts.clock.now()));
  }

  /** Stops every source (timers cleared, in-flight polls aborted). */
  stop(): void {
    this.flush();
    this.stopped = true;
    for (const st of this.sourceStates.values()) {
      this.opts.clock.clearTimeout(st.timer);
      st.abort?.abort(new Error('stopping'));
    }
  }

  /** True when every source finished its first poll. */
  allPolledOnce(): boolean {
    return [...this.sources.values()].every((s) => s.lastAttemptAt !== undefined && !(s.polls === 1 && s.polling));
  }

  /** Distinct entries for the discovery documents: custom `<resource>/<metric>` and external `<metric>`. */
  discovery(): { custom: Array<{ name: string; namespaced: boolean }>; external: string[] } {
    this.flush();
    const custom = new Map<string, boolean>();
    const external = new Set<string>();
    for (const s of this.subs.values()) {
      if (s.spec.type === 'external') external.add(s.spec.name);
      else if (s.spec.type === 'pods') custom.set(`pods/${s.spec.name}`, true);
      else if (s.spec.describedResource === 'namespaces') custom.set(`namespaces/${s.spec.name}`, false);
      else custom.set(`${s.spec.describedResource}/${s.spec.name}`, true);
    }
    return {
      custom: [...custom].map(([name, namespaced]) => ({ name, namespaced })).sort((a, b) => a.name.localeCompare(b.name)),
      external: [...external].sort(),
    };
  }

  /** The freshness verdict of a source; undefined when a value may be served. */
  private freshness(st: SourceState, metricDesc: string): ServeResult | undefined {
    const now = this.opts.clock.now();
    const maxAge = this.opts.stalenessFactor * st.info.intervalMs;
    const fail = (cause: MissingCause, message: string): ServeResult => ({ ok: false, code: 404, cause, message: `${metricDesc}: ${message}` });
    if (st.collectedAt === undefined) {
      if (st.lastError) return fail('CollectionFailed', `${st.lastError.message}; last attempt ${iso(st.lastAttemptAt!)}`);
      return fail('NotYetCollected', `no value collected yet (collector started ${iso(st.startedAt)})`);
    }
    if (now - st.collectedAt > maxAge)
      return fail('MetricStale', `value is stale: last success ${iso(st.collectedAt)} (max age ${Math.round(maxAge / 1000)}s); last error: ${st.lastError?.message ?? 'none'}`);
    return undefined;
  }

  private notConfigured(ns: string, type: string, metric: string, desc: string, selectorText: string): ServeResult {
    for (const h of this.hpas.values()) {
      if (h.meta.namespace !== ns) continue;
      const e = [...h.parsed.errors, ...(this.conflicts.get(`${h.meta.namespace}/${h.meta.name}`) ?? [])]
        .find((x) => !x.warning && x.metric === `${type}/${metric}`);
      if (e)
        return { ok: false, code: 404, cause: 'InvalidMetricConfig', message: `${desc}: metric "${metric}" of HPA ${ns}/${h.meta.name} is not collected: ${e.message} (cause ${e.cause}; field ${e.field})` };
    }
    return { ok: false, code: 404, cause: 'MetricNotConfigured', message: `${desc}: no HPA in namespace ${ns} configures ${type} metric "${metric}"${selectorText ? ` with selector ${selectorText}` : ''}` };
  }

  /** External metric (docs/metrics-adapter.md#ma-serving): exact selector match, else every series the selector matches. */
  external(ns: string, metric: string, selector: readonly LabelRequirement[]): ServeResult {
    const desc = `external metric "${metric}" in namespace ${ns}`;
    const key = canonicalRequirements(selector);
    this.flush();
    const candidates = this.byMetric.get(`${ns}|external|${metric}`) ?? [];
    const exact = candidates.filter((s) => s.spec.selectorKey === key);
    const chosen = exact.length
      ? exact.slice(0, 1)
      : candidates.filter((s) => matchesRequirements(selector, s.spec.selector?.matchLabels ?? {}));
    if (!chosen.length) return this.notConfigured(ns, 'external', metric, desc, key);
    const seen = new Set<string>();
    const items: ServedItem[] = [];
    let failure: ServeResult | undefined;
    for (const s of chosen) {
      const labels = s.spec.selector?.matchLabels ?? {};
      const dedupe = JSON.stringify([s.sourceKey, Object.entries(labels).sort()]);
      if (seen.has(dedupe)) continue;
      seen.add(dedupe);
      const r = this.valueOf(s, desc);
      if (!r.ok) {
        failure ??= r;
        continue;
      }
      items.push(...r.items.map((i) => ({ ...i, labels: { ...labels } })));
    }
    if (!items.length) return failure!;
    items.sort((a, b) => JSON.stringify(Object.entries(a.labels).sort()).localeCompare(JSON.stringify(Object.entries(b.labels).sort())));
    return { ok: true, items };
  }

  /** Object metric: exactly one item. `resource` is `plural[.group]`. */
  object(ns: string, resource: string, name: string, metric: string, selector: readonly LabelRequirement[]): ServeResult {
    const key = canonicalRequirements(selector);
    const desc = `the server could not find the metric ${metric} for ${resource} ${name}`;
    this.flush();
    const candidates = (this.byMetric.get(`${ns}|object|${metric}`) ?? []).filter(
      (s) =>
        (resource === 'namespaces' ? s.spec.describedResource === 'namespaces' : s.spec.describedResource === resource && s.spec.describedObject!.name === name),
    );
    const exact = candidates.filter((s) => s.spec.selectorKey === key);
    const chosen = exact.length ? exact : candidates.filter((s) => matchesRequirements(selector, s.spec.selector?.matchLabels ?? {}));
    if (!chosen.length) {
      const r = this.notConfigured(ns, 'object', metric, desc, key);
      return r.ok === false && r.cause === 'MetricNotConfigured' ? { ...r, message: desc } : r;
    }
    if (chosen.length > 1 && new Set(chosen.map((c) => c.identity)).size > 1)
      return { ok: false, code: 400, cause: 'BadRequest', message: `several series of ${resource} ${name} match; give metricLabelSelector` };
    return this.valueOf(chosen[0]!, `object metric "${metric}" of ${resource} ${ns}/${name}`);
  }

  /** Pods metric: one item per eligible pod matching `podSelector`, sorted by pod name. */
  pods(ns: string, metric: string, metricSelector: readonly LabelRequirement[], podSelector: readonly LabelRequirement[]): ServeResult {
    const key = canonicalRequirements(metricSelector);
    const desc = `pods metric "${metric}" in namespace ${ns}`;
    this.flush();
    const candidates = (this.byMetric.get(`${ns}|pods|${metric}`) ?? []).filter((s) => s.spec.selectorKey === key);
    if (!candidates.length) return this.notConfigured(ns, 'pods', metric, desc, key);
    const byPod = new Map<string, ServedItem>();
    let failure: ServeResult | undefined;
    const seen = new Set<string>();
    for (const s of candidates) {
      // subscriptions reading one source the same way give the same items: evaluate each once
      if (seen.has(s.servingKey)) continue;
      seen.add(s.servingKey);
      const r = this.valueOf(s, desc, podSelector);
      if (!r.ok) {
        failure ??= r;
        continue;
      }
      for (const i of r.items) if (!byPod.has(i.pod!)) byPod.set(i.pod!, i);
    }
    if (!byPod.size) return failure ?? { ok: false, code: 404, cause: 'NoPodsMatched', message: `${desc}: no ready pod matches ${canonicalRequirements(podSelector)}` };
    return { ok: true, items: [...byPod.values()].sort((a, b) => a.pod!.localeCompare(b.pod!)) };
  }

  private valueOf(s: Subscription, desc: string, podSelector?: readonly LabelRequirement[]): ServeResult {
    const st = this.sources.get(s.sourceKey);
    if (!st) return { ok: false, code: 404, cause: 'NotYetCollected', message: `${desc}: no collector yet` };
    const stale = this.freshness(st, desc);
    if (stale) return stale;
    const r = st.result!;
    const ts = st.collectedAt!;
    const base = { timestamp: ts, selector: s.spec.selector, labels: {} as Record<string, string> };
    const noData = (m: string): ServeResult => ({ ok: false, code: 404, cause: 'NoData', message: `${desc}: ${m} (last attempt ${iso(st.lastAttemptAt!)})` });
    const q = (v: number) => formatQuantity(v);
    if (r.kind === 'sqs') {
      const v = sqsAttributes(s.spec).reduce((a, n) => a + (r.attributes[n] ?? 0), 0);
      return { ok: true, items: [{ ...base, value: q(v)! }] };
    }
    if (r.kind === 'prometheus') {
      let v = r.value;
      if (s.spec.config.collector === 'prometheus' && s.spec.config.perReplica) {
        const replicas = this.opts.replicasOf?.(s.hpa.namespace, s.spec.scaleTarget);
        if (!replicas) return noData(`per-replica: scale target ${s.spec.scaleTarget.kind} ${s.hpa.namespace}/${s.spec.scaleTarget.name} has ${replicas === 0 ? 'zero' : 'unknown'} replicas`);
        v /= replicas;
      }
      const value = q(v);
      if (value === undefined) return noData('prometheus query returned a value that is not a finite number');
      return { ok: true, items: [{ ...base, value, ...(s.spec.describedObject ? { describedObject: s.spec.describedObject } : {}) }] };
    }
    const items: ServedItem[] = [];
    let lastErr: string | undefined;
    for (const p of extractedValues(r, s.spec.config as JsonPathConfig)) {
      if (podSelector && !matchesRequirements(podSelector, p.labels)) continue;
      if (p.error !== undefined) lastErr = p.error;
      else if (p.value !== undefined) items.push({ ...base, value: p.value, pod: p.name });
    }
    if (!items.length) {
      if (lastErr) return { ok: false, code: 404, cause: 'NoData', message: `${desc}: ${lastErr}` };
      return { ok: false, code: 404, cause: 'NoPodsMatched', message: `${desc}: no ready pod of ${s.spec.scaleTarget.kind} ${s.hpa.namespace}/${s.spec.scaleTarget.name} matches ${r.selector}` };
    }
    return { ok: true, items };
  }

  /** Series held (pods metrics count one per pod), per api. */
  seriesCount(): { custom: number; external: number } {
    this.flush();
    let custom = 0;
    let external = 0;
    for (const s of this.subs.values()) {
      const st = this.sources.get(s.sourceKey);
      if (s.spec.type === 'external') external++;
      else custom += st?.result?.kind === 'pods' ? st.result.pods.length : 1;
    }
    return { custom, external };
  }
}

/** One pod's value as served: the Quantity text, or why it has none; undefined value and error = no number. */
interface ExtractedPod {
  name: string;
  labels: Labels;
  value?: string;
  error?: string;
}

/** Per poll result, per extraction (`json-key`/`json-eval`/aggregator): the pods' values, computed on first read. */
const extractions = new WeakMap<SourceResult, Map<string, ExtractedPod[]>>();

/**
 * The values of a json-path poll's pods under one extraction, evaluated once per poll result and then served from
 * memory (docs/metrics-adapter.md#ma-json-path): requests never evaluate JSONPath or `json-eval` themselves.
 */
function extractedValues(r: Extract<SourceResult, { kind: 'pods' }>, cfg: JsonPathConfig): ExtractedPod[] {
  const key = `${cfg.jsonKey ?? ''}|${cfg.jsonEval ?? ''}|${cfg.aggregator ?? ''}`;
  let byKey = extractions.get(r);
  if (!byKey) extractions.set(r, (byKey = new Map()));
  let out = byKey.get(key);
  if (!out) {
    out = r.pods.map((p) => {
      try {
        const v = extract(cfg, p.doc);
        const value = v === undefined ? undefined : formatQuantity(v);
        return value === undefined ? { name: p.name, labels: p.labels } : { name: p.name, labels: p.labels, value };
      } catch (e) {
        return { name: p.name, labels: p.labels, error: (e as Error).message };
      }
    });
    byKey.set(key, out);
  }
  return out;
}

const evalCache = new Map<string, ReturnType<typeof parseJsonEval>>();

/**
 * One pod's value from its document: `json-eval`, or `json-key` with the aggregator when it yields several
 * numbers. Undefined when the path yields nothing.
 * @throws Error "AggregatorRequired" text when several numbers and no aggregator, or json-eval failures.
 */
export function extract(cfg: JsonPathConfig, doc: unknown): number | undefined {
  if (cfg.jsonEval !== undefined) {
    let e = evalCache.get(cfg.jsonEval);
    if (!e) {
      e = parseJsonEval(cfg.jsonEval);
      if (evalCache.size > 1000) evalCache.clear();
      evalCache.set(cfg.jsonEval, e);
    }
    return evalJsonEval(e, doc);
  }
  const ns = numbersAt(doc, cfg.jsonKey!);
  if (ns.length === 0) return undefined;
  if (ns.length === 1) return ns[0];
  if (!cfg.aggregator) throw new Error(`json-key ${cfg.jsonKey} yields ${ns.length} numbers; set an aggregator (avg, sum, max, min) (cause AggregatorRequired)`);
  return aggregate(cfg.aggregator, ns);
}
