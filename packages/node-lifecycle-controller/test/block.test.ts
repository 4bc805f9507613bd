/**
 * Blocks against the real local control plane (docs/node-lifecycle-controller.md#nlc-blocks): the controller
 * runs in-process as a ServiceAccount with exactly the ClusterRole of the manifests but, at first, without the
 * Role on the block ConfigMap, so its informer gets real 403s: voluntary work counts as blocked (zero writes on
 * the requested node, Warning `UpdateBlockUnreadable` on the controller's Pod, `update_blocked{scope="cluster"}`
 * 1) until the Role is granted. Then, with the Role in place: a cluster block ConfigMap pauses a voluntary drain
 * (Normal `DrainPaused`/`DrainResumed`) and leaves a requested node untouched; an abort (state label back to `ready`)
 * undoes the fence in one PATCH (Normal `DecommissionAborted`). `--delete-terminated-nodes` deletes terminated Nodes.
 */
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { createTestNamespace, deleteNamespace, serviceAccountKubeConfig, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';

const suffix = Math.random().toString(36).slice(2, 7);
const ROLE = `nlc-block-test-${suffix}`;
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts> | undefined;
const created: string[] = [];

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
}

const getNode = (name: string) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);
const metric = async (name: string, labels: string) => {
  const text = await rc!.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
/** Reconciles of the Node controller that asked to look again after a poll interval (blocked, paused, waiting nodes). */
const requeues = () => metric('reconcile_total', 'controller="nodes",result="requeue_after"');

async function createNode(name: string, labels: Record<string, string> = {}): Promise<void> {
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...labels } },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  created.push(name);
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  ns = await createTestNamespace(kc, 'nlc-block');
  await kube.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nlc' } });
  await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: ROLE },
    rules: [
      // delete: only because this controller runs with --delete-terminated-nodes.
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list', 'watch'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ],
  });
  await kube.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: ROLE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROLE },
    subjects: [{ kind: 'ServiceAccount', name: 'nlc', namespace: ns }],
  });
}, 60_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of created) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  await kube.delete(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ROLE}`).catch(() => undefined);
  await kube.delete(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${ROLE}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
});

it('an unreadable block ConfigMap (403) counts as blocked until it can be read', async () => {
  const saKc = await serviceAccountKubeConfig(kc, ns, 'nlc', { waitForList: ['/api/v1/nodes'] });
  const name = `nlc-unreadable-${suffix}`;
  await createNode(name, { 'kubeaws.io/lifecycle-state': 'decommission-pending' });
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: saKc,
    argv: [
      '--cluster-name=nlc-block', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false',
      '--event-repeat-interval=2s', '--delete-terminated-nodes',
    ],
    env: { POD_NAMESPACE: ns, POD_NAME: 'nlc-self', POD_UID: '00000000-0000-0000-0000-000000000001' },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  // The controller runs (involuntary work would go on) although the block informer gets 403s.
  await waitFor(async () => (await metric('update_blocked', 'scope="cluster"')) === 1, { timeoutMs: 30_000, description: 'cluster counted as blocked' });
  await waitFor(
    async () =>
      (await kube.list<{ reason: string; note?: string; regarding?: { name?: string } }>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items.find(
        // Before the block informer's first LIST has failed, the condition reads "not listed yet"; the 403 follows.
        (e) => e.reason === 'UpdateBlockUnreadable' && e.regarding?.name === 'nlc-self' && (e.note ?? '').includes('403'),
      ),
    { timeoutMs: 30_000, description: 'Warning UpdateBlockUnreadable on the controller Pod naming the 403' },
  ).then((e) => {
    expect(e.note).toContain(`configmap/${ns}/kubeaws-update-block`);
    expect(e.note).toContain('--update-block-configmap');
    expect(e.note).toContain('403');
  });
  // The persisting condition is re-evented once per --event-repeat-interval (2 s here), not on every poll (1 s):
  // two more reports take at least one whole repeat interval, and a window holds at most one report per interval
  // plus the one due at its start. Counted from a sample, not from when the Event was seen, whatever the phase.
  const reports = () => metric('invalid_input_total', 'source="configmap",field="update-block-configmap"');
  const before = await reports();
  const start = Date.now();
  await waitFor(async () => (await reports()) >= before + 2, { timeoutMs: 30_000, description: 'reported again twice' });
  expect(Date.now() - start).toBeGreaterThanOrEqual(1900);
  // Several polls: the blocked requested node is looked at again once per poll interval (1 s).
  const polled = await requeues();
  await waitFor(async () => (await requeues()) >= polled + 3, { timeoutMs: 30_000, description: 'several polls of the blocked node' });
  expect((await reports()) - before).toBeLessThanOrEqual(Math.floor((Date.now() - start) / 2000) + 1);
  // A requested node sees zero writes while blocked (kwok keeps writing its status; no one else writes it).
  expect(rc.manager.client.accesses().filter((a) => !['get', 'list', 'watch'].includes(a.verb) && a.resource === 'nodes')).toEqual([]);
  const n = await getNode(name);
  expect(n.spec?.taints ?? []).toEqual([]);
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('decommission-pending');
  // Granting the Role: the informer recovers, the block lifts and the request proceeds.
  await kube.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'nlc-block' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['kubeaws-update-block'], verbs: ['get', 'list', 'watch'] }],
  });
  await kube.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'nlc-block' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nlc-block' },
    subjects: [{ kind: 'ServiceAccount', name: 'nlc', namespace: ns }],
  });
  await waitFor(async () => ['draining', 'drained'].includes((await getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'] ?? ''), {
    timeoutMs: 90_000,
    description: 'block readable again, request accepted and node fenced',
  });
  expect(await metric('update_blocked', 'scope="cluster"')).toBe(0);
  // Abort it again: the drained node (no providerID, never terminated) would hold the one voluntary slot.
  await kube.mergePatch(`/api/v1/nodes/${name}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'ready' } } });
  await waitFor(async () => !(await getNode(name)).spec?.unschedulable, { timeoutMs: 30_000, description: 'aborted' });
}, 150_000);

it('--delete-terminated-nodes: a terminated Node is deleted', async () => {
  const name = `nlc-terminated-${suffix}`;
  await createNode(name, { 'kubeaws.io/lifecycle-state': 'terminated' });
  await waitFor(async () => (await kube.get(`/api/v1/nodes/${name}`).then(() => false, (e: { statusCode?: number }) => e.statusCode === 404)), {
    timeoutMs: 30_000,
    description: 'terminated Node deleted',
  });
  expect(rc!.manager.client.accesses()).toContainEqual(expect.objectContaining({ verb: 'delete', resource: 'nodes', name }));
});

const eventReasons = async (name: string) =>
  (await kube.list<{ reason: string }>('/api/v1/events', { fieldSelector: `involvedObject.name=${name}` })).items.map((e) => e.reason);

it('a cluster block pauses a voluntary drain and holds requests; an abort undoes the fence', async () => {
  const a = `nlc-paused-${suffix}`;
  const b = `nlc-held-${suffix}`;
  await createNode(a);
  await createNode(b);
  // A pod that its PDB never lets go: node a stays draining.
  await kube.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'keep' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'keep' } } },
  });
  await kube.create(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'keep', labels: { app: 'keep' } },
    spec: { nodeName: a, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
  });
  await kube.mergePatch(`/api/v1/nodes/${a}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => (await getNode(a)).metadata.labels?.['kubeaws.io/lifecycle-state'] === 'draining', { timeoutMs: 30_000, description: 'node a draining' });
  await waitFor(async () => (await metric('evictions_total', 'result="pdb_blocked"')) >= 1, { timeoutMs: 30_000, description: 'eviction blocked by the PDB' });

  await kube.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kubeaws-update-block' }, data: { reason: 'INC-42 test (nlc)' } });
  await waitFor(async () => (await eventReasons(a)).includes('DrainPaused'), { timeoutMs: 30_000, description: 'Normal DrainPaused' });
  expect(await metric('update_blocked', 'scope="cluster"')).toBe(1);
  const evictions = await metric('evictions_total', 'result="pdb_blocked"');
  await kube.mergePatch(`/api/v1/nodes/${b}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  rc!.manager.client.clearAccesses();
  // Several drain rounds: the paused node a is looked at again once per poll interval (1 s); request b waits for the block's informer event.
  const polled = await requeues();
  await waitFor(async () => (await requeues()) >= polled + 3, { timeoutMs: 30_000, description: 'several rounds of the paused node' });
  expect(await metric('evictions_total', 'result="pdb_blocked"')).toBe(evictions); // no evictions while paused
  expect(rc!.manager.client.accesses().filter((x) => x.resource === 'nodes' && x.name === b && !['get', 'list', 'watch'].includes(x.verb))).toEqual([]);
  expect((await getNode(b)).spec?.taints ?? []).toEqual([]);

  await kube.delete(`/api/v1/namespaces/${ns}/configmaps/kubeaws-update-block`);
  await waitFor(async () => (await eventReasons(a)).includes('DrainResumed'), { timeoutMs: 30_000, description: 'Normal DrainResumed' });
  await waitFor(async () => (await getNode(b)).spec?.taints?.some((t) => t.key === 'kubeaws.io/decommission-pending'), { timeoutMs: 30_000, description: 'request b accepted after the block' });
  await waitFor(async () => (await metric('evictions_total', 'result="pdb_blocked"')) > evictions, { timeoutMs: 30_000, description: 'evictions resumed' });

  // Abort: the state label back to ready.
  const fenced = await getNode(a);
  expect(fenced.spec?.unschedulable).toBe(true);
  expect(fenced.metadata.labels?.['node.kubernetes.io/exclude-from-external-load-balancers']).toBe('kubeaws-node-lifecycle');
  await kube.mergePatch(`/api/v1/nodes/${a}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'ready' } } });
  await waitFor(async () => (await eventReasons(a)).includes('DecommissionAborted'), { timeoutMs: 30_000, description: 'Normal DecommissionAborted' });
  const n = await getNode(a);
  expect(n.spec?.unschedulable).toBeFalsy();
  expect((n.spec?.taints ?? []).filter((t) => t.key === 'kubeaws.io/decommission-pending')).toEqual([]);
  expect(n.metadata.labels?.['node.kubernetes.io/exclude-from-external-load-balancers']).toBeUndefined();
  for (const k of ['kubeaws.io/drain-start', 'kubeaws.io/fenced']) expect(n.metadata.annotations?.[k]).toBeUndefined();
  expect((await kube.get<{ metadata: { deletionTimestamp?: string } }>(`/api/v1/namespaces/${ns}/pods/keep`)).metadata.deletionTimestamp).toBeUndefined();
  // The freed slot goes to the held request.
  await waitFor(async () => (await getNode(b)).metadata.labels?.['kubeaws.io/lifecycle-state'] !== 'decommission-pending', { timeoutMs: 30_000, description: 'node b started after the abort freed the slot' });
}, 150_000);
