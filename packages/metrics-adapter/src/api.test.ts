/**
 * The HTTP contract on TLS (docs/metrics-adapter.md#ma-routes, #ma-bodies, #ma-errors, #ma-authn): golden bodies
 * for v1beta1, v1beta2 and external, discovery, `%2A`, every error code with its Status, front-proxy headers,
 * forged headers, foreign CAs and CNs outside the allowed names. Loopback only.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { FakeClock, flushMicrotasks, silentLogger } from '@kubeaws/runtime';
import { type ClusterPki, generatePki } from '@kubeaws/testenv';
import { createApiHandler } from './api';
import { type AuthConfig, authConfigFromConfigMap, authenticate, AuthorizationCache, type AccessAttributes, type UserInfo } from './auth';
import { parseHpa, type GrammarSettings, type HpaInput } from './grammar';
import { Registry } from './registry';
import { selfSignedServing } from './tls';
import { kinds } from '../test/discovery-fixture';

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0, 700);
const settings: GrammarSettings = {
  enableCustom: true, enableExternal: true, prometheusServer: 'http://prom:9090', prometheusAliases: {},
  awsRegions: ['eu-central-1'], sqsEndpointHost: (r) => `sqs.${r}.amazonaws.com`, defaultIntervalMs: 30_000, minIntervalMs: 5_000, kinds,
};

let pki: ClusterPki;
let foreign: ClusterPki;
let server: https.Server;
let port: number;
let authCfg: AuthConfig;
let denied = new Set<string>();
let reviews: Array<{ user: UserInfo; attrs: AccessAttributes }> = [];
let authzFails = false;

beforeAll(async () => {
  [pki, foreign] = await Promise.all([generatePki(), generatePki()]);
  authCfg = authConfigFromConfigMap({
    'requestheader-client-ca-file': pki.frontProxyCa.cert,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    'requestheader-uid-headers': '["X-Remote-Uid"]',
    'client-ca-file': pki.ca.cert,
  });
  const clock = new FakeClock(T0);
  const registry = new Registry({
    clock, stalenessFactor: 3, jitter: 0, maxBackoffMs: 1000,
    collect: async (info) => {
      if (info.spec.config.collector === 'sqs-queue-length') return { kind: 'sqs', attributes: { ApproximateNumberOfMessages: 12 } };
      if (info.spec.config.collector === 'json-path')
        return { kind: 'pods', selector: 'app=web', pods: [{ name: 'web-2', labels: { app: 'web' }, doc: { rps: 1.5 } }, { name: 'web-1', labels: { app: 'web' }, doc: { rps: 2 } }] };
      return { kind: 'prometheus', value: 2500000 };
    },
  });
  const hpa: HpaInput = {
    metadata: { namespace: 'shop', name: 'web', annotations: {
      'metric-config.pods.rps.json-path/json-key': '$.rps', 'metric-config.pods.rps.json-path/path': '/m', 'metric-config.pods.rps.json-path/port': '80',
      'metric-config.object.hits.prometheus/query': 'sum(hits)',
    } },
    spec: {
      scaleTargetRef: { kind: 'Deployment', name: 'web' },
      metrics: [
        { type: 'Pods', pods: { metric: { name: 'rps' } } },
        { type: 'Object', object: { metric: { name: 'hits' }, describedObject: { kind: 'Ingress', name: 'web', apiVersion: 'networking.k8s.io/v1' } } },
        { type: 'External', external: { metric: { name: 'my-sqs', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'eu-central-1' } } } } },
        { type: 'External', external: { metric: { name: 'bad', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'us-east-2' } } } } },
      ],
    },
  };
  registry.setHpa('shop/web', { namespace: 'shop', name: 'web' }, parseHpa(hpa, settings));
  await clock.advance(0);
  await flushMicrotasks();
  const authz = new AuthorizationCache({
    allowedTtlMs: 10_000, deniedTtlMs: 10_000,
    review: async (user, attrs) => {
      reviews.push({ user, attrs });
      if (authzFails) throw new Error('boom');
      return { allowed: !denied.has(user.name) };
    },
  });
  const serving = await selfSignedServing({ namespace: 'kube-system', name: 'kubeaws-metrics-adapter' });
  server = https.createServer(
    { ...serving, ca: [authCfg.requestheaderCAPem, authCfg.clientCAPem], requestCert: true, rejectUnauthorized: false },
    createApiHandler({
      registry, enableCustom: true, enableExternal: true,
      authenticate: (req) => authenticate(req, authCfg),
      authorize: (u, a) => authz.authorize(u, a),
      alwaysAllowPaths: ['/healthz'], ready: () => true, logger: silentLogger(),
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
}, 60_000);

afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  denied = new Set();
  reviews = [];
  authzFails = false;
});

interface Opts {
  cert?: { cert: string; key: string } | null;
  headers?: Record<string, string | string[]>;
  method?: string;
}
function get(path: string, o: Opts = {}): Promise<{ status: number; body: any; type?: string }> {
  const cert = o.cert === undefined ? pki.frontProxyClient : o.cert;
  const headers = o.headers ?? { 'X-Remote-User': 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', 'X-Remote-Group': ['system:serviceaccounts', 'system:authenticated'] };
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path, method: o.method ?? 'GET', rejectUnauthorized: false, agent: false,
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
      headers: { accept: 'application/vnd.kubernetes.protobuf, */*', ...headers },
    }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: s.startsWith('{') ? JSON.parse(s) : s, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('discovery', () => {
  it('/apis is an APIGroupList of both groups', async () => {
    const r = await get('/apis', { headers: { 'X-Remote-User': 'u', accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    expect(r.body).toEqual({
      kind: 'APIGroupList', apiVersion: 'v1', groups: [
        { name: 'custom.metrics.k8s.io', versions: [{ groupVersion: 'custom.metrics.k8s.io/v1beta2', version: 'v1beta2' }, { groupVersion: 'custom.metrics.k8s.io/v1beta1', version: 'v1beta1' }], preferredVersion: { groupVersion: 'custom.metrics.k8s.io/v1beta2', version: 'v1beta2' } },
        { name: 'external.metrics.k8s.io', versions: [{ groupVersion: 'external.metrics.k8s.io/v1beta1', version: 'v1beta1' }], preferredVersion: { groupVersion: 'external.metrics.k8s.io/v1beta1', version: 'v1beta1' } },
      ],
    });
  });
  it('APIResourceLists list each configured metric once, sorted', async () => {
    expect((await get('/apis/custom.metrics.k8s.io/v1beta1')).body).toEqual({
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'custom.metrics.k8s.io/v1beta1', resources: [
        { name: 'ingresses.networking.k8s.io/hits', singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] },
        { name: 'pods/rps', singularName: '', namespaced: true, kind: 'MetricValueList', verbs: ['get'] },
      ],
    });
    expect((await get('/apis/external.metrics.k8s.io/v1beta1')).body.resources).toEqual([
      { name: 'my-sqs', singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] },
    ]);
    expect((await get('/apis/external.metrics.k8s.io')).body.preferredVersion).toEqual({ groupVersion: 'external.metrics.k8s.io/v1beta1', version: 'v1beta1' });
  });
});

describe('metric values (golden)', () => {
  it('pods v1beta2 with %2A, sorted by pod, selector null, whole-second timestamps', async () => {
    const r = await get('/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/%2A/rps?labelSelector=app%3Dweb');
    expect(r).toMatchObject({ status: 200 });
    expect(r.body).toEqual({
      kind: 'MetricValueList', apiVersion: 'custom.metrics.k8s.io/v1beta2', metadata: {}, items: [
        { describedObject: { kind: 'Pod', namespace: 'shop', name: 'web-1', apiVersion: 'v1' }, metric: { name: 'rps', selector: null }, timestamp: '2026-01-01T10:00:00Z', value: '2' },
        { describedObject: { kind: 'Pod', namespace: 'shop', name: 'web-2', apiVersion: 'v1' }, metric: { name: 'rps', selector: null }, timestamp: '2026-01-01T10:00:00Z', value: '1500m' },
      ],
    });
  });
  it('pods v1beta1 with *', async () => {
    const r = await get('/apis/custom.metrics.k8s.io/v1beta1/namespaces/shop/pods/*/rps?labelSelector=app%3Dweb');
    expect(r.body.items[0]).toEqual({ describedObject: { kind: 'Pod', namespace: 'shop', name: 'web-1', apiVersion: 'v1' }, metricName: 'rps', timestamp: '2026-01-01T10:00:00Z', value: '2', selector: null });
  });
  it('object v1beta2', async () => {
    const r = await get('/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/ingresses.networking.k8s.io/web/hits');
    expect(r.body.items).toEqual([{ describedObject: { kind: 'Ingress', namespace: 'shop', name: 'web', apiVersion: 'networking.k8s.io/v1' }, metric: { name: 'hits', selector: null }, timestamp: '2026-01-01T10:00:00Z', value: '2500k' }]);
  });
  it('external', async () => {
    const r = await get('/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/my-sqs?labelSelector=' + encodeURIComponent('type=sqs-queue-length,queue-name=q,region=eu-central-1'));
    expect(r.body).toEqual({
      kind: 'ExternalMetricValueList', apiVersion: 'external.metrics.k8s.io/v1beta1', metadata: {},
      items: [{ metricName: 'my-sqs', metricLabels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'eu-central-1' }, timestamp: '2026-01-01T10:00:00Z', value: '12' }],
    });
  });
});

describe('errors are Status bodies', () => {
  it.each<[string, string, Opts, number, string, string]>([
    ['bad selector', '/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/my-sqs?labelSelector=a%20in%20x', {}, 400, 'BadRequest', ''],
    ['repeated parameter', '/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/my-sqs?labelSelector=a&labelSelector=b', {}, 400, 'BadRequest', ''],
    ['bad namespace', '/apis/external.metrics.k8s.io/v1beta1/namespaces/Shop_/x', {}, 400, 'BadRequest', ''],
    ['not configured', '/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/other', {}, 404, 'NotFound', 'MetricNotConfigured'],
    ['invalid config', '/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/bad?labelSelector=' + encodeURIComponent('type=sqs-queue-length,queue-name=q,region=us-east-2'), {}, 404, 'NotFound', 'InvalidMetricConfig'],
    ['root scoped', '/apis/custom.metrics.k8s.io/v1beta2/nodes/n1/x', {}, 404, 'NotFound', 'UnsupportedScope'],
    ['unknown path', '/apis/foo.example.com/v1', {}, 404, 'NotFound', ''],
    ['openapi', '/openapi/v2', {}, 404, 'NotFound', ''],
    ['method', '/apis', { method: 'POST' }, 405, 'MethodNotAllowed', ''],
    ['accept', '/apis', { headers: { 'X-Remote-User': 'u', accept: 'application/vnd.kubernetes.protobuf' } }, 406, 'NotAcceptable', ''],
    ['no credentials, forged headers', '/apis', { cert: null, headers: { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' } }, 401, 'Unauthorized', ''],
  ])('%s', async (_n, path, o, code, reason, cause) => {
    const r = await get(path, o);
    expect(r.status).toBe(code);
    expect(r.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason });
    if (cause) expect(r.body.details.causes[0].reason).toBe(cause);
  });

  it('a forbidden caller gets 403 naming user, verb and resource', async () => {
    denied.add('eve');
    const r = await get('/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/my-sqs', { headers: { 'X-Remote-User': 'eve' } });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('user "eve" cannot list resource "my-sqs" in API group "external.metrics.k8s.io" in the namespace "shop"');
  });
  it('a failed review is a 500 and never allows', async () => {
    authzFails = true;
    const r = await get('/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/my-sqs', { headers: { 'X-Remote-User': 'fresh-user' } });
    expect(r.status).toBe(500);
    expect(r.body.reason).toBe('InternalError');
  });
});

describe('authentication', () => {
  it('reads repeated group headers, extra and uid from the front proxy', async () => {
    await get('/apis/custom.metrics.k8s.io/v1beta2', { headers: { 'X-Remote-User': 'alice', 'X-Remote-Group': ['g1', 'g2'], 'X-Remote-Extra-Scopes%2Fa': 'x', 'X-Remote-Uid': 'u1' } });
    expect(reviews[0]!.user).toEqual({ name: 'alice', groups: ['g1', 'g2', 'system:authenticated'], extra: { 'scopes/a': ['x'] }, uid: 'u1', method: 'front-proxy' });
  });
  it('a client certificate of client-ca-file is a user, and X-Remote headers are ignored there', async () => {
    await get('/apis/custom.metrics.k8s.io/v1beta2', { cert: pki.admin, headers: { 'X-Remote-User': 'mallory' } });
    expect(reviews[0]!.user).toMatchObject({ name: 'kubeaws-admin', groups: ['system:masters', 'system:authenticated'], method: 'client-cert' });
  });
  it('a foreign CA certificate is refused', async () => {
    expect((await get('/apis', { cert: foreign.frontProxyClient })).status).toBe(401);
  });
  it('a CN outside the allowed names is refused', async () => {
    const saved = authCfg.allowedNames;
    authCfg.allowedNames = ['aggregator'];
    try {
      expect((await get('/apis', {})).status).toBe(401);
    } finally {
      authCfg.allowedNames = saved;
    }
  });
});

describe('AuthorizationCache (docs/metrics-adapter.md#ma-authz)', () => {
  const user: UserInfo = { name: 'hpa', groups: ['g'], extra: {}, method: 'front-proxy' };
  const attrs: AccessAttributes = { kind: 'resource', group: 'external.metrics.k8s.io', version: 'v1beta1', resource: 'q', namespace: 'shop', verb: 'list' };
  it('a wildcard-authorized caller costs one review per TTL for the whole group', async () => {
    let now = 0;
    const seen: AccessAttributes[] = [];
    const c = new AuthorizationCache({ allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: () => now, review: async (_u, a) => (seen.push(a), { allowed: true }) });
    expect(await c.authorize(user, attrs)).toEqual({ allowed: true, cache: 'wildcard' });
    expect(await c.authorize(user, { ...attrs, resource: 'other', namespace: 'x' })).toEqual({ allowed: true, cache: 'hit' });
    expect(seen).toEqual([{ kind: 'resource', group: 'external.metrics.k8s.io', version: '*', resource: '*', namespace: '', verb: 'list' }]);
    now = 10_001;
    await c.authorize(user, attrs);
    expect(seen.length).toBe(2);
  });
  it('falls back to the exact review, caches denials for their TTL and shares concurrent misses', async () => {
    let now = 0;
    let n = 0;
    const c = new AuthorizationCache({ allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: () => now, review: async (_u, a) => (n++, { allowed: a.kind === 'resource' && a.resource === 'ok' }) });
    const [a, b] = await Promise.all([c.authorize(user, attrs), c.authorize(user, attrs)]);
    expect([a.allowed, b.allowed]).toEqual([false, false]);
    expect(n).toBe(2); // one wildcard + one exact, shared by both
    expect((await c.authorize(user, attrs)).cache).toBe('hit');
    now = 5_001;
    await c.authorize(user, attrs);
    expect(n).toBe(4);
    expect((await c.authorize(user, { ...attrs, resource: 'ok' })).allowed).toBe(true);
  });
});
