/**
 * The metrics-adapter's own flags (docs/metrics-adapter.md#ma-flags). Every flag can also be set from the
 * environment (`METRICS_ADAPTER_<FLAG>`); the flag wins. Lists are comma-separated.
 */
import { flag, parsers } from '@kubeaws/runtime';
import { normalizeServerUrl } from './grammar';

const url = (raw: string): string => {
  const n = normalizeServerUrl(raw);
  if (!n) throw new Error('not an http(s) URL');
  return n;
};
const aliases = (raw: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const item of parsers.list()(raw)) {
    const i = item.indexOf('=');
    if (i <= 0) throw new Error('expected NAME=URL');
    out[item.slice(0, i)] = url(item.slice(i + 1));
  }
  return out;
};
const env = (name: string) => `METRICS_ADAPTER_${name.toUpperCase().replace(/-/g, '_')}`;
const f = <T>(name: string, description: string, expected: string, dflt: T | ((e: NodeJS.ProcessEnv) => T), parse: (raw: string) => T, boolean = false) =>
  flag<T>({ flag: name, env: env(name), description, expected, default: dflt, parse, ...(boolean ? { boolean } : {}) });

/** The flag specs of the metrics-adapter. Durations are ms. */
export function adapterFlags() {
  return {
    secureBindAddress: f('bind-address', 'Address of the HTTPS API', 'an IP address', '0.0.0.0', parsers.nonEmpty),
    securePort: f('secure-port', 'Port of the HTTPS API (0 = any free port)', 'an integer 0-65535', 6443, parsers.int({ min: 0, max: 65535 })),
    tlsCertFile: f('tls-cert-file', 'Serving certificate (PEM); self-signed in memory when empty', 'a file path', '', parsers.string),
    tlsPrivateKeyFile: f('tls-private-key-file', 'Serving key (PEM)', 'a file path', '', parsers.string),
    service: f('service', 'Our own Service, namespace/name (certificate SAN, ownership check)', 'namespace/name', 'kube-system/kubeaws-metrics-adapter',
      (raw) => {
        if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(raw)) throw new Error('expected namespace/name');
        return raw;
      }),
    authenticationConfigMap: f('authentication-configmap', 'ConfigMap with the front-proxy trust anchors', 'namespace/name',
      'kube-system/extension-apiserver-authentication', parsers.nonEmpty),
    requestheaderClientCaFile: f('requestheader-client-ca-file', 'Front-proxy CA bundle (PEM) instead of the ConfigMap\'s; re-read on change', 'a file path', '', parsers.string),
    requestheaderAllowedNames: f('requestheader-allowed-names', 'Front-proxy certificate CNs instead of the ConfigMap\'s list (empty: the ConfigMap\'s)', 'a comma-separated list of names',
      [] as string[], parsers.list()),
    clientCaFile: f('client-ca-file', 'Client certificate CA bundle (PEM) instead of the ConfigMap\'s; re-read on change', 'a file path', '', parsers.string),
    tokenCacheTtlMs: f('authentication-token-webhook-cache-ttl', 'TokenReview cache TTL', 'a duration like 10s', 10_000, parsers.duration()),
    authorizedTtlMs: f('authorization-webhook-cache-authorized-ttl', 'SubjectAccessReview cache TTL of allowed answers', 'a duration like 10s', 10_000, parsers.duration()),
    unauthorizedTtlMs: f('authorization-webhook-cache-unauthorized-ttl', 'SubjectAccessReview cache TTL of denied answers', 'a duration like 10s', 10_000, parsers.duration()),
    alwaysAllowPaths: f('authorization-always-allow-paths', 'Paths that skip authorization', 'a comma-separated list of paths', ['/healthz', '/livez', '/readyz'], parsers.list()),
    enableCustom: f('enable-custom-metrics-api', 'Serve custom.metrics.k8s.io', 'true or false', true, parsers.bool, true),
    enableExternal: f('enable-external-metrics-api', 'Serve external.metrics.k8s.io', 'true or false', true, parsers.bool, true),
    watchNamespaces: f('watch-namespace', 'Namespaces whose HPAs are read (empty = all)', 'a comma-separated list of namespaces', [] as string[], parsers.list()),
    defaultIntervalMs: f('default-collection-interval', 'Poll period without an interval key', 'a duration like 30s', 30_000, parsers.duration({ minMs: 1000 })),
    minIntervalMs: f('min-collection-interval', 'Smallest interval accepted', 'a duration like 5s', 5000, parsers.duration({ minMs: 100 })),
    jitter: f('collection-jitter', 'Random extra delay per poll, a fraction of the interval', 'a number 0-1', 0.1, parsers.number({ min: 0, max: 1 })),
    stalenessFactor: f('max-staleness-factor', 'A value is served for at most this many intervals', 'a number >= 1', 3, parsers.number({ min: 1 })),
    maxBackoffMs: f('max-backoff', 'Cap of the failure backoff', 'a duration like 5m', 300_000, parsers.duration({ minMs: 1000 })),
    readinessCollectionTimeoutMs: f('readiness-collection-timeout', 'Longest wait for the first collection round before /readyz passes', 'a duration like 30s', 30_000, parsers.duration()),
    failureEventThreshold: f('failure-event-threshold', 'Consecutive transient failures before a CollectMetricsFailed Event', 'an integer >= 1', 2, parsers.int({ min: 1 })),
    eventDedupeWindowMs: f('event-dedupe-window', 'At most one write per Event key per window', 'a duration like 10m', 600_000, parsers.duration()),
    prometheusServer: f('prometheus-server', 'Default Prometheus server URL; empty disables the default', 'an http(s) URL', '', (raw) => (raw ? url(raw) : '')),
    additionalPrometheusServers: f('additional-prometheus-server', 'Named Prometheus servers (aliases and allowlist)', 'a comma-separated list of NAME=URL', {} as Record<string, string>, aliases),
    prometheusTokenFile: f('prometheus-server-token-file', 'Bearer token file of the default server (re-read on change)', 'a file path', '', parsers.string),
    prometheusTimeoutMs: f('prometheus-timeout', 'Prometheus query timeout', 'a duration like 10s', 10_000, parsers.duration({ minMs: 100 })),
    prometheusMaxConcurrency: f('prometheus-max-concurrency', 'Concurrent queries per server', 'an integer >= 1', 8, parsers.int({ min: 1 })),
    awsRegions: f('aws-region', 'Allowed SQS regions; none disables the SQS collector', 'a comma-separated list of regions',
      (e: NodeJS.ProcessEnv) => (e.AWS_REGION ? [e.AWS_REGION] : []), parsers.list()),
    sqsMaxRps: f('sqs-max-rps', 'Global rate of SQS calls', 'a number > 0', 50, parsers.number({ min: 0.1 })),
    podScrapeConcurrency: f('pod-scrape-concurrency', 'Concurrent pod scrapes', 'an integer >= 1', 64, parsers.int({ min: 1 })),
    podScrapeMaxBytes: f('pod-scrape-max-bytes', 'Largest pod answer in bytes', 'an integer >= 1024', 4 << 20, parsers.int({ min: 1024 })),
    shutdownDelayMs: f('shutdown-delay', 'Serving time after SIGTERM while /readyz already fails, before the drain', 'a duration like 5s', 5000,
      parsers.duration({ maxMs: 600_000 })),
    shutdownGracePeriodMs: f('shutdown-grace-period', 'SIGTERM drain limit, the delay included', 'a duration like 30s', 30_000, parsers.duration({ minMs: 1000 })),
  };
}
