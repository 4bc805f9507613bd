import { type GrammarSettings, type HpaInput, formatConfigError, parseHpa } from './grammar';
import { kinds, kindsWithRollouts } from '../test/discovery-fixture';

const settings: GrammarSettings = {
  enableCustom: true,
  enableExternal: true,
  prometheusServer: 'http://prometheus.monitoring:9090',
  prometheusAliases: { infra: 'http://prom-infra:9090' },
  awsRegions: ['eu-central-1', 'eu-west-1'],
  sqsEndpointHost: (r) => `sqs.${r}.amazonaws.com`,
  defaultIntervalMs: 30_000,
  minIntervalMs: 5_000, kinds,
};

type M = NonNullable<NonNullable<HpaInput['spec']>['metrics']>[number];
const ext = (name: string, matchLabels?: Record<string, string>): M => ({
  type: 'External',
  external: { metric: { name, selector: matchLabels ? { matchLabels } : null } },
});
const pods = (name: string): M => ({ type: 'Pods', pods: { metric: { name } } });
const obj = (name: string): M => ({
  type: 'Object',
  object: { metric: { name }, describedObject: { kind: 'Ingress', name: 'web', apiVersion: 'networking.k8s.io/v1' } },
});
const hpa = (annotations: Record<string, string>, metrics: M[], kind = 'Deployment'): HpaInput => ({
  metadata: { namespace: 'shop', name: 'web', annotations },
  spec: { scaleTargetRef: { kind, name: 'web', apiVersion: 'apps/v1' }, metrics },
});
const JP = {
  'metric-config.pods.rps.json-path/json-key': '$.http_server.rps',
  'metric-config.pods.rps.json-path/path': '/metrics',
  'metric-config.pods.rps.json-path/port': '9090',
};

describe('parseHpa: valid kube-metrics-adapter examples', () => {
  it('json-path pods metric', () => {
    const r = parseHpa(hpa(JP, [pods('rps')]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]).toMatchObject({
      type: 'pods', name: 'rps', intervalMs: 30_000,
      config: { collector: 'json-path', port: 9090, path: '/metrics', scheme: 'http', jsonKey: '$.http_server.rps', connectTimeoutMs: 3000, requestTimeoutMs: 10_000 },
    });
  });
  it('json-eval with aggregator and interval', () => {
    const r = parseHpa(hpa({
      'metric-config.pods.busy.json-path/json-eval': "ceil($['active processes'] / $['total processes'] * 100)",
      'metric-config.pods.busy.json-path/path': '/status', 'metric-config.pods.busy.json-path/port': '80',
      'metric-config.pods.busy.json-path/aggregator': 'max', 'metric-config.pods.busy.json-path/interval': '1m',
      'metric-config.pods.busy.json-path/scheme': 'https', 'metric-config.pods.busy.json-path/raw-query': 'a=b',
    }, [pods('busy')]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]!.config).toMatchObject({ aggregator: 'max', scheme: 'https', rawQuery: 'a=b' });
    expect(r.specs[0]!.intervalMs).toBe(60_000);
  });
  it('prometheus external metric by annotation', () => {
    const r = parseHpa(hpa({ 'metric-config.external.processed.prometheus/query': ' sum(rate(x[1m])) ' },
      [ext('processed', { type: 'prometheus' })]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]!.config).toEqual({ collector: 'prometheus', server: 'http://prometheus.monitoring:9090', query: 'sum(rate(x[1m]))', perReplica: false });
  });
  it('prometheus object metric with alias and per-replica', () => {
    const r = parseHpa(hpa({
      'metric-config.object.rps.prometheus/query': 'sum(rate(r[1m]))',
      'metric-config.object.rps.prometheus/prometheus-server-alias': 'infra',
      'metric-config.object.rps.prometheus/per-replica': '',
    }, [obj('rps')]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]).toMatchObject({ describedObject: { kind: 'Ingress', name: 'web' }, config: { server: 'http://prom-infra:9090', perReplica: true } });
  });
  it('sqs by labels only', () => {
    const r = parseHpa(hpa({}, [ext('my-sqs', { type: 'sqs-queue-length', 'queue-name': 'foobar', region: 'eu-central-1' })]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]!.config).toEqual({ collector: 'sqs-queue-length', region: 'eu-central-1', queueName: 'foobar', includeInFlight: false, includeDelayed: false });
    expect(r.specs[0]!.selectorKey).toBe('queue-name=foobar,region=eu-central-1,type=sqs-queue-length');
  });
  it('sqs queue-url derives the region; annotations override labels', () => {
    const r = parseHpa(hpa({
      'metric-config.external.q.sqs-queue-length/queue-url': 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs.fifo',
      'metric-config.external.q.sqs-queue-length/include-in-flight': 'true',
    }, [ext('q', { type: 'sqs-queue-length', 'include-in-flight': 'false' })]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]!.config).toMatchObject({ region: 'eu-west-1', queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/jobs.fifo', includeInFlight: true });
  });
  it('ignores Resource metrics and metrics of a disabled group', () => {
    const r = parseHpa(hpa({}, [{ type: 'Resource' }, ext('x')]), { ...settings, enableExternal: false });
    expect(r).toEqual({ specs: [], errors: [] });
  });
});

describe('parseHpa: bad input (docs/metrics-adapter.md#ma-bad-input)', () => {
  const sqs = { type: 'sqs-queue-length', 'queue-name': 'q', region: 'eu-central-1' };
  it.each<[string, Record<string, string>, M[], string, string, boolean?]>([
    ['no slash', { 'metric-config.external.x.prometheus': 'q' }, [], 'MalformedAnnotationKey', 'metadata.annotations[metric-config.external.x.prometheus]'],
    ['too few segments', { 'metric-config.external.prometheus/query': 'q' }, [], 'MalformedAnnotationKey', 'metadata.annotations[metric-config.external.prometheus/query]'],
    ['dotted name', { 'metric-config.external.a.b.prometheus/query': 'q' }, [], 'DottedMetricName', 'metadata.annotations[metric-config.external.a.b.prometheus/query]'],
    ['unknown type', { 'metric-config.extrenal.x.prometheus/query': 'q' }, [], 'UnknownMetricType', 'metadata.annotations[metric-config.extrenal.x.prometheus/query]'],
    ['unknown collector', { 'metric-config.external.x.prometeus/query': 'q' }, [ext('x')], 'UnknownCollector', 'metadata.annotations[metric-config.external.x.prometeus/query]'],
    ['phase 2 collector', {}, [ext('x', { type: 'requests-per-second', hostnames: 'a.b' })], 'CollectorDisabled', 'spec.metrics[0].external.metric.selector.matchLabels.type'],
    ['sqs on pods', { 'metric-config.pods.x.sqs-queue-length/queue-name': 'q' }, [pods('x')], 'CollectorNotSupportedForType', 'metadata.annotations[metric-config.pods.x.sqs-queue-length/queue-name]'],
    ['two collectors', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.sqs-queue-length/queue-name': 'q' }, [ext('x')], 'ConflictingCollectors', 'metadata.annotations[metric-config.external.x.prometheus/query]'],
    ['label vs annotation', { 'metric-config.external.x.prometheus/query': 'q' }, [ext('x', { type: 'sqs-queue-length' })], 'ConflictingCollectors', 'spec.metrics[0].external.metric.selector.matchLabels.type'],
    ['undeclared', { ...JP }, [], 'UndeclaredMetric', 'metadata.annotations[metric-config.pods.rps.json-path/json-key]', true],
    ['not configured', {}, [ext('x')], 'MetricNotConfigured', 'spec.metrics[0].external.metric.selector.matchLabels.type'],
    ['legacy name-as-type', {}, [ext('prometheus')], 'UnsupportedLegacyConfig', 'spec.metrics[0].external.metric.selector.matchLabels.type'],
    ['legacy query-name', {}, [ext('x', { 'query-name': 'q' })], 'UnsupportedLegacyConfig', 'spec.metrics[0].external.metric.selector.matchLabels.type'],
    ['unknown key', { ...JP, 'metric-config.pods.rps.json-path/json_key': 'x' }, [pods('rps')], 'UnknownConfigKey', 'metadata.annotations[metric-config.pods.rps.json-path/json_key]', true],
    ['missing port', { 'metric-config.pods.rps.json-path/json-key': '$.a', 'metric-config.pods.rps.json-path/path': '/m' }, [pods('rps')], 'MissingConfigKey', 'metadata.annotations[metric-config.pods.rps.json-path/port]'],
    ['missing query', { 'metric-config.external.x.prometheus/interval': '30s' }, [ext('x')], 'MissingConfigKey', 'metadata.annotations[metric-config.external.x.prometheus/query]'],
    ['missing queue', {}, [ext('x', { type: 'sqs-queue-length', region: 'eu-central-1' })], 'MissingConfigKey', 'spec.metrics[0].external.metric.selector.matchLabels.queue-name'],
    ['key + eval', { ...JP, 'metric-config.pods.rps.json-path/json-eval': '$.a' }, [pods('rps')], 'ConflictingConfigKeys', 'metadata.annotations[metric-config.pods.rps.json-path/json-eval]'],
    ['server + alias', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/prometheus-server': 'http://a', 'metric-config.external.x.prometheus/prometheus-server-alias': 'infra' }, [ext('x')], 'ConflictingConfigKeys', 'metadata.annotations[metric-config.external.x.prometheus/prometheus-server]'],
    ['name + url', {}, [ext('x', { ...sqs, 'queue-url': 'x' })], 'ConflictingConfigKeys', 'spec.metrics[0].external.metric.selector.matchLabels.queue-url'],
    ['bad jsonpath', { ...JP, 'metric-config.pods.rps.json-path/json-key': '$.[' }, [pods('rps')], 'InvalidJSONPath', 'metadata.annotations[metric-config.pods.rps.json-path/json-key]'],
    ['bad json-eval', { 'metric-config.pods.rps.json-path/json-eval': 'eval($.a)', 'metric-config.pods.rps.json-path/path': '/m', 'metric-config.pods.rps.json-path/port': '1' }, [pods('rps')], 'InvalidExpression', 'metadata.annotations[metric-config.pods.rps.json-path/json-eval]'],
    ['bare interval', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/interval': '60' }, [ext('x')], 'InvalidDuration', 'metadata.annotations[metric-config.external.x.prometheus/interval]'],
    ['negative interval', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/interval': '-1s' }, [ext('x')], 'InvalidDuration', 'metadata.annotations[metric-config.external.x.prometheus/interval]'],
    ['interval below minimum', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/interval': '1s' }, [ext('x')], 'InvalidDuration', 'metadata.annotations[metric-config.external.x.prometheus/interval]'],
    ['timeout ≥ interval', { ...JP, 'metric-config.pods.rps.json-path/interval': '10s' }, [pods('rps')], 'InvalidDuration', 'metadata.annotations[metric-config.pods.rps.json-path/interval]'],
    ['bad port', { ...JP, 'metric-config.pods.rps.json-path/port': '70000' }, [pods('rps')], 'InvalidConfigValue', 'metadata.annotations[metric-config.pods.rps.json-path/port]'],
    ['bad scheme', { ...JP, 'metric-config.pods.rps.json-path/scheme': 'ftp' }, [pods('rps')], 'InvalidConfigValue', 'metadata.annotations[metric-config.pods.rps.json-path/scheme]'],
    ['bad aggregator', { ...JP, 'metric-config.pods.rps.json-path/aggregator': 'median' }, [pods('rps')], 'InvalidConfigValue', 'metadata.annotations[metric-config.pods.rps.json-path/aggregator]'],
    ['bad boolean', {}, [ext('x', { ...sqs, 'include-delayed': 'yes' })], 'InvalidConfigValue', 'spec.metrics[0].external.metric.selector.matchLabels.include-delayed'],
    ['bad queue name', {}, [ext('x', { ...sqs, 'queue-name': 'a.b' })], 'InvalidConfigValue', 'spec.metrics[0].external.metric.selector.matchLabels.queue-name'],
    ['foreign queue host', { 'metric-config.external.x.sqs-queue-length/queue-url': 'https://evil.example.com/123456789012/q' }, [ext('x', { type: 'sqs-queue-length', region: 'eu-central-1' })], 'InvalidConfigValue', 'metadata.annotations[metric-config.external.x.sqs-queue-length/queue-url]'],
    ['free-form server', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/prometheus-server': 'http://evil:9090' }, [ext('x')], 'PrometheusServerNotAllowed', 'metadata.annotations[metric-config.external.x.prometheus/prometheus-server]'],
    ['unknown alias', { 'metric-config.external.x.prometheus/query': 'q', 'metric-config.external.x.prometheus/prometheus-server-alias': 'infr' }, [ext('x')], 'UnknownPrometheusAlias', 'metadata.annotations[metric-config.external.x.prometheus/prometheus-server-alias]'],
    ['region not allowed', {}, [ext('x', { ...sqs, region: 'us-east-2' })], 'RegionNotAllowed', 'spec.metrics[0].external.metric.selector.matchLabels.region'],
    ['role-arn (phase 2)', { 'metric-config.external.x.sqs-queue-length/role-arn': 'arn:aws:iam::1:role/r' }, [ext('x', sqs)], 'CollectorDisabled', 'metadata.annotations[metric-config.external.x.sqs-queue-length/role-arn]'],
  ])('%s', (_name, annotations, metrics, cause, field, warning = false) => {
    const r = parseHpa(hpa(annotations, metrics), settings);
    expect(r.errors.map((e) => ({ cause: e.cause, field: e.field, warning: e.warning }))).toContainEqual({ cause, field, warning });
    if (!warning) expect(r.specs).toEqual([]);
    for (const e of r.errors) expect(formatConfigError(e)).toMatch(/^\w+\/.*: .+ \(cause \w+; field .+\)$/);
  });

  it('unsupported scale target', () => {
    const r = parseHpa(hpa(JP, [pods('rps')], 'ReplicaSet'), settings);
    expect(r.errors.map((e) => [e.cause, e.field])).toEqual([['UnsupportedScaleTarget', 'spec.scaleTargetRef.kind']]);
  });
  it('Argo Rollouts are scale targets only where argoproj.io is served (docs/metrics-adapter.md#ma-kinds)', () => {
    const rollout: HpaInput = { ...hpa(JP, [pods('rps')]), spec: { scaleTargetRef: { kind: 'Rollout', name: 'web', apiVersion: 'argoproj.io/v1alpha1' }, metrics: [pods('rps')] } };
    const without = parseHpa(rollout, settings);
    expect(without.specs).toEqual([]);
    expect(without.errors.map((e) => [e.cause, e.field])).toEqual([['UnsupportedScaleTarget', 'spec.scaleTargetRef.kind']]);
    expect(without.errors[0]!.message).toContain('not served');
    const served = parseHpa(rollout, { ...settings, kinds: kindsWithRollouts });
    expect(served.errors).toEqual([]);
    expect(served.specs[0]!.scaleTarget).toEqual({ kind: 'Rollout', name: 'web', apiVersion: 'argoproj.io/v1alpha1' });
    // a Deployment of another group is not ours
    expect(parseHpa({ ...rollout, spec: { ...rollout.spec, scaleTargetRef: { kind: 'Deployment', name: 'web', apiVersion: 'example.com/v1' } } }, settings).errors[0]!.cause)
      .toBe('UnsupportedScaleTarget');
  });
  it.each<[string, { kind: string; apiVersion?: string }, string]>([
    ['Ingress', { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1' }, 'ingresses.networking.k8s.io'],
    ['a CRD', { kind: 'RouteGroup', apiVersion: 'zalando.org/v1' }, 'routegroups.zalando.org'],
    ['an irregular plural', { kind: 'Endpoints', apiVersion: 'v1' }, 'endpoints'],
    ['core without apiVersion', { kind: 'Service' }, 'services'],
    ['the Namespace', { kind: 'Namespace', apiVersion: 'v1' }, 'namespaces'],
  ])('object kinds map to resources through discovery: %s', (_n, d, resource) => {
    const r = parseHpa(hpa({ 'metric-config.object.hits.prometheus/query': 'sum(x)' },
      [{ type: 'Object', object: { metric: { name: 'hits' }, describedObject: { ...d, name: 'web' } } }]), settings);
    expect(r.errors).toEqual([]);
    expect(r.specs[0]!.describedResource).toBe(resource);
  });
  it('a described kind unknown to discovery is UnknownObjectKind', () => {
    const r = parseHpa(hpa({ 'metric-config.object.hits.prometheus/query': 'sum(x)' },
      [{ type: 'Object', object: { metric: { name: 'hits' }, describedObject: { kind: 'Gateway', name: 'gw', apiVersion: 'gateway.networking.k8s.io/v1' } } }]), settings);
    expect(r.specs).toEqual([]);
    expect(r.errors.map((e) => [e.cause, e.field, e.value])).toEqual([['UnknownObjectKind', 'spec.metrics[0].object.describedObject.kind', 'Gateway']]);
    expect(formatConfigError(r.errors[0]!)).toContain('is not served by this cluster\'s API');
  });
  it('disabled collectors name the flag', () => {
    const r = parseHpa(hpa({}, [ext('x', { type: 'sqs-queue-length', 'queue-name': 'q', region: 'r' }), ext('y', { type: 'prometheus' })]),
      { ...settings, awsRegions: [], prometheusServer: undefined, prometheusAliases: {} });
    expect(r.errors.map((e) => e.cause)).toEqual(['CollectorDisabled', 'CollectorDisabled']);
    expect(r.errors[0]!.message).toContain('--aws-region');
    expect(r.errors[1]!.message).toContain('--prometheus-server');
  });
  it('one bad metric leaves the others alone; unknown key still runs', () => {
    const r = parseHpa(hpa({ ...JP, 'metric-config.pods.rps.json-path/jsonkey': 'x', 'metric-config.external.bad.prometeus/query': 'q' },
      [pods('rps'), ext('bad'), ext('q', { type: 'sqs-queue-length', 'queue-name': 'q', region: 'eu-west-1' })]), settings);
    expect(r.specs.map((s) => s.name)).toEqual(['rps', 'q']);
    expect(r.errors.map((e) => e.cause).sort()).toEqual(['UnknownCollector', 'UnknownConfigKey']);
  });
  it('lists collectors closest match first', () => {
    const r = parseHpa(hpa({ 'metric-config.external.x.prometeus/query': 'q' }, [ext('x')]), settings);
    expect(r.errors[0]!.message).toContain('valid: prometheus,');
  });
  it('formats the Event message', () => {
    const r = parseHpa(hpa({}, [ext('my-sqs', { type: 'sqs-queue-length', 'queue-name': 'q', region: 'us-east-2' })]), settings);
    expect(formatConfigError(r.errors[0]!)).toBe(
      'external/my-sqs: region "us-east-2" is not allowed; allowed: eu-central-1, eu-west-1 (cause RegionNotAllowed; field spec.metrics[0].external.metric.selector.matchLabels.region)',
    );
  });
});
