/**
 * The APIService ownership check against the real kube-apiserver (docs/metrics-adapter.md#ma-preflight): every
 * preflight state and exit code, and the running adapter's read-only `apiservice_owned` gauge following the
 * APIServices by watch; then the SIGTERM sequence (docs/metrics-adapter.md#ma-shutdown): `/readyz` fails at once
 * while the API keeps serving for `--shutdown-delay`, then the listener closes. Polls with deadlines; loopback only.
 */
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { freePorts, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { metricsAdapter } from '../src/component';
import { OUR_APISERVICES, preflight } from '../src/preflight';
import type { AdapterConfig, AdapterHandle } from '../src/setup';

let admin: KubeConfig;
let client: KubeClient;
let rc: RunningComponent<AdapterConfig, AdapterHandle> | undefined;
let securePort: number;

const APISERVICES = '/apis/apiregistration.k8s.io/v1/apiservices';
const deleteOurs = async () => {
  for (const a of OUR_APISERVICES) await client.request({ method: 'DELETE', path: `${APISERVICES}/${a.name}` }).catch(() => undefined);
};
async function applyApiService(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): Promise<void> {
  const [version, ...group] = name.split('.');
  await client.request({
    method: 'PATCH',
    path: `${APISERVICES}/${name}`,
    query: { fieldManager: 'metrics-adapter-test', force: true },
    contentType: 'application/apply-patch+yaml',
    body: {
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name, labels },
      spec: { group: group.join('.'), version, groupPriorityMinimum: 100, versionPriority: 100, ...spec },
    },
  });
}
const service = (namespace: string, name: string) => ({ service: { namespace, name, port: 443 }, insecureSkipTLSVerify: true });
async function runPreflight(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await preflight({ argv, env: {}, kubeConfig: admin, out: (l) => out.push(l) });
  return { code, out };
}
async function owned(): Promise<Record<string, number>> {
  const m = await rc!.metrics.registry.getSingleMetric('kubeaws_metrics_adapter_apiservice_owned')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.apiservice), v.value]));
}
function get(port: number, path: string): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('refused'));
    req.end();
  });
}

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'metrics-adapter-test' });
  await deleteOurs();
  [securePort] = (await freePorts(1)) as [number];
}, 60_000);

afterAll(async () => {
  await rc?.stop();
  await deleteOurs();
});

it('preflight: absent everywhere exits 0; an invalid flag is a ConfigError before any API call', async () => {
  expect(await runPreflight()).toEqual({
    code: 0,
    out: ['v1beta2.custom.metrics.k8s.io absent', 'v1beta1.custom.metrics.k8s.io absent', 'v1beta1.external.metrics.k8s.io absent'],
  });
  await expect(runPreflight('--service', 'not-a-service')).rejects.toBeInstanceOf(ConfigError);
});

it('preflight: ours, local and foreign; exit 2 naming the owner and the file, --allow-takeover exits 0', async () => {
  await applyApiService('v1beta2.custom.metrics.k8s.io', service('kube-system', 'kubeaws-metrics-adapter'));
  await applyApiService('v1beta1.custom.metrics.k8s.io', { service: null });
  await applyApiService('v1beta1.external.metrics.k8s.io', service('keda', 'keda-operator-metrics-apiserver'));
  const r = await runPreflight();
  expect(r.code).toBe(2);
  expect(r.out.slice(0, 3)).toEqual([
    'v1beta2.custom.metrics.k8s.io ours',
    'v1beta1.custom.metrics.k8s.io local',
    'v1beta1.external.metrics.k8s.io foreign:keda/keda-operator-metrics-apiserver',
  ]);
  expect(r.out.slice(3)).toEqual([
    expect.stringMatching(/^error: APIService v1beta1\.custom\.metrics\.k8s\.io is served by the kube-apiserver itself .*apiservice-custom\.yaml out$/),
    expect.stringMatching(/^error: APIService v1beta1\.external\.metrics\.k8s\.io belongs to Service keda\/keda-operator-metrics-apiserver: leave manifests\/metrics-adapter\/apiservice-external\.yaml out/),
  ]);
  expect((await runPreflight('--allow-takeover')).code).toBe(0);
  // our label makes a differently named Service ours (an install under another name)
  await applyApiService('v1beta1.custom.metrics.k8s.io', service('platform', 'metrics'), { 'kubeaws.io/component': 'metrics-adapter' });
  expect((await runPreflight()).out[1]).toBe('v1beta1.custom.metrics.k8s.io ours');
});

it('the running adapter exports apiservice_owned and follows changes by watch, writing no APIService', async () => {
  rc = await startComponent(metricsAdapter, {
    kubeConfig: admin,
    env: {},
    config: {
      leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0',
      securePort, secureBindAddress: '127.0.0.1', readinessCollectionTimeoutMs: 1000,
    },
    logger: createLogger({ component: 'metrics-adapter', level: 'error' }),
    processMetrics: false,
  });
  await rc.synced();
  await waitFor(async () => {
    const o = await owned();
    return o['v1beta2.custom.metrics.k8s.io'] === 1 && o['v1beta1.custom.metrics.k8s.io'] === 1 && o['v1beta1.external.metrics.k8s.io'] === 0 ? o : undefined;
  }, { timeoutMs: 30_000, description: 'apiservice_owned: custom ours, external foreign' });
  await applyApiService('v1beta1.external.metrics.k8s.io', service('kube-system', 'kubeaws-metrics-adapter'));
  await waitFor(async () => ((await owned())['v1beta1.external.metrics.k8s.io'] === 1 ? true : undefined),
    { timeoutMs: 30_000, description: 'apiservice_owned of the external APIService turns 1' });
  await client.request({ method: 'DELETE', path: `${APISERVICES}/v1beta2.custom.metrics.k8s.io` });
  await waitFor(async () => ((await owned())['v1beta2.custom.metrics.k8s.io'] === 0 ? true : undefined),
    { timeoutMs: 30_000, description: 'apiservice_owned of a deleted APIService turns 0' });
  expect(rc.manager.client.accesses().filter((a) => a.resource === 'apiservices').map((a) => a.verb).sort()).toEqual(['list', 'watch']);
}, 90_000);

it('SIGTERM: /readyz fails at once, the API keeps serving for --shutdown-delay, then the listener closes', async () => {
  const health = rc!.addresses.health!.url;
  await waitFor(async () => (await get(securePort, '/livez')) === 200 || undefined, { timeoutMs: 30_000, description: 'adapter serving' });
  const t0 = Date.now();
  const stopped = rc!.stop();
  // the runtime's probe server answers a failing check with 500, as the kube-apiserver does
  await waitFor(async () => ((await fetch(`${health}/readyz`).then((r) => r.status, () => 0)) === 500 ? true : undefined),
    { timeoutMs: 5_000, intervalMs: 50, description: 'probe /readyz failing' });
  expect(await get(securePort, '/readyz')).toBe(503);
  expect(await get(securePort, '/livez')).toBe(200); // still serving
  expect(Date.now() - t0).toBeLessThan(rc!.config.shutdownDelayMs);
  await stopped;
  expect(Date.now() - t0).toBeGreaterThanOrEqual(rc!.config.shutdownDelayMs);
  expect(await get(securePort, '/livez')).toBe('refused');
  rc = undefined;
}, 60_000);
