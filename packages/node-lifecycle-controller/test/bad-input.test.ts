/**
 * Bad input on Nodes and Pods (docs/node-lifecycle-controller.md#nlc-bad-input) against the real local control plane
 * and kwok nodes: each bad annotation or label, and a Node without an AWS `providerID`, yields a Warning Event on the
 * object naming the field and the bad value, one JSON log line (`object`, `field`, `value`, `expected`, `fallback`) and
 * `invalid_input_total{source,field}`; the node goes on with the documented fallback and nothing is lost.
 */
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { createTestNamespace, deleteNamespace, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';

interface PodObj {
  metadata: { name: string; uid: string };
  status?: { conditions?: { type: string; status: string }[] };
}
interface EventObj {
  reason: string;
  type?: string;
  note?: string;
  regarding?: { kind?: string; name?: string; namespace?: string };
}
interface LogLine {
  msg: string;
  object?: string;
  field?: string;
  value?: string;
  expected?: string;
  fallback?: string;
}

const suffix = Math.random().toString(36).slice(2, 7);
const bad = `nlc-bad-${suffix}`;
const typo = `nlc-typo-${suffix}`;
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const logs: LogLine[] = [];

const state = async (name: string) => (await kube.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${name}`)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const metric = async (labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('kubeaws_node_lifecycle_controller_invalid_input_total{') && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const events = async () => (await kube.list<EventObj>('/apis/events.k8s.io/v1/events')).items;

async function createNode(name: string, labels: Record<string, string>, annotations: Record<string, string>): Promise<void> {
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake', ...annotations }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...labels } },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: `kwok node ${name} Ready`,
  });
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  ns = await createTestNamespace(kc, 'nlc-bad');
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    argv: ['--cluster-name=nlc-bad', '--aws-region=us-east-1', '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false', '--max-concurrent-drains=10'],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'info' },
    processMetrics: false,
    logDestination: {
      write: (line: string) => {
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          /* not a JSON line */
        }
      },
    },
  });
  await rc.synced();
}, 120_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of [bad, typo]) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
});

/** The Event, the log line and the metric of one bad input. */
async function expectReported(kind: 'Node' | 'Pod', name: string, reason: string, field: string, value: string): Promise<void> {
  const object = kind === 'Node' ? `node/${name}` : `pod/${ns}/${name}`;
  await waitFor(async () => (await events()).some((e) => e.reason === reason && e.type === 'Warning' && e.regarding?.kind === kind && e.regarding?.name === name && (e.note ?? '').includes(field) && (e.note ?? '').includes(JSON.stringify(value))), {
    timeoutMs: 30_000,
    description: `Warning ${reason} on ${object} naming ${field}=${value}`,
  });
  const line = logs.find((l) => l.msg === reason && l.object === object && l.field === field);
  expect(line).toMatchObject({ value, expected: expect.any(String), fallback: expect.any(String) });
  expect(await metric(`source="${kind.toLowerCase()}",field="${field}"`)).toBeGreaterThanOrEqual(1);
}

it('bad Node annotations and labels, a bad Pod annotation and a Node without providerID are each reported; the drain goes on', async () => {
  await createNode(bad, { 'kubeaws.io/decommission-priority': '5000' }, {
    'kubeaws.io/drain-start': 'yesterday',
    'kubeaws.io/last-force-termination': '12:00',
    'kubeaws.io/decrement-desired-capacity': 'maybe',
  });
  await createNode(typo, { 'kubeaws.io/lifecycle-state': 'draning' }, {});
  for (const name of ['plain', 'held'])
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, annotations: name === 'held' ? { 'kubeaws.io/do-not-disrupt': 'forever' } : undefined },
      spec: { nodeName: bad, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
    });
  await waitFor(async () => (await kube.list<PodObj>(`/api/v1/namespaces/${ns}/pods`)).items.filter((p) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')).length === 2, {
    timeoutMs: 60_000,
    description: 'both pods Ready',
  });

  await kube.mergePatch(`/api/v1/nodes/${bad}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => (await state(bad)) === 'draining', { timeoutMs: 30_000, description: 'request accepted despite the bad markers' });
  await expectReported('Node', bad, 'InvalidAnnotation', 'kubeaws.io/drain-start', 'yesterday');
  await expectReported('Node', bad, 'InvalidAnnotation', 'kubeaws.io/last-force-termination', '12:00');
  await expectReported('Node', bad, 'InvalidAnnotation', 'kubeaws.io/decrement-desired-capacity', 'maybe');
  await expectReported('Node', bad, 'InvalidLabel', 'kubeaws.io/decommission-priority', '5000');
  await expectReported('Node', typo, 'InvalidLabel', 'kubeaws.io/lifecycle-state', 'draning');
  // The bad pod mark counts as do-not-disrupt: the plain pod is evicted, the held one is not.
  await expectReported('Pod', 'held', 'InvalidAnnotation', 'kubeaws.io/do-not-disrupt', 'forever');
  await waitFor(async () => (await kube.list<PodObj>(`/api/v1/namespaces/${ns}/pods`)).items.map((p) => p.metadata.name).join() === 'held', { timeoutMs: 30_000, description: 'plain pod evicted, held pod kept' });
  // The typo node sees no action.
  expect(await state(typo)).toBe('draning');
  expect((await kube.get<{ spec?: { unschedulable?: boolean } }>(`/api/v1/nodes/${typo}`)).spec?.unschedulable).toBeFalsy();

  // Once the held pod is gone the node is drained, but without an AWS providerID it is not terminated.
  await kube.delete(`/api/v1/namespaces/${ns}/pods/held`);
  await waitFor(async () => (await state(bad)) === 'drained', { timeoutMs: 30_000, description: 'node drained' });
  await expectReported('Node', bad, 'NoProviderID', 'spec.providerID', '');
  expect(await state(bad)).toBe('drained');
  // Reported once per --event-repeat-interval (1 h), not once per round (dozens of 1 s rounds have run by now).
  expect(await metric('source="node",field="kubeaws.io/drain-start"')).toBe(1);
  expect(logs.filter((l) => l.msg === 'InvalidAnnotation' && l.field === 'kubeaws.io/drain-start')).toHaveLength(1);
});
