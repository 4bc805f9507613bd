/**
 * Drain mechanics against the real local control plane (docs/node-lifecycle-controller.md#nlc-drain, #nlc-sla): the
 * kube-apiserver's Eviction API with its admission (namespace lifecycle) and the disruption controller, the
 * namespace controller, the StatefulSet controller, the scheduler and kwok nodes.
 * - A pod in a namespace being deleted: Evictions are refused with 403 `NamespaceTerminating` during the namespace
 *   controller's grace period, which the drain waits out; a pod held by a finalizer stays terminating past its grace
 *   period plus `--pod-termination-headroom` and no longer holds the node (Warning `PodStuckTerminating`).
 * - A StatefulSet pod evicted and recreated with the same name on another node: the new pod (same name, new UID, not
 *   on the draining node) is not a candidate and is never evicted.
 * - A pod selected by two PDBs: the API server answers 500; Warning `MultiplePDBs` names both PDBs, and the pod counts
 *   as PDB-blocked, so the SLA forces it once the gates hold (clock moved forward).
 * The controller runs in-process with a settable clock over real time (the last test moves it by hours).
 */
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { createTestNamespace, deleteNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { SettableClock, auditOffset, auditWritesSince } from './support';

const H = 3_600_000;

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}
interface PodObj {
  metadata: { name: string; uid: string; deletionTimestamp?: string; finalizers?: string[] };
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
interface EventObj {
  reason: string;
  note?: string;
  regarding?: { name?: string; namespace?: string };
}

const suffix = Math.random().toString(36).slice(2, 7);
const clock = new SettableClock();
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const createdNodes: string[] = [];
const extraNamespaces: string[] = [];

const state = async (name: string) => (await kube.get<NodeObj>(`/api/v1/nodes/${name}`)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const request = (name: string) => kube.mergePatch(`/api/v1/nodes/${name}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
const metric = async (name: string, labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const events = async (namespace: string) => (await kube.list<EventObj>(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`)).items;
const getPod = (namespace: string, name: string) => kube.get<PodObj>(`/api/v1/namespaces/${namespace}/pods/${name}`);
const isReady = (p: PodObj) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function createNode(name: string, labels: Record<string, string> = {}): Promise<void> {
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...labels } },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  createdNodes.push(name);
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: `kwok node ${name} Ready`,
  });
}

async function createPod(namespace: string, name: string, node: string, extra: { labels?: Record<string, string>; finalizers?: string[] } = {}): Promise<void> {
  await kube.create(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: extra.labels, finalizers: extra.finalizers },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
  });
  await waitFor(async () => isReady(await getPod(namespace, name)), { timeoutMs: 60_000, description: `pod ${namespace}/${name} Ready` });
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  ns = await createTestNamespace(kc, 'nlc-drain');
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    clock,
    argv: [
      '--cluster-name=nlc-drain', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false',
      '--pod-termination-headroom=2s', '--max-concurrent-drains=10', '--terminate-instances=false',
    ],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();
}, 120_000);

afterAll(async () => {
  await rc?.stop();
  // Release pods held by the test finalizer, then remove what the tests created.
  for (const namespace of [ns, ...extraNamespaces]) {
    const pods = await kube.list<PodObj>(`/api/v1/namespaces/${namespace}/pods`).catch(() => ({ items: [] as PodObj[] }));
    for (const p of pods.items)
      if (p.metadata.finalizers?.length) await kube.mergePatch(`/api/v1/namespaces/${namespace}/pods/${p.metadata.name}`, { metadata: { finalizers: null } }).catch(() => undefined);
  }
  for (const n of createdNodes) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  for (const namespace of [ns, ...extraNamespaces]) await deleteNamespace(kc, namespace).catch(() => undefined);
});

it('a pod in a terminating namespace is waited for (403 NamespaceTerminating); a pod stuck terminating stops holding the node after its grace period plus headroom', async () => {
  const node = `nlc-term-${suffix}`;
  await createNode(node);
  const nsTerm = await createTestNamespace(kc, 'nlc-term');
  extraNamespaces.push(nsTerm);
  // `held`: a PDB never lets it go, until its namespace is deleted. `stuck`: a finalizer keeps it terminating.
  await kube.create(`/apis/policy/v1/namespaces/${nsTerm}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'held' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'held' } } },
  });
  await createPod(nsTerm, 'held', node, { labels: { app: 'held' } });
  await createPod(ns, 'stuck', node, { finalizers: ['kubeaws.io/test-hold'] });
  const stuckUid = (await getPod(ns, 'stuck')).metadata.uid;
  const auditFrom = await auditOffset();
  await request(node);
  await waitFor(async () => (await state(node)) === 'draining', { timeoutMs: 30_000, description: 'node fenced' });
  // `stuck` is evicted (no PDB) and stays terminating behind its finalizer; `held` is blocked by its PDB.
  await waitFor(async () => (await getPod(ns, 'stuck')).metadata.deletionTimestamp, { timeoutMs: 30_000, description: 'stuck pod evicted and terminating' });
  await waitFor(async () => (await metric('evictions_total', 'result="pdb_blocked"')) >= 1, { timeoutMs: 30_000, description: 'held pod blocked by its PDB' });
  // Stuck after its grace period (1 s) plus the headroom (2 s): reported, and it no longer holds the node.
  await waitFor(async () => (await events(ns)).find((e) => e.reason === 'PodStuckTerminating' && e.regarding?.name === 'stuck'), {
    timeoutMs: 30_000,
    description: 'Warning PodStuckTerminating on the stuck pod',
  });
  expect(await state(node)).toBe('draining'); // `held` still holds it

  // The namespace goes away: Evictions in it are refused (403 NamespaceTerminating) until the namespace controller,
  // after its 5 s grace period, deletes the pod; the drain waits, then completes.
  await kube.delete(`/api/v1/namespaces/${nsTerm}`);
  await waitFor(async () => (await metric('evictions_total', 'result="namespace_terminating"')) >= 1, { timeoutMs: 30_000, description: 'an Eviction refused with 403 NamespaceTerminating' });
  expect(await metric('evictions_total', 'result="error"')).toBe(0);
  await waitFor(async () => (await state(node)) === 'drained', { timeoutMs: 90_000, description: 'node drained once the namespace controller removed the pod' });
  // The stuck pod is still there, terminating; the controller evicted it once and never deleted it.
  const stuck = await getPod(ns, 'stuck');
  expect(stuck.metadata.uid).toBe(stuckUid);
  expect(stuck.metadata.deletionTimestamp).toBeDefined();
  const writes = await auditWritesSince(auditFrom);
  expect(writes.filter((w) => w.includes(`/namespaces/${ns}/pods/stuck`))).toEqual([`create /api/v1/namespaces/${ns}/pods/stuck/eviction`]);
  expect(writes.filter((w) => w.startsWith('delete ') && w.includes('/pods/'))).toEqual([]);
}, 150_000);

it('a StatefulSet pod evicted and recreated with the same name on another node is not evicted again', async () => {
  const a = `nlc-sts-a-${suffix}`;
  const b = `nlc-sts-b-${suffix}`;
  await createNode(a, { 'nlc-sts': suffix });
  await createNode(b);
  await kube.create(`/apis/apps/v1/namespaces/${ns}/statefulsets`, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web' },
    spec: {
      serviceName: 'web',
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          // No tolerations: the cordon and the pending taint keep the recreated pod off node a.
          nodeSelector: { 'nlc-sts': suffix },
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'c', image: 'fake' }],
        },
      },
    },
  });
  const first = await waitFor(async () => {
    const p = await getPod(ns, 'web-0').catch(() => undefined);
    return p && p.spec.nodeName === a && isReady(p) ? p : undefined;
  }, { timeoutMs: 60_000, description: 'web-0 Ready on node a' });
  // Node b joins the pool; node a is retired.
  await kube.mergePatch(`/api/v1/nodes/${b}`, { metadata: { labels: { 'nlc-sts': suffix } } });
  const auditFrom = await auditOffset();
  await request(a);
  const second = await waitFor(async () => {
    const p = await getPod(ns, 'web-0').catch(() => undefined);
    return p && p.metadata.uid !== first.metadata.uid && p.spec.nodeName === b && isReady(p) ? p : undefined;
  }, { timeoutMs: 60_000, description: 'web-0 recreated (new UID) and Ready on node b' });
  await waitFor(async () => (await state(a)) === 'drained', { timeoutMs: 30_000, description: 'node a drained' });
  // Several more rounds would have passed by now for a draining node; the recreated pod is left alone.
  const again = await getPod(ns, 'web-0');
  expect(again.metadata.uid).toBe(second.metadata.uid);
  expect(again.metadata.deletionTimestamp).toBeUndefined();
  expect((await auditWritesSince(auditFrom)).filter((w) => w.includes(`/namespaces/${ns}/pods/web-0`))).toEqual([`create /api/v1/namespaces/${ns}/pods/web-0/eviction`]);
}, 150_000);

it('a pod selected by two PDBs: 500 from the Eviction API, Warning MultiplePDBs naming both, forced by the SLA', async () => {
  const node = `nlc-multi-${suffix}`;
  await createNode(node);
  for (const [name, selector] of [['multi-app', { app: 'multi' }], ['multi-tier', { tier: 'multi' }]] as const)
    await kube.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { maxUnavailable: 0, selector: { matchLabels: selector } },
    });
  await createPod(ns, 'multi', node, { labels: { app: 'multi', tier: 'multi' } });
  await request(node);
  await waitFor(async () => (await metric('evictions_total', 'result="multiple_pdbs"')) >= 1, { timeoutMs: 30_000, description: 'Eviction answered 500 (two PDBs)' });
  const warning = await waitFor(async () => (await events(ns)).find((e) => e.reason === 'MultiplePDBs' && e.regarding?.name === 'multi'), {
    timeoutMs: 30_000,
    description: 'Warning MultiplePDBs on the pod',
  });
  expect(warning.note).toContain('multi-app');
  expect(warning.note).toContain('multi-tier');
  expect(await state(node)).toBe('draining');
  expect((await getPod(ns, 'multi')).metadata.deletionTimestamp).toBeUndefined();
  // Blocked like a PDB 429: 8 h later (test profile: grace 2 h, pod lifetime 8 h, no siblings) it is forced.
  clock.offset = 8 * H + 60_000;
  await waitFor(async () => (await state(node)) === 'drained', { timeoutMs: 30_000, description: 'pod forced by the SLA, node drained' });
  expect(await metric('forced_terminations_total', 'reason="sla"')).toBe(1);
  expect((await kube.get<NodeObj>(`/api/v1/nodes/${node}`)).metadata.annotations?.['kubeaws.io/last-force-termination']).toBeDefined();
}, 150_000);
