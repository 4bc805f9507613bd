import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type AccessRecord, KubeClient, type RunningComponent, createLogger, startComponent } from '@kubeaws/runtime';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '@kubeaws/node-lifecycle-controller';
import { createTestNamespace, serviceAccountKubeConfig, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { ROOT, loadFile } from './load';

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

async function apply(obj: any): Promise<void> {
  const plural: Record<string, string> = { ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings' };
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  await client.request({
    method: 'PATCH',
    path: `${base}${ns}/${plural[obj.kind]}/${obj.metadata.name}`,
    query: { fieldManager: 'kubeaws', force: true, fieldValidation: 'Strict' },
    contentType: 'application/apply-patch+yaml',
    body: obj,
  });
}

beforeAll(async () => {
  admin = testKubeConfig();
  client = new KubeClient({ kubeConfig: admin, component: 'manifests-test' });
  for (const f of ['serviceaccount.yaml', 'rbac.yaml']) for (const obj of loadFile(path.join(dir, f))) await apply(obj);
  saKc = await serviceAccountKubeConfig(admin, 'kube-system', 'kubeaws-node-lifecycle-controller', { expirationSeconds: 3600 });
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
  const recorded = () => [...handle!.manager.client.accesses(), ...handle!.manager.eventsClient.accesses()];
  await waitFor(
    () => ((accesses = recorded()).some((a) => a.resource === 'leases' && a.verb === 'update') && accesses.some((a) => a.resource === 'events') ? true : undefined),
    { timeoutMs: 30_000, description: 'Lease renewed and Events written by the controller' },
  );
}, 240_000);

afterAll(async () => {
  await handle?.stop();
  await client?.delete(`/api/v1/nodes/${node}`).catch(() => undefined);
});

it('gets no 403 from the API server', async () => {
  const metrics = await handle!.metrics.registry.getSingleMetricAsString('kubeaws_node_lifecycle_controller_api_requests_total');
  expect(metrics).not.toMatch(/code="403"/);
  expect(accesses.length).toBeGreaterThan(0);
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
});

it('exercises every granted permission or explains it in rbac-unused.yaml', () => {
  const unused = loadFile(path.join(dir, 'rbac-unused.yaml')).flat() as { apiGroup: string; resource: string; verb: string; reason: string }[];
  const missing: string[] = [];
  for (const role of loadFile(path.join(dir, 'rbac.yaml')).filter((o) => /^(Cluster)?Role$/.test(o.kind))) {
    for (const rule of role.rules) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) {
      const [res, sub] = resource.split('/');
      const used = accesses.some((a) => a.group === group && a.resource === res && (a.subresource ?? undefined) === sub && a.verb === verb);
      const explained = unused.some((u) => u.apiGroup === group && u.resource === resource && u.verb === verb && u.reason);
      if (!used && !explained) missing.push(`${verb} ${group}/${resource}`);
    }
  }
  expect(missing).toEqual([]);
});
