import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '@kubeaws/node-lifecycle-controller';
import { createTestNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { ROOT } from './load';
import { applyRbac, itChecksRbac, leaseRenewed, waitForAccesses } from './rbac';

// docs/infra.md#infra-manifest-checks for the node-lifecycle-controller: it runs under its own ServiceAccount with
// exactly the shipped RBAC (docs/node-lifecycle-controller.md#nlc-permissions): no 403, every access allowed by a
// SelfSubjectAccessReview with the same token, every granted permission exercised or explained in rbac-unused.yaml.
// No AWS is involved: no queue, no ASG sync, and the node has no AWS providerID (it stops at `drained`).
const dir = path.join(ROOT, 'manifests/node-lifecycle-controller');
let admin: KubeConfig;
let client: KubeClient;
let handle: RunningComponent<NlcConfig, NlcParts> | undefined;
let saKc: KubeConfig;
let accesses: AccessRecord[] = [];
const node = `rbac-nlc-${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  saKc = await applyRbac(admin, client, dir);
  handle = await startComponent(nodeLifecycleController, {
    kubeConfig: saKc,
    argv: ['--cluster-name=rbac', '--aws-region=us-east-1', '--rolling-update=false', '--drain-poll-interval=1s'],
    env: { POD_NAMESPACE: 'kube-system' },
    config: { leaseNamespace: 'kube-system', metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0' },
    identity: 'manifests-test',
    logger: createLogger({ component: 'node-lifecycle-controller', level: 'warn' }),
    processMetrics: false,
  });
  await handle.synced();
  // Exercise: a decommission request (node patch), the drain (Eviction), Events, the Lease, the block ConfigMap.
  await client.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: node, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': node, type: 'kwok' } },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  const ns = await createTestNamespace(admin, 'rbac-nlc');
  await client.create(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'fake' }] },
  });
  await client.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(
    async () => ((await client.get<any>(`/api/v1/nodes/${node}`)).metadata.labels['kubeaws.io/lifecycle-state'] === 'drained' ? true : undefined),
    { timeoutMs: 90_000, description: 'node fenced, drained through the Eviction API' },
  );
  accesses = await waitForAccesses(
    handle!,
    (recorded) => leaseRenewed(recorded) && recorded.some((a) => a.resource === 'events'),
    { timeoutMs: 30_000, description: 'Lease renewed and Events written by the controller' },
  );
}, 240_000);

afterAll(async () => {
  await handle?.stop();
  await client?.delete(`/api/v1/nodes/${node}`).catch(() => undefined);
});

itChecksRbac({
  dir,
  requestsMetric: 'kubeaws_node_lifecycle_controller_api_requests_total',
  run: () => ({ handle, saKc, accesses }),
  // pods/eviction is granted on its own: a rule's subresource must match the access's.
  subresources: true,
});
