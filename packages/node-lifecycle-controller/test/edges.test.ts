/**
 * Edges of the SLA and of the involuntary paths against the real local control plane (kube-apiserver, the
 * disruption controller answering 429, kwok nodes whose providerIDs point at moto instances) and moto behind the
 * recording proxy (test/proxy.ts; moto lacks the lifecycle-action calls):
 * - the SLA forces exactly at the inclusive edge of its binding gate, not 1 ms before
 *   (docs/node-lifecycle-controller.md#nlc-sla), with a frozen injected clock;
 * - an involuntary deadline deletes a PDB-protected pod once now ≥ deadline − TGP − margin, with the grace the
 *   deadline leaves (#nlc-deadlines);
 * - a direct (non-EventBridge) ASG lifecycle notification from SQS drives the hook workflow; a direct test
 *   notification is ignored and deleted (#nlc-sqs);
 * - the Zalando/CLM read-only aliases on a real Node: `lifecycle-status` request, CLM drain-start and
 *   last-forced-drain as SLA clocks, `draining` mirrored into `lifecycle-status` (#nlc-markers);
 * - with leader election on, the follower writes nothing while the leader drains (#nlc-restarts).
 * The controller runs in-process with a settable clock over real time.
 */
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { RecordingProxy } from './proxy';
import { SettableClock, auditOffset, auditWritesSince, rfc3339 } from './support';

const REGION = 'us-east-1';
const CLUSTER = 'nlc-edges';
const H = 3_600_000;
const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
}
interface PodObj {
  metadata: { name: string; uid: string; creationTimestamp: string; deletionTimestamp?: string };
  status?: { conditions?: { type: string; status: string }[] };
}
interface EventObj {
  reason: string;
  note?: string;
  regarding?: { name?: string; namespace?: string };
}

const clock = new SettableClock();
let moto: MotoServer;
let proxy: RecordingProxy;
let kc: KubeConfig;
let kube: KubeClient;
let ec2: EC2Client;
let sqs: SQSClient;
let queueUrl: string;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts> | undefined;
const createdNodes: string[] = [];

const getNode = (name: string) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);
const state = async (name: string) => (await getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const getPod = (name: string) => kube.get<PodObj>(`/api/v1/namespaces/${ns}/pods/${name}`);
const isReady = (p: PodObj) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const events = async () => (await kube.list<EventObj>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items;
const metric = async (name: string, labels: string, r: RunningComponent<NlcConfig, NlcParts> = rc!) => {
  const text = await r.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const queueDepth = async () => {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
};

async function runInstance(): Promise<string> {
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  const r = await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` } }));
  return r.Instances![0].InstanceId!;
}

/** A kwok Node backed by a moto instance, Ready; returns the instance ID. */
async function createNode(name: string, meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<string> {
  const instanceId = await runInstance();
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', ...meta.annotations },
      labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...meta.labels },
    },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  createdNodes.push(name);
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: `kwok node ${name} Ready`,
  });
  return instanceId;
}

/** One Ready pod on `node` behind a PDB that allows no disruption (the disruption controller answers 429). */
async function protectedPod(name: string, node: string, terminationGracePeriodSeconds = 1): Promise<PodObj> {
  await kube.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { minAvailable: 1, selector: { matchLabels: { app: name } } },
  });
  await kube.create(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: { nodeName: node, terminationGracePeriodSeconds, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
  });
  return waitFor(async () => {
    const p = await getPod(name);
    return isReady(p) ? p : undefined;
  }, { timeoutMs: 60_000, description: `pod ${name} Ready` });
}

/** Drain rounds that met a PDB (each round's Eviction answered 429 counts once). */
const blocked = () => metric('evictions_total', 'result="pdb_blocked"');
async function rounds(n: number, what: string): Promise<void> {
  const b0 = await blocked();
  await waitFor(async () => (await blocked()) >= b0 + n, { timeoutMs: 30_000, description: `${n} more blocked evictions (${what})` });
}

/** Reconciles run so far (every drain round is one; the frozen clock stops the Eviction retries, not the rounds). */
async function reconciles(): Promise<number> {
  const text = await rc!.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('kubeaws_node_lifecycle_controller_reconcile_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
async function reconcileRounds(n: number, what: string): Promise<void> {
  const r0 = await reconciles();
  await waitFor(async () => (await reconciles()) >= r0 + n, { timeoutMs: 30_000, description: `${n} more reconciles (${what})` });
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  moto = await startMoto();
  proxy = new RecordingProxy(moto.endpoint);
  await proxy.start();
  Object.assign(process.env, { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  ec2 = new EC2Client(sdk);
  sqs = new SQSClient(sdk);
  const asg = new AutoScalingClient(sdk);
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  await asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `lc-${suffix}`, ImageId: image, InstanceType: 't3.micro' }));
  await asg.send(
    new CreateAutoScalingGroupCommand({ AutoScalingGroupName: ASG, LaunchConfigurationName: `lc-${suffix}`, MinSize: 0, MaxSize: 2, DesiredCapacity: 0, AvailabilityZones: [`${REGION}a`] }),
  );
  await asg.send(
    new PutLifecycleHookCommand({ AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 60 }),
  );
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-edges-${suffix}` }))).QueueUrl!;
  ns = await createTestNamespace(kc, 'nlc-edges');
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    clock,
    argv: [
      `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${queueUrl}`, '--sla-profile=test', '--drain-poll-interval=1s',
      '--sqs-wait-time=1s', '--rolling-update=false', '--max-concurrent-drains=10', '--terminate-instances=false',
    ],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of createdNodes) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('SLA inclusive edge: nothing is forced 1 ms before the binding gate opens, the pod is forced exactly at it', async () => {
  const node = `nlc-edge-${suffix}`;
  await createNode(node);
  const pod = await protectedPod('edge', node);
  const auditFrom = await auditOffset();
  await kube.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => (await state(node)) === 'draining', { timeoutMs: 30_000, description: 'node fenced' });
  await rounds(1, 'PDB blocks the pod');
  // Test profile: G1 drain-start + 2 h, G3 pod creation + 8 h, no siblings. G3 binds: its edge is exact to the ms
  // (creationTimestamp has whole seconds).
  const edge = Date.parse(pod.metadata.creationTimestamp) + 8 * H;
  const drainStart = Date.parse((await getNode(node)).metadata.annotations!['kubeaws.io/drain-start']);
  expect(drainStart + 2 * H).toBeLessThan(edge);
  clock.freeze(edge - 1);
  await reconcileRounds(3, '1 ms before the edge');
  expect((await getPod('edge')).metadata.deletionTimestamp).toBeUndefined();
  expect((await getNode(node)).metadata.annotations?.['kubeaws.io/last-force-termination']).toBeUndefined();
  expect(await metric('forced_terminations_total', 'reason="sla"')).toBe(0);
  clock.freeze(edge);
  await waitFor(async () => (await metric('forced_terminations_total', 'reason="sla"')) === 1, { timeoutMs: 30_000, description: 'forced at the edge' });
  const n = await getNode(node);
  expect(n.metadata.annotations?.['kubeaws.io/last-force-termination']).toBe(rfc3339(edge));
  clock.thaw();
  const deletes = (await auditWritesSince(auditFrom)).filter((w) => w.startsWith('delete ') && w.includes('/pods/'));
  expect(deletes).toEqual([`delete /api/v1/namespaces/${ns}/pods/edge`]);
  await waitFor(async () => (await state(node)) === 'drained', { timeoutMs: 30_000, description: 'node drained' });
}, 150_000);

it('involuntary deadline: a PDB-protected pod is deleted once now ≥ deadline − TGP − margin, with the grace the deadline leaves', async () => {
  const node = `nlc-deadline-${suffix}`;
  const instanceId = await createNode(node);
  const pod = await protectedPod('deadline', node, 30);
  const time = Math.floor(clock.now() / 1000) * 1000;
  const deadline = time + 120_000; // --spot-notice 2 min
  const auditFrom = await auditOffset();
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        version: '0', id: `deadline-${suffix}`, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning', time: rfc3339(time),
        account: '123456789012', region: REGION, resources: [], detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
      }),
    }),
  );
  await waitFor(async () => (await state(node)) === 'draining', { timeoutMs: 30_000, description: 'spot node fenced' });
  expect(JSON.parse((await getNode(node)).metadata.annotations!['kubeaws.io/interruption']).deadline).toBe(rfc3339(deadline));
  // Before deadline − TGP (30 s) − margin (10 s): evictions as usual, refused by the PDB.
  await rounds(2, 'before the deadline point');
  expect((await getPod('deadline')).metadata.deletionTimestamp).toBeUndefined();
  // 5 s past that point: DELETE with grace ⌊D − margin − now⌋ ≤ 25 s.
  clock.offset += deadline - 35_000 - clock.now();
  await waitFor(async () => (await metric('forced_terminations_total', 'reason="deadline"')) === 1, { timeoutMs: 30_000, description: 'deadline delete' });
  const warning = await waitFor(async () => (await events()).find((e) => e.reason === 'DeadlineTerminated' && e.regarding?.name === 'deadline'), {
    timeoutMs: 30_000,
    description: 'Warning DeadlineTerminated on the pod',
  });
  const grace = Number(/Deleted with (\d+)s grace/.exec(warning.note ?? '')?.[1]);
  // Less than the pod's 30 s: what the deadline leaves (25 s at the clock move, less as rounds pass).
  expect(grace).toBeGreaterThanOrEqual(10);
  expect(grace).toBeLessThanOrEqual(25);
  await waitFor(async () => (await getPod('deadline').catch(() => undefined))?.metadata.uid !== pod.metadata.uid || undefined, { timeoutMs: 60_000, description: 'the pod gone' });
  await waitFor(async () => (await state(node)) === 'terminating', { timeoutMs: 30_000, description: 'node drained, waiting for AWS' });
  const podWrites = (await auditWritesSince(auditFrom)).filter((w) => w.includes(`/namespaces/${ns}/pods/deadline`));
  expect(podWrites.filter((w) => w.startsWith('delete '))).toEqual([`delete /api/v1/namespaces/${ns}/pods/deadline`]);
}, 150_000);

it('a direct ASG lifecycle notification from SQS (no EventBridge envelope) drives the hook; a direct test notification is ignored', async () => {
  const node = `nlc-direct-${suffix}`;
  const instanceId = await createNode(node);
  const ignored = await metric('sqs_messages_total', 'outcome="ignored"');
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        AccountId: '123456789012', RequestId: `test-${suffix}`, AutoScalingGroupARN: 'arn', AutoScalingGroupName: ASG, Service: 'AWS Auto Scaling',
        Event: 'autoscaling:TEST_NOTIFICATION', Time: rfc3339(clock.now()),
      }),
    }),
  );
  await waitFor(async () => (await metric('sqs_messages_total', 'outcome="ignored"')) === ignored + 1, { timeoutMs: 30_000, description: 'test notification ignored' });
  const token = `direct-tok-${suffix}`;
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        Origin: 'AutoScalingGroup', Destination: 'EC2', Service: 'AWS Auto Scaling', Time: rfc3339(clock.now()), AccountId: '123456789012',
        RequestId: `req-${suffix}`, LifecycleActionToken: token, AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain',
        EC2InstanceId: instanceId, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      }),
    }),
  );
  const fenced = await waitFor(async () => {
    const n = await getNode(node);
    return n.metadata.annotations?.['kubeaws.io/interruption'] ? n : undefined;
  }, { timeoutMs: 30_000, description: 'hook recorded on the node' });
  expect(fenced.spec?.taints).toContainEqual({ key: 'kubeaws.io/decommission-pending', value: 'asg-termination', effect: 'NoSchedule' });
  expect(JSON.parse(fenced.metadata.annotations!['kubeaws.io/interruption'])).toMatchObject({
    kinds: ['asg-termination'],
    lifecycle: { asg: ASG, hook: 'kubeaws-drain', token, heartbeatTimeoutSeconds: 60 },
  });
  // Nothing to drain: CONTINUE with the notification's token (moto answers 500; AWS's answer for a finished action is
  // ValidationError, which counts as completed).
  const complete = await waitFor(() => proxy.of('CompleteLifecycleAction').find((c) => c.params.LifecycleActionToken === token), {
    timeoutMs: 60_000,
    description: 'CompleteLifecycleAction',
  });
  expect(complete.params).toMatchObject({ AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', InstanceId: instanceId, LifecycleActionResult: 'CONTINUE' });
  proxy.inject('CompleteLifecycleAction', { status: 400, code: 'ValidationError', message: 'No active Lifecycle Action found with token' });
  try {
    await waitFor(async () => (await state(node)) === 'terminating', { timeoutMs: 90_000, description: 'hook completed, node terminating' });
  } finally {
    proxy.clearFault('CompleteLifecycleAction');
  }
  await waitFor(async () => (await queueDepth()) === 0, { timeoutMs: 30_000, description: 'both notifications deleted' });
  expect(await metric('sqs_messages_total', 'kind="asg-termination",outcome="accepted"')).toBe(1);
}, 180_000);

it('Zalando/CLM aliases on a real Node: lifecycle-status requests, CLM drain-start and last-forced-drain are the SLA clocks, draining is mirrored', async () => {
  const node = `nlc-alias-${suffix}`;
  await createNode(node, { labels: { 'lifecycle-status': 'ready' } });
  const pod = await protectedPod('alias', node);
  // Move on so the pod is past the test profile's 8 h lifetime (G3); then a CLM migration: drained for 3 h (G1, 2 h,
  // passed) and forced 1 min ago (G2, 5 min, still closed for 4 min).
  clock.offset = Math.max(clock.now(), Date.parse(pod.metadata.creationTimestamp) + 9 * H) - Date.now();
  const now = clock.now();
  await kube.mergePatch(`/api/v1/nodes/${node}`, {
    metadata: {
      annotations: { 'cluster-lifecycle-manager.zalando.org/drain-start': rfc3339(now - 3 * H), 'cluster-lifecycle-manager.zalando.org/last-forced-drain': rfc3339(now - 60_000) },
      labels: { 'lifecycle-status': 'decommission-pending' },
    },
  });
  const fenced = await waitFor(async () => {
    const n = await getNode(node);
    return n.metadata.labels?.['kubeaws.io/lifecycle-state'] === 'draining' ? n : undefined;
  }, { timeoutMs: 30_000, description: 'alias request accepted and node fenced' });
  expect(fenced.spec?.unschedulable).toBe(true);
  await waitFor(async () => (await getNode(node)).metadata.labels?.['lifecycle-status'] === 'draining', { timeoutMs: 30_000, description: 'draining mirrored into lifecycle-status' });
  // G2 read from last-forced-drain: no force within the interval.
  await rounds(3, 'G2 closed by the CLM last-forced-drain');
  expect((await getPod('alias')).metadata.deletionTimestamp).toBeUndefined();
  const forced = await metric('forced_terminations_total', 'reason="sla"');
  // 4 min on, G2 opens; G1 already holds by the CLM drain-start (our own would be 2 h in the future).
  clock.offset += 4 * 60_000 + 1000;
  await waitFor(async () => (await metric('forced_terminations_total', 'reason="sla"')) === forced + 1, { timeoutMs: 30_000, description: 'forced once G2 opens' });
  await waitFor(async () => (await state(node)) === 'drained', { timeoutMs: 30_000, description: 'node drained' });
  const n = await getNode(node);
  expect(n.metadata.annotations?.['cluster-lifecycle-manager.zalando.org/drain-start']).toBe(rfc3339(now - 3 * H));
  // Our own drain-start, written when fencing, keeps the migrated clock.
  expect(n.metadata.annotations?.['kubeaws.io/drain-start']).toBe(rfc3339(now - 3 * H));
}, 150_000);

it('leader election: the follower makes no write while the leader drains a node', async () => {
  // Only the two replicas below run now, on the real clock, with none of the earlier nodes.
  await rc!.stop();
  rc = undefined;
  for (const n of createdNodes.splice(0)) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  const start = (id: string) =>
    startComponent(nodeLifecycleController, {
      kubeConfig: kc,
      identity: id,
      argv: [
        `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${queueUrl}`, '--sqs-wait-time=1s', '--rolling-update=false',
        `--lease-namespace=${ns}`, '--sla-profile=test', '--max-concurrent-drains=10', '--drain-poll-interval=1s', '--terminate-instances=false',
      ],
      env: { POD_NAMESPACE: ns },
      config: { leaderElect: true, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
      processMetrics: false,
      // Long enough that a loaded machine does not move the lease during the test.
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 1000,
    });
  const a = await start('replica-a');
  const b = await start('replica-b');
  try {
    const leader = await waitFor(() => (a.isLeader() ? a : b.isLeader() ? b : undefined), { timeoutMs: 30_000, description: 'a leader' });
    const follower = leader === a ? b : a;
    const node = `nlc-leader-${suffix}`;
    await createNode(node);
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'leader-p' },
      spec: { nodeName: node, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
    });
    await kube.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
    await waitFor(async () => (await state(node)) === 'drained', { timeoutMs: 60_000, description: 'the leader drained the node' });
    const leaderWrites = leader.manager.client.accesses().filter((x) => !['get', 'list', 'watch'].includes(x.verb));
    expect(leaderWrites.map((x) => x.resource)).toEqual(expect.arrayContaining(['nodes']));
    const followerWrites = follower.manager.client
      .accesses()
      .filter((x) => !['get', 'list', 'watch'].includes(x.verb) && x.resource !== 'leases');
    expect(followerWrites).toEqual([]);
    expect(follower.isLeader()).toBe(false);
    expect(await metric('aws_requests_total', 'operation="ReceiveMessage"', follower)).toBe(0);
  } finally {
    await a.stop();
    await b.stop();
  }
}, 150_000);
