/**
 * The HPA annotation grammar of kube-metrics-adapter (`metric-config.<type>.<metric>.<collector>/<key>`) and
 * metric selector labels, parsed into metric specifications and named configuration errors. Pure: no I/O,
 * no clock. Rules: docs/metrics-adapter.md#ma-grammar, #ma-json-path, #ma-prometheus, #ma-sqs, #ma-bad-input;
 * upstream: zalando-incubator/kube-metrics-adapter pkg/annotations/parser.go, pkg/collector/*.go.
 */
import { type LabelSelector, tryParseDuration } from '@kubeaws/runtime';
import { parseJsonEval, validateJsonPath } from './jsoneval';
import type { KindResolver } from './kinds';
import { canonicalSelector } from './selector';

/** The HPA metric types we serve (`Resource`/`ContainerResource` belong to metrics-server). */
export type MetricType = 'pods' | 'object' | 'external';
/** Collectors known to the grammar; `requests-per-second` is reserved (phase 2) and always `CollectorDisabled`. */
export type CollectorName = 'json-path' | 'prometheus' | 'sqs-queue-length' | 'requests-per-second';

export const METRIC_TYPES: readonly MetricType[] = ['pods', 'object', 'external'];
export const COLLECTORS: readonly CollectorName[] = ['json-path', 'prometheus', 'sqs-queue-length', 'requests-per-second'];
const VALID_FOR: Record<CollectorName, readonly MetricType[]> = {
  'json-path': ['pods'],
  prometheus: ['external', 'object'],
  'sqs-queue-length': ['external'],
  'requests-per-second': ['object', 'external'],
};

/** Causes of configuration errors (docs/metrics-adapter.md#ma-bad-input). */
export type ConfigCause =
  | 'MalformedAnnotationKey'
  | 'DottedMetricName'
  | 'UnknownMetricType'
  | 'UnknownCollector'
  | 'CollectorDisabled'
  | 'CollectorNotSupportedForType'
  | 'ConflictingCollectors'
  | 'UndeclaredMetric'
  | 'MetricNotConfigured'
  | 'UnsupportedLegacyConfig'
  | 'UnknownConfigKey'
  | 'MissingConfigKey'
  | 'ConflictingConfigKeys'
  | 'InvalidJSONPath'
  | 'InvalidExpression'
  | 'InvalidDuration'
  | 'InvalidConfigValue'
  | 'PrometheusServerNotAllowed'
  | 'UnknownPrometheusAlias'
  | 'RegionNotAllowed'
  | 'UnsupportedScaleTarget'
  | 'UnknownObjectKind'
  | 'ConflictingMetricDefinition';

/**
 * One configuration problem. `warning` problems (UnknownConfigKey, UndeclaredMetric) do not stop the metric;
 * every other one does. `metric` is `<type>/<name>`, `field` a JSON-ish path into the HPA.
 */
export interface ConfigError {
  metric: string;
  cause: ConfigCause;
  field: string;
  value?: string;
  message: string;
  warning: boolean;
}

/** Operator settings the grammar depends on (from flags). Durations in milliseconds. */
export interface GrammarSettings {
  enableCustom: boolean;
  enableExternal: boolean;
  /** `--prometheus-server`, normalised; undefined = none. */
  prometheusServer?: string;
  /** `--additional-prometheus-server NAME=URL`, URLs normalised. */
  prometheusAliases: Readonly<Record<string, string>>;
  /** `--aws-region`; empty disables the SQS collector. */
  awsRegions: readonly string[];
  /** Host (`host[:port]`) of the SQS endpoint the SDK resolves for a region. */
  sqsEndpointHost(region: string): string;
  defaultIntervalMs: number;
  minIntervalMs: number;
  /** Kinds the API serves (API discovery; docs/metrics-adapter.md#ma-kinds). */
  kinds: KindResolver;
}

/** A scale target or described object reference. */
export interface ObjectRef {
  kind: string;
  name: string;
  apiVersion?: string;
}

/** SQS source settings (docs/metrics-adapter.md#ma-sqs). */
export interface SqsConfig {
  collector: 'sqs-queue-length';
  region: string;
  queueName?: string;
  queueUrl?: string;
  includeInFlight: boolean;
  includeDelayed: boolean;
}
/** Prometheus source settings (docs/metrics-adapter.md#ma-prometheus); `server` normalised. */
export interface PrometheusConfig {
  collector: 'prometheus';
  server: string;
  query: string;
  perReplica: boolean;
}
/** Pod JSON scraping settings (docs/metrics-adapter.md#ma-json-path). Durations in ms. */
export interface JsonPathConfig {
  collector: 'json-path';
  scheme: 'http' | 'https';
  port: number;
  path: string;
  rawQuery?: string;
  jsonKey?: string;
  jsonEval?: string;
  aggregator?: Aggregator;
  minPodReadyAgeMs: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}
export type Aggregator = 'avg' | 'sum' | 'max' | 'min';
export type CollectorConfig = SqsConfig | PrometheusConfig | JsonPathConfig;

/** One HPA metric we collect: a subscription to a source. */
export interface MetricSpec {
  type: MetricType;
  name: string;
  /** Index in `spec.metrics`. */
  index: number;
  /** The metric's selector as written (null when none). */
  selector: LabelSelector | null;
  /** Canonical string of `selector` (see selector.ts). */
  selectorKey: string;
  /** Object metrics: the described object. */
  describedObject?: ObjectRef;
  /** Object metrics: its resource as discovery names it, `plural[.group]` (`namespaces` for a Namespace). */
  describedResource?: string;
  /** The HPA's scale target. */
  scaleTarget: ObjectRef;
  intervalMs: number;
  config: CollectorConfig;
}

/** The slice of an `autoscaling/v2` HPA the grammar reads. */
export interface HpaInput {
  metadata: { namespace?: string; name?: string; annotations?: Record<string, string> };
  spec?: {
    scaleTargetRef?: ObjectRef;
    metrics?: Array<{
      type: string;
      pods?: { metric?: { name?: string; selector?: LabelSelector | null } };
      object?: { metric?: { name?: string; selector?: LabelSelector | null }; describedObject?: ObjectRef };
      external?: { metric?: { name?: string; selector?: LabelSelector | null } };
    }>;
  };
}

/** Result of {@link parseHpa}. */
export interface ParsedHpa {
  specs: MetricSpec[];
  errors: ConfigError[];
}

const PREFIX = 'metric-config.';
const MAX_VALUE = 16 * 1024;
/** Scale targets whose pods the json-path collector can find, by API group (docs/metrics-adapter.md#ma-json-path). */
const SCALE_TARGETS: ReadonlyArray<{ group: string; kind: string }> = [
  { group: 'apps', kind: 'Deployment' },
  { group: 'apps', kind: 'StatefulSet' },
  { group: 'argoproj.io', kind: 'Rollout' },
];

/**
 * Why a scale target cannot be used by a json-path or `per-replica` metric, or undefined when it can: its kind must be
 * one of {@link SCALE_TARGETS} in that group and served by the API (an Argo Rollout only where argoproj.io is).
 */
export function scaleTargetProblem(t: ObjectRef, kinds: KindResolver): string | undefined {
  const group = t.apiVersion?.includes('/') ? t.apiVersion.split('/')[0] : undefined;
  const known = SCALE_TARGETS.find((x) => x.kind === t.kind && (group === undefined || x.group === group));
  const valid = SCALE_TARGETS.map((x) => `${x.kind} (${x.group})`).join(', ');
  if (!known) return `scale target kind "${t.kind}"${t.apiVersion ? ` of ${t.apiVersion}` : ''} is not supported; valid: ${valid}`;
  if (!kinds.resolve({ kind: known.kind, apiVersion: `${known.group}/v1` }))
    return `scale target kind "${t.kind}" is not served by this cluster's API (API group ${known.group} unknown to discovery); valid: ${valid}`;
  return undefined;
}

/** Levenshtein distance, for "closest match first" lists. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** `options` sorted closest to `value` first. */
export function closestFirst(value: string, options: readonly string[]): string[] {
  return [...options].sort((x, y) => distance(value, x) - distance(value, y) || x.localeCompare(y));
}

/** Normalises a Prometheus server URL (lower-case scheme and host, no trailing slash). Undefined when invalid. */
export function normalizeServerUrl(raw: string): string | undefined {
  try {
    const u = new URL(raw.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

/** Formats an Event/Status message: `<type>/<metric>: <text> (cause <Cause>; field <path>)`, at most 1 KiB. */
export function formatConfigError(e: ConfigError): string {
  const s = `${e.metric}: ${e.message} (cause ${e.cause}; field ${e.field})`;
  return s.length > 1024 ? `${s.slice(0, 1021)}...` : s;
}

interface KeyEntry {
  key: string;
  collector: string;
  configKey: string;
  value: string;
}

interface Ctx {
  metric: string;
  errors: ConfigError[];
  fieldOf(key: string): string;
}

function err(ctx: Ctx, cause: ConfigCause, key: string, value: string | undefined, message: string, warning = false): void {
  ctx.errors.push({ metric: ctx.metric, cause, field: ctx.fieldOf(key), value: value?.slice(0, 200), message, warning });
}

const COMMON_KEYS = ['interval'];
const KEYS: Record<string, string[]> = {
  'json-path': ['json-key', 'json-eval', 'path', 'port', 'scheme', 'raw-query', 'aggregator', 'min-pod-ready-age', 'connect-timeout', 'request-timeout'],
  prometheus: ['query', 'prometheus-server', 'prometheus-server-alias', 'per-replica'],
  'sqs-queue-length': ['queue-name', 'queue-url', 'region', 'include-in-flight', 'include-delayed', 'role-arn'],
};
/** Label keys that are selector/series keys, not config keys. */
const LABEL_ONLY = new Set(['type']);

function duration(ctx: Ctx, cfg: Map<string, string>, key: string, dflt: number, min: number): number | undefined {
  const v = cfg.get(key);
  if (v === undefined) return dflt;
  const r = tryParseDuration(v, { min });
  if (!r.ok || (min > 0 && r.value < min)) {
    err(ctx, 'InvalidDuration', key, v, `${key} "${v}" is not a valid duration: expected a Go duration with a unit${min > 0 ? ` of at least ${min}ms` : ''}, like "30s" or "1m30s"`);
    return undefined;
  }
  return r.value;
}

function bool(ctx: Ctx, cfg: Map<string, string>, key: string): boolean | undefined {
  const v = cfg.get(key);
  if (v === undefined) return false;
  if (v === '' || v === 'true') return true;
  if (v === 'false') return false;
  err(ctx, 'InvalidConfigValue', key, v, `${key} "${v}" is not a boolean; valid: true, false (empty means true)`);
  return undefined;
}

function parseJsonPath(ctx: Ctx, cfg: Map<string, string>, intervalMs: number): JsonPathConfig | undefined {
  let ok = true;
  const jsonKey = cfg.get('json-key');
  const jsonEval = cfg.get('json-eval');
  if (jsonKey !== undefined && jsonEval !== undefined) {
    err(ctx, 'ConflictingConfigKeys', 'json-eval', jsonEval, 'json-key and json-eval are mutually exclusive; set exactly one');
    ok = false;
  } else if (jsonKey === undefined && jsonEval === undefined) {
    err(ctx, 'MissingConfigKey', 'json-key', undefined, 'one of json-key and json-eval is required');
    ok = false;
  }
  if (jsonKey !== undefined) {
    const e = validateJsonPath(jsonKey);
    if (e) {
      err(ctx, 'InvalidJSONPath', 'json-key', jsonKey, `json-key "${jsonKey}" is not an RFC 9535 JSONPath: ${e}`);
      ok = false;
    }
  }
  if (jsonEval !== undefined) {
    try {
      parseJsonEval(jsonEval);
    } catch (e) {
      err(ctx, 'InvalidExpression', 'json-eval', jsonEval, `json-eval "${jsonEval}" is invalid: ${(e as Error).message}`);
      ok = false;
    }
  }
  const path = cfg.get('path');
  if (path === undefined) {
    err(ctx, 'MissingConfigKey', 'path', undefined, 'path is required (the HTTP path on the pod, starting with /)');
    ok = false;
  } else if (!path.startsWith('/')) {
    err(ctx, 'InvalidConfigValue', 'path', path, `path "${path}" must start with /`);
    ok = false;
  }
  const portRaw = cfg.get('port');
  const port = Number(portRaw);
  if (portRaw === undefined) {
    err(ctx, 'MissingConfigKey', 'port', undefined, 'port is required (an integer from 1 to 65535)');
    ok = false;
  } else if (!/^\d+$/.test(portRaw) || port < 1 || port > 65535) {
    err(ctx, 'InvalidConfigValue', 'port', portRaw, `port "${portRaw}" is invalid; valid: an integer from 1 to 65535`);
    ok = false;
  }
  const scheme = cfg.get('scheme') ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') {
    err(ctx, 'InvalidConfigValue', 'scheme', scheme, `scheme "${scheme}" is invalid; valid: http, https`);
    ok = false;
  }
  const rawQuery = cfg.get('raw-query');
  if (rawQuery?.includes('#')) {
    err(ctx, 'InvalidConfigValue', 'raw-query', rawQuery, 'raw-query must not contain #');
    ok = false;
  }
  const aggregator = cfg.get('aggregator');
  if (aggregator !== undefined && !['avg', 'sum', 'max', 'min'].includes(aggregator)) {
    err(ctx, 'InvalidConfigValue', 'aggregator', aggregator, `aggregator "${aggregator}" is invalid; valid: avg, sum, max, min`);
    ok = false;
  }
  const minPodReadyAgeMs = duration(ctx, cfg, 'min-pod-ready-age', 0, 0);
  const connectTimeoutMs = duration(ctx, cfg, 'connect-timeout', 3000, 1);
  const requestTimeoutMs = duration(ctx, cfg, 'request-timeout', 10_000, 1);
  if (requestTimeoutMs !== undefined && requestTimeoutMs >= intervalMs) {
    err(ctx, 'InvalidDuration', cfg.has('request-timeout') ? 'request-timeout' : 'interval', cfg.get('request-timeout') ?? cfg.get('interval'),
      `request-timeout (${requestTimeoutMs}ms) must be less than the interval (${intervalMs}ms)`);
    ok = false;
  }
  if (!ok || minPodReadyAgeMs === undefined || connectTimeoutMs === undefined || requestTimeoutMs === undefined) return undefined;
  return {
    collector: 'json-path',
    scheme: scheme as 'http' | 'https',
    port,
    path: path!,
    ...(rawQuery !== undefined ? { rawQuery } : {}),
    ...(jsonKey !== undefined ? { jsonKey } : {}),
    ...(jsonEval !== undefined ? { jsonEval } : {}),
    ...(aggregator !== undefined ? { aggregator: aggregator as Aggregator } : {}),
    minPodReadyAgeMs,
    connectTimeoutMs,
    requestTimeoutMs,
  };
}

function parsePrometheus(ctx: Ctx, cfg: Map<string, string>, type: MetricType, s: GrammarSettings): PrometheusConfig | undefined {
  let ok = true;
  const query = cfg.get('query')?.trim();
  if (!query) {
    err(ctx, 'MissingConfigKey', 'query', undefined, 'query is required (a PromQL expression)');
    ok = false;
  }
  const alias = cfg.get('prometheus-server-alias');
  const url = cfg.get('prometheus-server');
  let server = s.prometheusServer;
  if (alias !== undefined && url !== undefined) {
    err(ctx, 'ConflictingConfigKeys', 'prometheus-server', url, 'prometheus-server and prometheus-server-alias are mutually exclusive');
    ok = false;
  } else if (alias !== undefined) {
    server = s.prometheusAliases[alias];
    if (!server) {
      const names = closestFirst(alias, Object.keys(s.prometheusAliases));
      err(ctx, 'UnknownPrometheusAlias', 'prometheus-server-alias', alias,
        `prometheus-server-alias "${alias}" is unknown; configured aliases: ${names.join(', ') || 'none (set --additional-prometheus-server NAME=URL)'}`);
      ok = false;
    }
  } else if (url !== undefined) {
    const n = normalizeServerUrl(url);
    const allowed = [s.prometheusServer, ...Object.values(s.prometheusAliases)].filter((x): x is string => !!x);
    if (!n || !allowed.includes(n)) {
      err(ctx, 'PrometheusServerNotAllowed', 'prometheus-server', url,
        `prometheus-server "${url}" is not a configured server; use prometheus-server-alias with one of: ${Object.keys(s.prometheusAliases).join(', ') || 'none'}, or leave it out for the default server`);
      ok = false;
    } else server = n;
  }
  const perReplica = bool(ctx, cfg, 'per-replica');
  if (perReplica && type !== 'object') {
    err(ctx, 'InvalidConfigValue', 'per-replica', cfg.get('per-replica'), 'per-replica applies to Object metrics only');
    ok = false;
  }
  if (!ok || perReplica === undefined || !server) return undefined;
  return { collector: 'prometheus', server, query: query!, perReplica };
}

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

function validQueueName(n: string): boolean {
  const base = n.endsWith('.fifo') ? n.slice(0, -5) : n;
  return QUEUE_NAME.test(base) && n.length <= 80;
}

function parseSqs(ctx: Ctx, cfg: Map<string, string>, s: GrammarSettings): SqsConfig | undefined {
  let ok = true;
  if (cfg.has('role-arn')) {
    err(ctx, 'CollectorDisabled', 'role-arn', cfg.get('role-arn'), 'role-arn (cross-account AssumeRole) is not supported yet; grant our role access through the queue policy and use queue-url');
    ok = false;
  }
  const name = cfg.get('queue-name');
  const url = cfg.get('queue-url');
  let region = cfg.get('region');
  if (name !== undefined && url !== undefined) {
    err(ctx, 'ConflictingConfigKeys', 'queue-url', url, 'queue-name and queue-url are mutually exclusive; set exactly one');
    return undefined;
  }
  if (name === undefined && url === undefined) {
    err(ctx, 'MissingConfigKey', 'queue-name', undefined, 'one of queue-name and queue-url is required');
    return undefined;
  }
  if (name !== undefined && !validQueueName(name)) {
    err(ctx, 'InvalidConfigValue', 'queue-name', name, `queue-name "${name}" is invalid; valid: 1-80 characters of A-Z a-z 0-9 _ -, optionally ending in .fifo`);
    ok = false;
  }
  if (url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      u = undefined;
    }
    const m = u ? /^\/(\d{12})\/([^/]+)$/.exec(u.pathname) : null;
    if (!u || !m || !validQueueName(m[2]!) || u.search || u.hash) {
      err(ctx, 'InvalidConfigValue', 'queue-url', url, `queue-url "${url}" is invalid; valid: https://<SQS endpoint>/<12-digit account>/<queue name>`);
      return undefined;
    }
    const hostRegion = /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(u.hostname)?.[1];
    if (region !== undefined && hostRegion !== undefined && hostRegion !== region) {
      err(ctx, 'InvalidConfigValue', 'region', region, `region "${region}" differs from the region "${hostRegion}" of queue-url`);
      return undefined;
    }
    region ??= hostRegion;
    if (region === undefined) {
      err(ctx, 'MissingConfigKey', 'region', undefined, `region is required: it cannot be derived from the queue-url host "${u.host}"`);
      return undefined;
    }
    if (s.awsRegions.includes(region) && u.host !== s.sqsEndpointHost(region)) {
      err(ctx, 'InvalidConfigValue', 'queue-url', url, `queue-url host "${u.host}" is not the SQS endpoint of ${region} ("${s.sqsEndpointHost(region)}")`);
      ok = false;
    }
  }
  if (region === undefined) {
    err(ctx, 'MissingConfigKey', 'region', undefined, `region is required; allowed: ${s.awsRegions.join(', ')}`);
    return undefined;
  }
  if (!s.awsRegions.includes(region)) {
    err(ctx, 'RegionNotAllowed', 'region', region, `region "${region}" is not allowed; allowed: ${s.awsRegions.join(', ')}`);
    ok = false;
  }
  const includeInFlight = bool(ctx, cfg, 'include-in-flight');
  const includeDelayed = bool(ctx, cfg, 'include-delayed');
  if (!ok || includeInFlight === undefined || includeDelayed === undefined) return undefined;
  return {
    collector: 'sqs-queue-length',
    region,
    ...(name !== undefined ? { queueName: name } : {}),
    ...(url !== undefined ? { queueUrl: url } : {}),
    includeInFlight,
    includeDelayed,
  };
}

/**
 * Parses one HPA into the metrics we collect and the problems found. Deterministic: keys are processed in
 * sorted order. Each metric is validated on its own; a bad one never affects the others.
 */
export function parseHpa(hpa: HpaInput, s: GrammarSettings): ParsedHpa {
  const errors: ConfigError[] = [];
  const specs: MetricSpec[] = [];
  const annotations = hpa.metadata.annotations ?? {};
  // (type/metric) → entries
  const byMetric = new Map<string, KeyEntry[]>();
  for (const key of Object.keys(annotations).filter((k) => k.startsWith(PREFIX)).sort()) {
    const value = annotations[key]!;
    const field = `metadata.annotations[${key}]`;
    const slash = key.split('/');
    const segs = slash[0]!.split('.');
    const keyCtx: Ctx = { metric: `${segs[1] || 'unknown'}/${segs[2] ?? ''}`, errors, fieldOf: () => field };
    if (slash.length !== 2 || segs.length < 4 || !slash[1]) {
      err(keyCtx, 'MalformedAnnotationKey', key, value,
        `annotation key "${key}" is malformed; expected metric-config.<type>.<metric>.<collector>/<config-key>`);
      continue;
    }
    const type = segs[1]!;
    if (!(METRIC_TYPES as readonly string[]).includes(type)) {
      keyCtx.metric = `${type}/${segs.slice(2, -1).join('.')}`;
      err(keyCtx, 'UnknownMetricType', key, value, `metric type "${type}" is unknown; valid: ${closestFirst(type, METRIC_TYPES).join(', ')}`);
      continue;
    }
    if (segs.length > 4) {
      const name = segs.slice(2, -1).join('.');
      keyCtx.metric = `${type}/${name}`;
      err(keyCtx, 'DottedMetricName', key, value,
        `metric name "${name}" contains dots and cannot be configured by annotation; configure it by selector labels (matchLabels) or rename the metric`);
      continue;
    }
    if (value.length > MAX_VALUE) {
      keyCtx.metric = `${type}/${segs[2]}`;
      err(keyCtx, 'InvalidConfigValue', key, value, `value is ${value.length} bytes; at most 16 KiB`);
      continue;
    }
    const id = `${type}/${segs[2]}`;
    const list = byMetric.get(id) ?? [];
    list.push({ key, collector: segs[3]!, configKey: slash[1], value });
    byMetric.set(id, list);
  }

  const declared = new Set<string>();
  (hpa.spec?.metrics ?? []).forEach((m, index) => {
    const type = m.type === 'Pods' ? 'pods' : m.type === 'Object' ? 'object' : m.type === 'External' ? 'external' : undefined;
    if (!type) return;
    const body = type === 'pods' ? m.pods : type === 'object' ? m.object : m.external;
    const name = body?.metric?.name ?? '';
    const selector = body?.metric?.selector ?? null;
    const id = `${type}/${name}`;
    declared.add(id);
    // A disabled group's metrics are not ours: ignored without errors (docs/metrics-adapter.md#ma-flags).
    if (type === 'external' ? !s.enableExternal : !s.enableCustom) return;
    const entries = byMetric.get(id) ?? [];
    const labelField = (k: string) => `spec.metrics[${index}].${type}.metric.selector.matchLabels.${k}`;
    const annFields = new Map(entries.map((e) => [e.configKey, `metadata.annotations[${e.key}]`]));
    // A missing key is reported where it would be written: as an annotation when the metric is configured by
    // annotations, else as a selector label.
    const ctx: Ctx = {
      metric: id,
      errors,
      fieldOf: (k) =>
        annFields.get(k) ??
        (entries.length ? `metadata.annotations[metric-config.${type}.${name}.${entries[0]!.collector}/${k}]` : labelField(k)),
    };
    const labels = selector?.matchLabels ?? {};
    const annCollectors = [...new Set(entries.map((e) => e.collector))];
    if (annCollectors.length > 1) {
      err(ctx, 'ConflictingCollectors', entries[0]!.configKey, annCollectors.join(','),
        `annotations name several collectors (${annCollectors.join(', ')}); use exactly one`);
      return;
    }
    let collector: string | undefined = annCollectors[0];
    if (type === 'external') {
      const label = labels.type;
      if (label !== undefined && collector !== undefined && label !== collector) {
        ctx.fieldOf = () => labelField('type');
        err(ctx, 'ConflictingCollectors', 'type', label, `selector label type "${label}" differs from the annotations' collector "${collector}"`);
        return;
      }
      collector = label ?? collector;
      if (collector === undefined) {
        const legacy = (COLLECTORS as readonly string[]).includes(name) || 'query-name' in labels;
        err(ctx, legacy ? 'UnsupportedLegacyConfig' : 'MetricNotConfigured', 'type', undefined,
          legacy
            ? `the metric name or query-name no longer selects a collector; add the selector label type: <collector> (${COLLECTORS.slice(0, 3).join(', ')})`
            : `no collector configured; add the selector label type: <collector> (one of ${COLLECTORS.slice(0, 3).join(', ')}) or metric-config.external.${name}.<collector>/<key> annotations`);
        return;
      }
    } else if (type === 'pods') {
      if (collector === undefined) {
        err(ctx, 'MetricNotConfigured', 'json-key', undefined,
          `no collector configured; add metric-config.pods.${name}.json-path/json-key (and path, port) annotations`);
        return;
      }
    } else if (collector === undefined) {
      err(ctx, 'MetricNotConfigured', 'query', undefined, `no collector configured; add metric-config.object.${name}.prometheus/query annotations`);
      return;
    }
    if (!(COLLECTORS as readonly string[]).includes(collector)) {
      err(ctx, 'UnknownCollector', entries[0]?.configKey ?? 'type', collector,
        `collector "${collector}" is unknown; valid: ${closestFirst(collector, COLLECTORS.slice(0, 3)).join(', ')}`);
      return;
    }
    const c = collector as CollectorName;
    if (!VALID_FOR[c].includes(type)) {
      err(ctx, 'CollectorNotSupportedForType', entries[0]?.configKey ?? 'type', collector,
        `collector "${c}" does not serve ${type} metrics; valid for ${type}: ${COLLECTORS.filter((x) => VALID_FOR[x].includes(type) && x !== 'requests-per-second').join(', ')}`);
      return;
    }
    const disabled =
      c === 'requests-per-second'
        ? 'requests-per-second is not available yet'
        : c === 'prometheus' && !s.prometheusServer && Object.keys(s.prometheusAliases).length === 0
          ? 'the prometheus collector is disabled: no --prometheus-server or --additional-prometheus-server is set'
          : c === 'sqs-queue-length' && s.awsRegions.length === 0
            ? 'the sqs-queue-length collector is disabled: no --aws-region is set'
            : undefined;
    if (disabled) {
      err(ctx, 'CollectorDisabled', entries[0]?.configKey ?? 'type', c, disabled);
      return;
    }
    // Config values: matchLabels first, annotations override (kube-metrics-adapter semantics).
    const cfg = new Map<string, string>();
    for (const [k, v] of Object.entries(labels)) if (!LABEL_ONLY.has(k)) cfg.set(k, v);
    for (const e of entries) cfg.set(e.configKey, e.value);
    const known = new Set([...COMMON_KEYS, ...KEYS[c]!]);
    for (const e of entries)
      if (!known.has(e.configKey))
        err(ctx, 'UnknownConfigKey', e.configKey, e.value,
          `config key "${e.configKey}" is unknown to ${c} and ignored; valid: ${closestFirst(e.configKey, [...known]).join(', ')}`, true);
    const intervalMs = duration(ctx, cfg, 'interval', s.defaultIntervalMs, s.minIntervalMs);
    if (intervalMs === undefined) return;
    let config: CollectorConfig | undefined;
    if (c === 'json-path') config = parseJsonPath(ctx, cfg, intervalMs);
    else if (c === 'prometheus') config = parsePrometheus(ctx, cfg, type, s);
    else config = parseSqs(ctx, cfg, s);
    if (!config) return;
    const scaleTarget = hpa.spec?.scaleTargetRef ?? { kind: '', name: '' };
    const targetProblem = type === 'pods' || (config.collector === 'prometheus' && config.perReplica) ? scaleTargetProblem(scaleTarget, s.kinds) : undefined;
    if (targetProblem) {
      ctx.fieldOf = () => 'spec.scaleTargetRef.kind';
      err(ctx, 'UnsupportedScaleTarget', 'kind', scaleTarget.kind, targetProblem);
      return;
    }
    const spec: MetricSpec = { type, name, index, selector, selectorKey: canonicalSelector(selector), scaleTarget, intervalMs, config };
    if (type === 'object') {
      const d = m.object?.describedObject ?? { kind: '', name: '' };
      spec.describedObject = d;
      const resolved = s.kinds.resolve(d);
      if (!resolved) {
        ctx.fieldOf = () => `spec.metrics[${index}].object.describedObject.kind`;
        err(ctx, 'UnknownObjectKind', 'kind', d.kind,
          `described object kind "${d.kind}"${d.apiVersion ? ` of ${d.apiVersion}` : ''} is not served by this cluster's API (not in API discovery)`);
        return;
      }
      spec.describedResource = resolved.resource;
    }
    specs.push(spec);
  });

  for (const [id, entries] of [...byMetric].sort(([a], [b]) => a.localeCompare(b)))
    if (!declared.has(id)) {
      const ctx: Ctx = { metric: id, errors, fieldOf: () => `metadata.annotations[${entries[0]!.key}]` };
      err(ctx, 'UndeclaredMetric', entries[0]!.configKey, undefined,
        `annotations configure ${id}, which is not in spec.metrics`, true);
    }
  return { specs, errors };
}
