/**
 * The metrics of the webhook (docs/authnz-webhook.md#authnz-metrics), all named
 * `kubeaws_authnz_webhook_<thing>_<unit>`. Labels are bounded: never a user, a namespace or token material. Histograms
 * are in seconds.
 */
import { ComponentMetrics } from '@kubeaws/runtime';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** One label set of a {@link CounterChildren} family: `inc()` adds to a number, nothing else. */
export class CounterChild {
  /** Increments not yet added to the prom-client counter. */
  pending = 0;
  constructor(
    /** The label values by label name. */
    readonly labels: Readonly<Record<string, string>>,
  ) {}

  /** Counts `n` (default 1) events. */
  inc(n = 1): void {
    this.pending += n;
  }
}

/**
 * The request path's view of a counter family: {@link child} resolves a label set once (a lookup in nested maps keyed
 * by the label values, no string building), and the handle's `inc()` only adds to a number. The sums are added to the
 * prom-client counter when the counter is read: prom-client calls a metric's `collect` function before it reads the
 * values (prom-client lib/counter.js `get()`, which `Registry.metrics()` calls for every scrape), so `/metrics` shows
 * every increment made before the scrape. Memory is one {@link CounterChild} per label set seen, and the label sets
 * are bounded (docs/authnz-webhook.md#authnz-metrics).
 */
export class CounterChildren<L extends string> {
  private readonly root = new Map<string, unknown>();
  private readonly children: CounterChild[] = [];

  /**
   * @param counter the prom-client counter the increments are added to
   * @param labelNames its label names, in the order {@link child} takes the values (one to three)
   */
  constructor(
    readonly counter: Counter<L>,
    private readonly labelNames: readonly L[],
  ) {
    const c = counter as unknown as { collect?: (this: unknown) => void | Promise<void> };
    const previous = c.collect;
    const flush = () => this.flush();
    c.collect = function (this: unknown) {
      flush();
      return previous?.call(this);
    };
  }

  /** The handle of one label set: values in the order of the label names given to the constructor. */
  child(a: string, b?: string, c?: string): CounterChild {
    const n = this.labelNames.length;
    let level = this.root;
    if (n > 1) {
      let next = level.get(a) as Map<string, unknown> | undefined;
      if (!next) level.set(a, (next = new Map()));
      level = next;
      if (n > 2) {
        let third = level.get(b!) as Map<string, unknown> | undefined;
        if (!third) level.set(b!, (third = new Map()));
        level = third;
      }
    }
    const last = n === 1 ? a : n === 2 ? b! : c!;
    let child = level.get(last) as CounterChild | undefined;
    if (!child) {
      const values = [a, b, c];
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      child = new CounterChild(labels);
      level.set(last, child);
      this.children.push(child);
    }
    return child;
  }

  /** Adds the pending increments to the prom-client counter (done before every read of it). */
  flush(): void {
    for (const ch of this.children) {
      if (ch.pending === 0) continue;
      this.counter.inc(ch.labels as Partial<Record<L, string>>, ch.pending);
      ch.pending = 0;
    }
  }
}

/** Histogram buckets (docs/authnz-webhook.md#authnz-metrics), in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Every metric family of the webhook. */
export class WebhookMetrics {
  readonly base: ComponentMetrics;
  readonly httpRequests: Counter<'endpoint' | 'code'>;
  readonly httpDuration: Histogram<'endpoint'>;
  readonly tokenReviews: Counter<'result' | 'source' | 'issuer'>;
  readonly tokenReviewFailures: Counter<'reason'>;
  readonly sars: Counter<'decision' | 'rule' | 'role'>;
  readonly upstreamRequests: Counter<'upstream' | 'name' | 'result'>;
  readonly upstreamDuration: Histogram<'upstream' | 'name' | 'result'>;
  readonly jwksLastSuccess: Gauge<'issuer'>;
  readonly jwksAge: Gauge<'issuer'>;
  readonly jwksKeys: Gauge<'issuer'>;
  readonly jwksUsable: Gauge<'issuer'>;
  readonly cacheLookups: Counter<'result'>;
  readonly cacheEntries: Gauge;
  readonly accessRequests: Counter<'type' | 'action'>;
  readonly grantsActive: Gauge<'type'>;
  readonly groupsDropped: Counter<'reason'>;
  readonly configReloads: Counter<'result'>;
  readonly configLastSuccess: Gauge;
  readonly logLinesDropped: Counter<'reason'>;
  /** {@link httpRequests} by endpoint and code (the request path's handles). */
  readonly httpRequestsBy: CounterChildren<'endpoint' | 'code'>;
  /** {@link tokenReviews} by result, source and issuer. */
  readonly tokenReviewsBy: CounterChildren<'result' | 'source' | 'issuer'>;
  /** {@link sars} by decision, rule and role. */
  readonly sarsBy: CounterChildren<'decision' | 'rule' | 'role'>;
  /** {@link cacheLookups} by result. */
  readonly cacheLookupsBy: CounterChildren<'result'>;
  /** {@link httpDuration} of `/authenticate` and `/authorize`, resolved once. */
  readonly authenticateDuration: { observe(seconds: number): void };
  readonly authorizeDuration: { observe(seconds: number): void };

  /** @param base the component's registry (created with process metrics when omitted). */
  constructor(base?: ComponentMetrics) {
    this.base = base ?? new ComponentMetrics('authnz-webhook');
    const m = this.base;
    this.httpRequests = m.counter('http_requests_total', 'HTTP requests by endpoint and status code', [
      'endpoint',
      'code',
    ]);
    this.httpDuration = m.histogram(
      'http_request_duration_seconds',
      'HTTP request latency',
      ['endpoint'],
      LATENCY_BUCKETS,
    );
    this.tokenReviews = m.counter('tokenreviews_total', 'TokenReviews by result, token source and issuer', [
      'result',
      'source',
      'issuer',
    ]);
    this.tokenReviewFailures = m.counter('tokenreview_failures_total', 'Rejected tokens by reason', ['reason']);
    this.sars = m.counter('subjectaccessreviews_total', 'SubjectAccessReviews by decision, rule and role', [
      'decision',
      'rule',
      'role',
    ]);
    this.upstreamRequests = m.counter('upstream_requests_total', 'Requests to identity providers and kube-apiserver', [
      'upstream',
      'name',
      'result',
    ]);
    this.upstreamDuration = m.histogram(
      'upstream_request_duration_seconds',
      'Latency of requests to identity providers and kube-apiserver',
      ['upstream', 'name', 'result'],
      LATENCY_BUCKETS,
    );
    this.jwksLastSuccess = m.gauge('jwks_last_success_timestamp_seconds', 'Time of the last successful JWKS fetch', [
      'issuer',
    ]);
    this.jwksAge = m.gauge('jwks_age_seconds', 'Age of the key set in use', ['issuer']);
    this.jwksKeys = m.gauge('jwks_keys', 'Usable keys in the key set', ['issuer']);
    this.jwksUsable = m.gauge('jwks_usable', '1 when the issuer has a usable key set', ['issuer']);
    this.cacheLookups = m.counter('token_cache_lookups_total', 'Token cache lookups by result', ['result']);
    this.cacheEntries = m.gauge('token_cache_entries', 'Entries in the token cache');
    this.accessRequests = m.counter('access_requests_total', 'Emergency-access actions by type and action', [
      'type',
      'action',
    ]);
    this.grantsActive = m.gauge('access_grants_active', 'Active emergency-access grants by type', ['type']);
    this.groupsDropped = m.counter('groups_dropped_total', 'IdP groups dropped by identity hygiene', ['reason']);
    this.configReloads = m.counter('config_reloads_total', 'Configuration reloads by result', ['result']);
    this.configLastSuccess = m.gauge(
      'config_last_success_timestamp_seconds',
      'Time of the last successful configuration load',
    );
    this.logLinesDropped = m.counter('log_lines_dropped_total', 'Decision log lines dropped by the rate limit', [
      'reason',
    ]);
    this.httpRequestsBy = new CounterChildren(this.httpRequests, ['endpoint', 'code']);
    this.tokenReviewsBy = new CounterChildren(this.tokenReviews, ['result', 'source', 'issuer']);
    this.sarsBy = new CounterChildren(this.sars, ['decision', 'rule', 'role']);
    this.cacheLookupsBy = new CounterChildren(this.cacheLookups, ['result']);
    this.authenticateDuration = this.httpDuration.labels('authenticate');
    this.authorizeDuration = this.httpDuration.labels('authorize');
  }
}
