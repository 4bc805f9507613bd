import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type AdapterConfig, type AdapterHandle, metricsAdapter } from '@kubeaws/metrics-adapter';
import { createTestNamespace, freePorts, pkiPaths, serviceAccountKubeConfig, TEST_ENV, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { loadFile, ROOT } from './load';

// docs/metrics-adapter.md#ma-permissions: the metrics-adapter runs under its own ServiceAccount with exactly the
// shipped RBAC (the ConfigMap reader RoleBinding, auth-delegator, the ClusterRole): no 403, every access allowed by a
// SelfSubjectAccessReview with the same token, every granted permission exercised or explained in rbac-unused.yaml.
const dir = path.join(ROOT, 'manifests/metrics-adapter');
let admin: KubeConfig;
let client: KubeClient;
let saKc: KubeConfig;
let handle: RunningComponent<AdapterConfig, AdapterHandle> | undefined;
let accesses: AccessRecord[] = [];

async function apply(obj: any): Promise<void> {
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const plural: Record<string, string> = {
    ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', RoleBinding: 'rolebindings',
  };
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  await client.request({
    method: 'PATCH', path: `${base}${ns}/${plural[obj.kind]}/${obj.metadata.name}`,
    query: { fieldManager: 'kubeaws', force: true, fieldValidation: 'Strict' }, contentType: 'application/apply-patch+yaml', body: obj,
  });
}

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  for (const f of ['serviceaccount.yaml', 'rbac.yaml']) for (const obj of loadFile(path.join(dir, f))) await apply(obj);
  saKc = await serviceAccountKubeConfig(admin, 'kube-system', 'kubeaws-metrics-adapter', { expirationSeconds: 3600 });
  const [secure] = await freePorts(1);
  handle = await startComponent(metricsAdapter, {
    kubeConfig: saKc,
    env: {},
    config: {
      leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', securePort: secure,
      secureBindAddress: '127.0.0.1', awsRegions: ['eu-central-1'], readinessCollectionTimeoutMs: 1000,
    },
    identity: 'manifests-test',
    logger: createLogger({ component: 'metrics-adapter', level: 'error' }),
    processMetrics: false,
  });
  await handle.synced();
  // A json-path metric (pods, Deployments and StatefulSets informers) and a bad one (an Event).
  const ns = await createTestNamespace(admin, 'ma-rbac');
  await client.create(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`, {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', annotations: {
      'metric-config.pods.rps.json-path/json-key': '$.rps', 'metric-config.pods.rps.json-path/path': '/m', 'metric-config.pods.rps.json-path/port': '80',
    } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 2,
      metrics: [
        { type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '1' } } },
        { type: 'External', external: { metric: { name: 'q', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'us-east-2' } } }, target: { type: 'AverageValue', averageValue: '1' } } },
      ],
    },
  });
  // One front-proxy request: the ConfigMap's trust anchors and a SubjectAccessReview.
  await waitFor(async () => handle!.handle.address(), { timeoutMs: 30_000, description: 'adapter listening' });
  const pki = pkiPaths(path.join(process.env[TEST_ENV.dataDir]!, 'pki'));
  const status = await waitFor(
    () =>
      new Promise<number | undefined>((resolve) => {
        const req = https.request({
          host: '127.0.0.1', port: secure, path: '/apis/external.metrics.k8s.io/v1beta1', rejectUnauthorized: false, agent: false,
          cert: fs.readFileSync(pki.frontProxyClientCert), key: fs.readFileSync(pki.frontProxyClientKey),
          headers: { 'X-Remote-User': 'kubeaws-admin', 'X-Remote-Group': 'system:masters' },
        }, (res) => {
          res.resume();
          resolve(res.statusCode === 200 ? 200 : undefined);
        });
        req.on('error', () => resolve(undefined));
        req.end();
      }),
    { timeoutMs: 30_000, description: 'front-proxy request answered 200' },
  );
  expect(status).toBe(200);
  const recorded = () => [...handle!.manager.client.accesses(), ...handle!.manager.eventsClient.accesses()];
  await waitFor(
    () => ((accesses = recorded()).some((a) => a.resource === 'events' && a.verb === 'create') && accesses.some((a) => a.resource === 'pods' && a.verb === 'watch') ? true : undefined),
    { timeoutMs: 60_000, description: 'Event written and pods watched' },
  );
}, 180_000);

afterAll(async () => {
  await handle?.stop();
});

it('gets no 403 from the API server', async () => {
  const metrics = await handle!.metrics.registry.getSingleMetricAsString('kubeaws_metrics_adapter_api_requests_total');
  expect(metrics).not.toMatch(/code="403"/);
});

it('has every recorded access allowed by a SelfSubjectAccessReview with its own token', async () => {
  const sa = new KubeClient({ kubeConfig: saKc, component: 'manifests-test' });
  const unique = new Map(accesses.map((a) => [`${a.verb} ${a.group}/${a.resource}/${a.subresource ?? ''} ${a.namespace ?? '*'} ${a.name ?? ''}`, a]));
  const denied: string[] = [];
  for (const [key, a] of unique) {
    const review = await sa.create<any>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name } },
    });
    if (!review.status?.allowed) denied.push(key);
  }
  expect(denied).toEqual([]);
  expect(accesses.some((a) => a.resource === 'subjectaccessreviews' && a.verb === 'create')).toBe(true);
});

it('exercises every granted permission or explains it in rbac-unused.yaml', () => {
  const unused = loadFile(path.join(dir, 'rbac-unused.yaml')).flat() as { apiGroup: string; resource: string; verb: string; reason: string }[];
  const missing: string[] = [];
  for (const role of loadFile(path.join(dir, 'rbac.yaml')).filter((o) => o.kind === 'ClusterRole')) {
    for (const rule of role.rules) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
      const used = accesses.some((a) => a.group === group && a.resource === resource && a.verb === verb);
      const explained = unused.some((u) => u.apiGroup === group && u.resource === resource && u.verb === verb && u.reason);
      if (!used && !explained) missing.push(`${verb} ${group}/${resource}`);
    }
  }
  expect(missing).toEqual([]);
});
