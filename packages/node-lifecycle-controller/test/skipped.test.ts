/**
 * Skipped and held-back pod classes of a drain round (docs/node-lifecycle-controller.md#nlc-drain) against the real
 * local control plane: the kube-apiserver's Eviction API (audit log), the DaemonSet controller, the Priority
 * admission plugin and kwok nodes. On one requested node: a mirror pod and a DaemonSet's pod are never evicted and do
 * not hold the node; a `system-node-critical` pod is evicted only after every other candidate is gone, and the
 * controller's own pod (named by POD_NAME / POD_NAMESPACE / POD_UID) only after that. The node ends `drained` with the
 * mirror and DaemonSet pods still on it.
 */
import { open, stat } from 'node:fs/promises';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { TEST_ENV, createTestNamespace, deleteNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';

const USER_AGENT = 'kubeaws-node-lifecycle-controller';

interface PodObj {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

const suffix = Math.random().toString(36).slice(2, 7);
const node = `nlc-skip-${suffix}`;
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts> | undefined;

const isReady = (p: PodObj) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const podsOnNode = async () => (await kube.list<PodObj>(`/api/v1/namespaces/${ns}/pods`)).items.filter((p) => p.spec.nodeName === node);
const state = async () => (await kube.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${node}`)).metadata.labels?.['kubeaws.io/lifecycle-state'];

async function createPod(name: string, extra: { annotations?: Record<string, string>; priorityClassName?: string } = {}): Promise<PodObj> {
  const pod = await kube.create<PodObj>(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations: extra.annotations },
    spec: {
      nodeName: node,
      priorityClassName: extra.priorityClassName,
      terminationGracePeriodSeconds: 1,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'c', image: 'fake' }],
    },
  });
  await waitFor(async () => isReady(await kube.get<PodObj>(`/api/v1/namespaces/${ns}/pods/${name}`)), { timeoutMs: 60_000, description: `pod ${name} Ready` });
  return pod;
}

/** Names of the pods the controller asked to evict since a byte offset of the audit log, in request order. */
async function evictionsSince(offset: number): Promise<string[]> {
  const fh = await open(process.env[TEST_ENV.auditLog]!, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { verb: string; stage?: string; requestURI: string; userAgent?: string })
      .filter((e) => e.userAgent?.startsWith(USER_AGENT) && e.verb === 'create' && e.stage === 'ResponseComplete' && e.requestURI.split('?')[0].endsWith('/eviction'))
      .map((e) => e.requestURI.split('?')[0].split('/').at(-2)!);
  } finally {
    await fh.close();
  }
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  ns = await createTestNamespace(kc, 'nlc-skip');
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': node, type: 'kwok' } },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${node}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: 'kwok node Ready',
  });
}, 120_000);

afterAll(async () => {
  await rc?.stop();
  await kube.delete(`/api/v1/nodes/${node}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
});

it('mirror and DaemonSet pods are skipped; critical pods go after the others and the own pod last', async () => {
  await kube.create(`/apis/apps/v1/namespaces/${ns}/daemonsets`, {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { nodeSelector: { 'kubernetes.io/hostname': node }, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
      },
    },
  });
  await waitFor(async () => (await podsOnNode()).some((p) => p.metadata.name.startsWith('agent-') && isReady(p)), { timeoutMs: 60_000, description: 'DaemonSet pod Ready on the node' });
  await createPod('mirror', { annotations: { 'kubernetes.io/config.mirror': 'checksum' } });
  await createPod('critical', { priorityClassName: 'system-node-critical' });
  const own = await createPod('controller-self');
  await createPod('app-a');
  await createPod('app-b');
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    argv: ['--cluster-name=nlc-skip', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false', '--terminate-instances=false'],
    env: { POD_NAMESPACE: ns, POD_NAME: 'controller-self', POD_UID: own.metadata.uid },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();

  const auditFrom = (await stat(process.env[TEST_ENV.auditLog]!)).size;
  await kube.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => (await state()) === 'drained', { timeoutMs: 90_000, description: 'node drained' });

  // First Eviction of each pod, in request order: the others, then the critical pod, then our own.
  const evicted = [...new Set(await evictionsSince(auditFrom))];
  expect(new Set(evicted.slice(0, 2))).toEqual(new Set(['app-a', 'app-b']));
  expect(evicted.slice(2)).toEqual(['critical', 'controller-self']);
  const left = await podsOnNode();
  expect(left.map((p) => p.metadata.name).sort()).toEqual([expect.stringMatching(/^agent-/), 'mirror']);
  for (const p of left) expect(p.metadata.deletionTimestamp).toBeUndefined();
});
