/**
 * End to end against the real local control plane (kube-apiserver, the disruption controller, the
 * scheduler, kwok nodes) and moto (EC2 instances behind the Nodes' providerIDs, SQS with a real redrive
 * policy): a spot interruption from the queue fences and drains a node; a decommission request on a node
 * whose pods a PDB protects is blocked by the disruption controller's 429s until the SLA allows forcing,
 * then the node is drained and its instance terminated; invalid messages reach the dead-letter queue; the
 * steady state writes nothing. The controller runs in-process (startComponent) with a settable clock
 * over real time, so the SLA hours pass by moving the clock, not by waiting.
 */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Clock, KubeClient, type RunningComponent, type TimerHandle, realClock, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';

const REGION = 'us-east-1';
const H = 3_600_000;

/** Real time plus an offset the test moves forward. */
class OffsetClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return realClock.setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle | undefined): void {
    realClock.clearTimeout(h);
  }
}

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
}

let moto: MotoServer;
let kc: KubeConfig;
let kube: KubeClient;
let ec2: EC2Client;
let sqs: SQSClient;
let queueUrl: string;
let dlqUrl: string;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const clock = new OffsetClock();
const suffix = Math.random().toString(36).slice(2, 7);
const nodes: Record<'spot' | 'decom', { name: string; instanceId: string }> = {} as never;

async function runInstance(): Promise<string> {
  const images = await ec2.send(new DescribeImagesCommand({}));
  const r = await ec2.send(
    new RunInstancesCommand({ ImageId: images.Images![0].ImageId!, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', Placement: { AvailabilityZone: `${REGION}a` } }),
  );
  return r.Instances![0].InstanceId!;
}

async function createNode(key: 'spot' | 'decom'): Promise<void> {
  const name = `nlc-${key}-${suffix}`;
  const instanceId = await runInstance();
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'nlc-test': suffix } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '32', memory: '256Gi', pods: '110' }, allocatable: { cpu: '32', memory: '256Gi', pods: '110' } },
  });
  nodes[key] = { name, instanceId };
}

async function deployment(name: string, node: string, replicas: number): Promise<void> {
  await kube.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node },
          tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'c', image: 'fake' }],
        },
      },
    },
  });
}

const getNode = (name: string) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);
const state = async (name: string) => (await getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const readyPodsOn = async (node: string) =>
  (await kube.list<{ spec: { nodeName?: string }; metadata: { deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }>(`/api/v1/namespaces/${ns}/pods`)).items.filter(
    (p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  );
const metric = async (name: string, labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const queueDepth = async (url: string) => {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
};

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  moto = await startMoto();
  Object.assign(process.env, { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  ec2 = new EC2Client(sdk);
  sqs = new SQSClient(sdk);
  dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-dlq-${suffix}` }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  queueUrl = (
    await sqs.send(
      new CreateQueueCommand({ QueueName: `nlc-${suffix}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) } }),
    )
  ).QueueUrl!;
  ns = await createTestNamespace(kc, 'nlc');
  await createNode('spot');
  await createNode('decom');
  await waitFor(async () => (await kube.list<{ metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }>('/api/v1/nodes', { labelSelector: `nlc-test=${suffix}` })).items.filter((n) => (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')).length === 2, {
    timeoutMs: 60_000,
    description: 'kwok nodes Ready',
  });
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    clock,
    argv: [
      '--cluster-name=nlc-test',
      `--aws-region=${REGION}`,
      `--sqs-queue-url=${queueUrl}`,
      '--sla-profile=test',
      '--drain-poll-interval=2s',
      '--sqs-wait-time=1s',
      '--sqs-visibility-timeout=10s',
      '--rolling-update=false',
      '--max-concurrent-drains=5',
    ],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of Object.values(nodes)) await kube.delete(`/api/v1/nodes/${n.name}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await moto?.stop();
});

it('a spot interruption from SQS fences the node, drains it and waits for AWS to take the instance', async () => {
  await deployment('spot-app', nodes.spot.name, 3);
  await waitFor(async () => (await readyPodsOn(nodes.spot.name)).length === 3, { timeoutMs: 60_000, description: '3 pods Ready on the spot node' });
  const body = {
    version: '0', id: `spot-${suffix}`, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning',
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), account: '123456789012', region: REGION, resources: [],
    detail: { 'instance-id': nodes.spot.instanceId, 'instance-action': 'terminate' },
  };
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) })); // redelivered duplicate
  const fenced = await waitFor(async () => {
    const n = await getNode(nodes.spot.name);
    return n.metadata.labels?.['kubeaws.io/lifecycle-state'] ? n : undefined;
  }, { timeoutMs: 30_000, description: 'spot node fenced' });
  expect(fenced.spec?.unschedulable).toBe(true);
  expect(fenced.spec?.taints).toContainEqual({ key: 'kubeaws.io/decommission-pending', value: 'spot-interruption', effect: 'NoSchedule' });
  expect(fenced.metadata.labels?.['node.kubernetes.io/exclude-from-external-load-balancers']).toBe('kubeaws-node-lifecycle');
  expect(JSON.parse(fenced.metadata.annotations!['kubeaws.io/interruption'])).toMatchObject({ v: 1, kinds: ['spot-interruption'], eventIds: [`spot-${suffix}`] });
  await waitFor(async () => (await state(nodes.spot.name)) === 'terminating', { timeoutMs: 60_000, description: 'spot node drained, waiting for AWS' });
  expect(await readyPodsOn(nodes.spot.name)).toHaveLength(0);
  await waitFor(async () => (await queueDepth(queueUrl)) === 0, { timeoutMs: 30_000, description: 'both messages deleted' });
  expect(await metric('sqs_messages_total', 'outcome="duplicate"')).toBeGreaterThanOrEqual(1);
  expect(await metric('sqs_messages_total', 'outcome="accepted"')).toBe(1);
  // AWS takes the instance: the next confirmation marks the node terminated and out of service.
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [nodes.spot.instanceId] }));
  await waitFor(async () => (await state(nodes.spot.name)) === 'terminated', { timeoutMs: 60_000, description: 'spot node terminated' });
  expect((await getNode(nodes.spot.name)).spec?.taints).toContainEqual({ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' });
});

it('a decommission request: PDB 429s block, the SLA forces one pod per interval, then the instance is terminated', async () => {
  await deployment('decom-app', nodes.decom.name, 2);
  await kube.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'decom-app' },
    spec: { minAvailable: 2, selector: { matchLabels: { app: 'decom-app' } } },
  });
  await waitFor(async () => (await readyPodsOn(nodes.decom.name)).length === 2, { timeoutMs: 60_000, description: '2 pods Ready on the node' });
  await waitFor(async () => {
    const pdb = await kube.get<{ status?: { currentHealthy?: number } }>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/decom-app`);
    return pdb.status?.currentHealthy === 2;
  }, { timeoutMs: 60_000, description: 'the disruption controller sees 2 healthy pods' });
  await kube.mergePatch(`/api/v1/nodes/${nodes.decom.name}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => (await state(nodes.decom.name)) === 'draining', { timeoutMs: 30_000, description: 'request accepted and node fenced' });
  await waitFor(async () => (await metric('evictions_total', 'result="pdb_blocked"')) >= 2, { timeoutMs: 30_000, description: 'evictions blocked by the PDB (429)' });
  expect((await getNode(nodes.decom.name)).metadata.annotations?.['kubeaws.io/last-force-termination']).toBeUndefined();
  expect(await readyPodsOn(nodes.decom.name)).toHaveLength(2);

  // 8 h later (test profile: grace 2 h, pod lifetime 8 h, siblings 1 h) one pod is forced.
  clock.offset = 8 * H + 60_000;
  const first = await waitFor(async () => (await getNode(nodes.decom.name)).metadata.annotations?.['kubeaws.io/last-force-termination'], {
    timeoutMs: 30_000,
    description: 'first forced termination (write-ahead annotation)',
  });
  await waitFor(async () => (await readyPodsOn(nodes.decom.name)).length === 1, { timeoutMs: 30_000, description: 'one pod forced' });
  expect(await metric('forced_terminations_total', 'reason="sla"')).toBe(1);
  // G2: the next one waits for the force interval (5 min).
  expect(await state(nodes.decom.name)).toBe('draining');
  clock.offset += 5 * 60_000;
  await waitFor(async () => (await getNode(nodes.decom.name)).metadata.annotations?.['kubeaws.io/last-force-termination'] !== first, {
    timeoutMs: 30_000,
    description: 'second forced termination after the interval',
  });
  await waitFor(async () => (await state(nodes.decom.name)) === 'terminated', { timeoutMs: 60_000, description: 'node drained, instance terminated and confirmed' });
  const inst = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [nodes.decom.instanceId] }));
  expect(inst.Reservations![0].Instances![0].State!.Name).toBe('terminated');
  expect(await metric('instance_terminations_total', 'api="ec2",result="ok"')).toBe(1);
  const n = await getNode(nodes.decom.name);
  expect(n.metadata.annotations?.['kubeaws.io/termination-requested']).toBeDefined();
});

it('a spot stop interruption drains the node, keeps it fenced while stopped, un-fences it when the instance runs again, and un-fences a redelivered stale warning once overdue', async () => {
  const name = `nlc-stop-${suffix}`;
  const instanceId = await runInstance();
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'nlc-test': suffix } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '32', memory: '256Gi', pods: '110' }, allocatable: { cpu: '32', memory: '256Gi', pods: '110' } },
  });
  nodes[name as 'spot'] = { name, instanceId };
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: 'kwok node Ready',
  });
  const body = {
    version: '0', id: `stop-${suffix}`, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning',
    // The controller's clock may run ahead of real time (earlier tests): the warning is current by that clock.
    time: new Date(clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'), account: '123456789012', region: REGION, resources: [],
    detail: { 'instance-id': instanceId, 'instance-action': 'stop' },
  };
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  // Drained, but not handed to AWS: the instance is still running before the stop, so nothing is undone yet.
  await waitFor(async () => (await state(name)) === 'drained', { timeoutMs: 60_000, description: 'stop-only node drained' });
  const describes = () => metric('aws_requests_total', 'operation="DescribeInstances",code="ok"');
  const d0 = await describes();
  await waitFor(async () => (await describes()) >= d0 + 2, { timeoutMs: 30_000, description: 'two EC2 polls while running before the stop' });
  let n = await getNode(name);
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('drained');
  expect(n.spec?.unschedulable).toBe(true);
  expect(JSON.parse(n.metadata.annotations!['kubeaws.io/interruption'])).toMatchObject({ kinds: ['spot-interruption'], stopOnly: true });
  // AWS stops the instance: the stop is recorded and the node stays fenced.
  await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  await waitFor(async () => JSON.parse((await getNode(name)).metadata.annotations?.['kubeaws.io/interruption'] ?? '{}').stoppedAt, { timeoutMs: 30_000, description: 'stop recorded' });
  expect((await getNode(name)).spec?.taints).toContainEqual({ key: 'kubeaws.io/decommission-pending', value: 'spot-interruption', effect: 'NoSchedule' });
  // It runs again (the kwok Node is Ready): the fence is undone in one PATCH and the record cleared.
  await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  await waitFor(async () => (await state(name)) === 'ready', { timeoutMs: 30_000, description: 'interruption cleared' });
  n = await getNode(name);
  expect(n.spec?.unschedulable).toBeFalsy();
  expect((n.spec?.taints ?? []).filter((t) => t.key === 'kubeaws.io/decommission-pending')).toEqual([]);
  expect(n.metadata.labels?.['node.kubernetes.io/exclude-from-external-load-balancers']).toBeUndefined();
  for (const k of ['kubeaws.io/interruption', 'kubeaws.io/drain-start', 'kubeaws.io/fenced']) expect(n.metadata.annotations?.[k]).toBeUndefined();
  await waitFor(async () => (await kube.list<{ reason: string }>('/api/v1/events', { fieldSelector: `involvedObject.name=${name}` })).items.some((e) => e.reason === 'InterruptionCleared'), {
    timeoutMs: 30_000,
    description: 'Normal InterruptionCleared on the Node',
  });
  // The same stop warning delivered again (SQS at-least-once): the cleared record no longer holds its event id, so it
  // is a new involuntary workflow and the node is fenced again (fail-safe), in one PATCH, and the message deleted.
  const accepted = await metric('sqs_messages_total', 'kind="spot-interruption",outcome="accepted"');
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  const refenced = await waitFor(async () => {
    const x = await getNode(name);
    return x.spec?.unschedulable ? x : undefined;
  }, { timeoutMs: 30_000, description: 'node fenced again by the redelivered stop warning' });
  expect(['draining', 'drained']).toContain(refenced.metadata.labels?.['kubeaws.io/lifecycle-state']);
  expect(refenced.spec?.taints).toContainEqual({ key: 'kubeaws.io/decommission-pending', value: 'spot-interruption', effect: 'NoSchedule' });
  const again = JSON.parse(refenced.metadata.annotations!['kubeaws.io/interruption']);
  expect(again).toMatchObject({ kinds: ['spot-interruption'], eventIds: [`stop-${suffix}`], stopOnly: true });
  expect(again.stoppedAt).toBeUndefined();
  // the counter moves just after the fencing PATCH resolves, which the node may show first
  await waitFor(async () => (await metric('sqs_messages_total', 'kind="spot-interruption",outcome="accepted"')) >= accepted + 1, {
    timeoutMs: 10_000,
    description: 'the redelivered stop warning counted as accepted',
  });
  expect(await metric('sqs_messages_total', 'kind="spot-interruption",outcome="accepted"')).toBe(accepted + 1);
  await waitFor(async () => (await queueDepth(queueUrl)) === 0, { timeoutMs: 30_000, description: 'redelivered message deleted' });
  await waitFor(async () => (await state(name)) === 'drained', { timeoutMs: 60_000, description: 're-fenced node drained' });
  // The instance keeps running and no stop is ever seen: the warning was stale. Once the clock is 5 min past its
  // deadline (time + 2 min notice), the fence is undone instead of holding the node forever.
  const cleared = await metric('aws_requests_total', 'operation="DescribeInstances",code="ok"');
  await waitFor(async () => (await metric('aws_requests_total', 'operation="DescribeInstances",code="ok"')) >= cleared + 1, { timeoutMs: 30_000, description: 'an EC2 poll before the overdue point' });
  expect(await state(name)).toBe('drained');
  clock.offset += 2 * 60_000 + 5 * 60_000;
  await waitFor(async () => (await state(name)) === 'ready', { timeoutMs: 60_000, description: 'stale stop warning cleared' });
  n = await getNode(name);
  expect(n.spec?.unschedulable).toBeFalsy();
  expect((n.spec?.taints ?? []).filter((t) => t.key === 'kubeaws.io/decommission-pending')).toEqual([]);
  for (const k of ['kubeaws.io/interruption', 'kubeaws.io/drain-start', 'kubeaws.io/fenced']) expect(n.metadata.annotations?.[k]).toBeUndefined();
  await waitFor(async () => (await kube.list<{ reason: string; note?: string; message?: string }>('/api/v1/events', { fieldSelector: `involvedObject.name=${name}` })).items.some((e) => e.reason === 'InterruptionCleared' && /still running 5 min after the stop deadline/.test(e.message ?? e.note ?? '')), {
    timeoutMs: 30_000,
    description: 'Normal InterruptionCleared naming the overdue stop',
  });
  await kube.delete(`/api/v1/nodes/${name}`);
});

it('invalid and unsupported messages reach the dead-letter queue through the redrive policy', async () => {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'not json' }));
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({ version: '0', id: 'u1', source: 'aws.ec2', 'detail-type': 'EC2 AMI State Change', time: '2026-01-01T00:00:00Z', detail: {} }),
    }),
  );
  await waitFor(async () => (await queueDepth(dlqUrl)) === 2, { timeoutMs: 60_000, description: 'both messages in the DLQ' });
  expect(await metric('sqs_messages_total', 'outcome="invalid"')).toBeGreaterThanOrEqual(1);
  expect(await metric('sqs_messages_total', 'outcome="unsupported"')).toBeGreaterThanOrEqual(1);
});

it('steady state: no Kubernetes and no AWS writes across several long polls', async () => {
  const receives = () => metric('aws_requests_total', 'operation="ReceiveMessage",code="ok"');
  const awsWrites = async () => {
    const text = await rc.metrics.registry.metrics();
    return text
      .split('\n')
      .filter((l) => l.startsWith('kubeaws_node_lifecycle_controller_aws_requests_total{') && !/operation="(ReceiveMessage|GetQueueAttributes|Describe[A-Za-z]+)"/.test(l))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  rc.manager.client.clearAccesses();
  const start = await receives();
  const awsBefore = await awsWrites();
  await waitFor(async () => (await receives()) >= start + 3, { timeoutMs: 30_000, description: 'three more long polls' });
  const writes = rc.manager.client.accesses().filter((a) => !['get', 'list', 'watch'].includes(a.verb));
  expect(writes).toEqual([]);
  expect(await awsWrites()).toBe(awsBefore); // no AWS write either (deletes, visibility changes, terminations, hooks)
});

it('restart safety: a node found after the termination write-ahead gets no second terminate call within 5 min, then exactly one', async () => {
  // The state a process leaves when it dies right after the write-ahead PATCH and before TerminateInstances.
  const name = `nlc-restart-${suffix}`;
  const instanceId = await runInstance();
  const wrote = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'kubeaws.io/drain-start': wrote, 'kubeaws.io/termination-requested': wrote },
      labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'kubeaws.io/lifecycle-state': 'terminating' },
    },
    spec: { providerID: `aws:///${REGION}a/${instanceId}`, unschedulable: true, taints: [{ key: 'kubeaws.io/decommission-pending', value: 'requested', effect: 'NoSchedule' }] },
  });
  nodes[name as 'spot'] = { name, instanceId };
  const terminates = () => metric('aws_requests_total', 'operation="TerminateInstances",code="ok"');
  const before = await terminates();
  const describes = () => metric('aws_requests_total', 'operation="DescribeInstances",code="ok"');
  const d0 = await describes();
  await waitFor(async () => (await describes()) >= d0 + 2, { timeoutMs: 30_000, description: 'two confirmation polls of the restarted node' });
  expect(await terminates()).toBe(before);
  expect(await state(name)).toBe('terminating');
  clock.offset += 5 * 60_000;
  await waitFor(async () => (await state(name)) === 'terminated', { timeoutMs: 60_000, description: 'terminated after the one repeated call' });
  expect(await terminates()).toBe(before + 1);
});

it('leader election: only the leader consumes the queue; a follower takes over when it stops', async () => {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-le-${suffix}` }))).QueueUrl!;
  const start = (id: string) =>
    startComponent(nodeLifecycleController, {
      kubeConfig: kc,
      identity: id,
      argv: ['--cluster-name=nlc-test', `--aws-region=${REGION}`, `--sqs-queue-url=${url}`, '--sqs-wait-time=1s', '--rolling-update=false', `--lease-namespace=${ns}`],
      env: { POD_NAMESPACE: ns },
      config: { leaderElect: true, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' },
      processMetrics: false,
      // Long enough that a loaded machine does not move the lease during the test; the leader releases it when it
      // stops, so the takeover waits one retry period, not the lease duration.
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 1000,
    });
  const a = await start('replica-a');
  const b = await start('replica-b');
  try {
    const receives = async (r: RunningComponent<NlcConfig, NlcParts>) => {
      const text = await r.metrics.registry.metrics();
      const line = text.split('\n').find((l) => l.includes('aws_requests_total{') && l.includes('operation="ReceiveMessage"'));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const leader = await waitFor(() => (a.isLeader() ? a : b.isLeader() ? b : undefined), { timeoutMs: 30_000, description: 'a leader' });
    const follower = leader === a ? b : a;
    await waitFor(async () => (await receives(leader)) >= 2, { timeoutMs: 30_000, description: 'the leader long-polls' });
    expect(await receives(follower)).toBe(0);
    await leader.stop();
    await waitFor(async () => follower.isLeader() && (await receives(follower)) >= 1, { timeoutMs: 30_000, description: 'the follower takes over the queue' });
  } finally {
    await a.stop();
    await b.stop();
  }
});
