/**
 * The metrics of the webhook (docs/authnz-webhook.md#authnz-metrics), all named
 * `kubeaws_authnz_webhook_<thing>_<unit>`. Labels are bounded: never a user, a namespace or token material. Histograms
 * are in seconds.
 */
import {
  type BatchedHistogram,
  ComponentMetrics,
  type CounterChild,
  CounterChildren,
  type HistogramChild,
} from '@kubeaws/runtime';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** Histogram buckets (docs/authnz-webhook.md#authnz-metrics), in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Every metric family of the webhook. */
export class WebhookMetrics {
  readonly base: ComponentMetrics;
  readonly httpRequests: Counter<'endpoint' | 'code'>;
  readonly httpDuration: BatchedHistogram<'endpoint'>;
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
  readonly authenticateDuration: HistogramChild;
  readonly authorizeDuration: HistogramChild;
  /** {@link httpRequests} of the 200 answers of `/authenticate` and `/authorize`, resolved once. */
  readonly authenticateOk: CounterChild;
  readonly authorizeOk: CounterChild;

  /** @param base the component's registry (created with process metrics when omitted). */
  constructor(base?: ComponentMetrics) {
    this.base = base ?? new ComponentMetrics('authnz-webhook');
    const m = this.base;
    this.httpRequests = m.counter('http_requests_total', 'HTTP requests by endpoint and status code', [
      'endpoint',
      'code',
    ]);
    this.httpDuration = m.batchedHistogram(
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
    this.authenticateOk = this.httpRequestsBy.child('authenticate', '200');
    this.authorizeOk = this.httpRequestsBy.child('authorize', '200');
  }
}
