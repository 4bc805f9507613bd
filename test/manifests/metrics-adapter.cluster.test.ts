import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type AdapterConfig, type AdapterHandle, metricsAdapter } from '@kubeaws/metrics-adapter';
import { createTestNamespace, freePorts, pkiPaths, TEST_ENV, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { ROOT } from './load';
import { applyRbac, itChecksRbac, waitForAccesses } from './rbac';

// docs/metrics-adapter.md#ma-permissions: the metrics-adapter runs under its own ServiceAccount with exactly the
// shipped RBAC (the ConfigMap reader RoleBinding, auth-delegator, the ClusterRole): no 403, every access allowed by a
// SelfSubjectAccessReview with the same token, every granted permission exercised or explained in rbac-unused.yaml.
const dir = path.join(ROOT, 'manifests/metrics-adapter');
let admin: KubeConfig;
let client: KubeClient;
let saKc: KubeConfig;
let handle: RunningComponent<AdapterConfig, AdapterHandle> | undefined;
let accesses: AccessRecord[] = [];

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  saKc = await applyRbac(admin, client, dir);
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
  accesses = await waitForAccesses(
    handle!,
    (recorded) => recorded.some((a) => a.resource === 'events' && a.verb === 'create') && recorded.some((a) => a.resource === 'pods' && a.verb === 'watch'),
    { timeoutMs: 60_000, description: 'Event written and pods watched' },
  );
}, 180_000);

afterAll(async () => {
  await handle?.stop();
});

itChecksRbac({
  dir,
  requestsMetric: 'kubeaws_metrics_adapter_api_requests_total',
  run: () => ({ handle, saKc, accesses }),
  requireAccesses: false,
  // front-proxy authentication is authorized by a SubjectAccessReview (system:auth-delegator)
  mustAccess: [{ resource: 'subjectaccessreviews', verb: 'create' }],
  // the RoleBinding binds the built-in extension-apiserver-authentication-reader Role; rbac.yaml ships no Role
  roleKinds: /^ClusterRole$/,
});
