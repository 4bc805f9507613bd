/**
 * ASG termination lifecycle hooks end to end: the hook message from SQS (moto), the hook's timeouts from moto's
 * DescribeLifecycleHooks, heartbeats while draining and CompleteLifecycleAction(CONTINUE) once drained. moto 5 answers
 * HTTP 500 to the two lifecycle-action calls, so they are asserted through a recording proxy in front of the real moto
 * (test/proxy.ts), which also injects AWS's `ValidationError` (no active lifecycle action) to exercise that path. Hooks
 * of instances without a Node are completed only for this cluster's instances.
 */
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, PutLifecycleHookCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { RecordingProxy } from './proxy';

const REGION = 'us-east-1';
const CLUSTER = 'nlc-hooks';
const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;
let moto: MotoServer;
let proxy: RecordingProxy;
let kc: KubeConfig;
let kube: KubeClient;
let ec2: EC2Client;
let sqs: SQSClient;
let queueUrl: string;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const nodeName = `nlc-hook-${suffix}`;
let instanceId: string;

async function runInstance(tags: Record<string, string> = {}): Promise<string> {
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  const r = await ec2.send(
    new RunInstancesCommand({
      ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` },
      ...(Object.keys(tags).length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
    }),
  );
  return r.Instances![0].InstanceId!;
}

const hookMessage = (iid: string, token: string) =>
  JSON.stringify({
    version: '0', id: `hook-${token}`, source: 'aws.autoscaling', 'detail-type': 'EC2 Instance-terminate Lifecycle Action',
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), account: '123456789012', region: REGION, resources: [],
    detail: {
      EC2InstanceId: iid, AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: token,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    },
  });

const metric = async (name: string, labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const queueDepth = async () => {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
};

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
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-hooks-${suffix}` }))).QueueUrl!;
  instanceId = await runInstance({ [`kubernetes.io/cluster/${CLUSTER}`]: 'owned' });
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: nodeName, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': nodeName, type: 'kwok' } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  ns = await createTestNamespace(kc, 'nlc-hooks');
  await kube.create(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' },
    spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'fake' }] },
  });
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    argv: [`--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${queueUrl}`, '--sla-profile=test', '--drain-poll-interval=1s', '--sqs-wait-time=1s', '--rolling-update=false'],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('a termination hook: timeouts from DescribeLifecycleHooks, heartbeats while draining, CONTINUE once drained', async () => {
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: hookMessage(instanceId, `tok-${suffix}`) }));
  const node = await waitFor(async () => {
    const n = await kube.get<{ metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }>(`/api/v1/nodes/${nodeName}`);
    return n.metadata.annotations?.['kubeaws.io/interruption'] ? n : undefined;
  }, { timeoutMs: 30_000, description: 'hook recorded on the node' });
  const record = JSON.parse(node.metadata.annotations!['kubeaws.io/interruption']);
  expect(record).toMatchObject({ kinds: ['asg-termination'], lifecycle: { asg: ASG, hook: 'kubeaws-drain', token: `tok-${suffix}`, heartbeatTimeoutSeconds: 60, completedAt: null } });
  expect(proxy.of('DescribeLifecycleHooks')[0].params).toMatchObject({ AutoScalingGroupName: ASG, 'LifecycleHookNames.member.1': 'kubeaws-drain' });
  // The heartbeat reaches moto, which does not implement it (500): recorded with its parameters, retried by the SDK.
  await waitFor(() => proxy.of('RecordLifecycleActionHeartbeat')[0], { timeoutMs: 30_000, description: 'a heartbeat' });
  expect(proxy.of('RecordLifecycleActionHeartbeat')[0]).toMatchObject({
    params: { AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: `tok-${suffix}`, InstanceId: instanceId },
    status: 500,
  });
  // Drained: CompleteLifecycleAction(CONTINUE). moto answers 500: the node stays drained and the call is retried.
  await waitFor(() => proxy.of('CompleteLifecycleAction')[0], { timeoutMs: 60_000, description: 'CompleteLifecycleAction' });
  expect(proxy.of('CompleteLifecycleAction')[0]).toMatchObject({
    params: { AutoScalingGroupName: ASG, LifecycleHookName: 'kubeaws-drain', LifecycleActionToken: `tok-${suffix}`, InstanceId: instanceId, LifecycleActionResult: 'CONTINUE' },
    status: 500,
  });
  const labels = async () => (await kube.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${nodeName}`)).metadata.labels ?? {};
  expect((await labels())['kubeaws.io/lifecycle-state']).toBe('drained');
  // AWS's answer when the action is no longer pending: counts as completed.
  proxy.inject('CompleteLifecycleAction', { status: 400, code: 'ValidationError', message: 'No active Lifecycle Action found with token' });
  await waitFor(async () => (await labels())['kubeaws.io/lifecycle-state'] === 'terminating', { timeoutMs: 90_000, description: 'hook completed, node terminating' });
  expect(await metric('lifecycle_actions_total', 'action="complete",result="ValidationError"')).toBeGreaterThanOrEqual(1);
  const after = await kube.get<{ metadata: { annotations: Record<string, string> } }>(`/api/v1/nodes/${nodeName}`);
  expect(JSON.parse(after.metadata.annotations['kubeaws.io/interruption']).lifecycle.completedAt).toEqual(expect.any(String));
  await waitFor(async () => (await queueDepth()) === 0, { timeoutMs: 30_000, description: 'hook message deleted' });
  // A second hook for the now terminating node (e.g. fired by our own ASG termination): completed at once, a duplicate.
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: hookMessage(instanceId, `again-${suffix}`) }));
  await waitFor(() => proxy.of('CompleteLifecycleAction').find((c) => c.params.LifecycleActionToken === `again-${suffix}`), {
    timeoutMs: 30_000,
    description: 'the second hook completed at once',
  });
  await waitFor(async () => (await metric('sqs_messages_total', 'outcome="duplicate"')) >= 1, { timeoutMs: 30_000, description: 'counted as a duplicate' });
}, 180_000);

it('a hook without a Node is completed at once for this cluster, never for another', async () => {
  const ours = await runInstance({ [`kubernetes.io/cluster/${CLUSTER}`]: 'owned' });
  const theirs = await runInstance({ 'kubernetes.io/cluster/other': 'owned' });
  const before = proxy.of('CompleteLifecycleAction').length;
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: hookMessage(ours, `ours-${suffix}`) }));
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: hookMessage(theirs, `theirs-${suffix}`) }));
  await waitFor(async () => (await metric('sqs_messages_total', 'outcome="unknown_instance"')) >= 2, { timeoutMs: 30_000, description: 'both hooks handled' });
  const completed = proxy.of('CompleteLifecycleAction').slice(before).map((c) => c.params.InstanceId);
  expect(completed).toContain(ours);
  expect(completed).not.toContain(theirs);
  await waitFor(async () => (await queueDepth()) === 0, { timeoutMs: 30_000, description: 'both messages deleted' });
});

it('EC2 state checks: one batched DescribeInstances per poll covers every terminating node; a missing instance is terminated', async () => {
  const spotRecord = (id: string) => JSON.stringify({ v: 1, kinds: ['spot-interruption'], eventIds: [id], firstSeen: '2026-01-01T00:00:00Z', deadline: '2026-01-01T00:02:00Z', stopOnly: false });
  const a = await runInstance();
  const b = await runInstance();
  const ghost = 'i-0123456789abcdef0';
  const batchNodes = [
    [`nlc-batch-a-${suffix}`, a],
    [`nlc-batch-b-${suffix}`, b],
    [`nlc-batch-g-${suffix}`, ghost],
  ] as const;
  try {
    for (const [name, iid] of batchNodes)
      await kube.create('/api/v1/nodes', {
        apiVersion: 'v1', kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'kubeaws.io/drain-start': '2026-01-01T00:00:00Z', 'kubeaws.io/interruption': spotRecord(name) },
          labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'kubeaws.io/lifecycle-state': 'terminating' },
        },
        spec: { providerID: `aws:///${REGION}a/${iid}`, unschedulable: true, taints: [{ key: 'kubeaws.io/decommission-pending', value: 'spot-interruption', effect: 'NoSchedule' }] },
      });
    const stateOf = async (name: string) => (await kube.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${name}`)).metadata.labels?.['kubeaws.io/lifecycle-state'];
    // The missing instance (InvalidInstanceID.NotFound naming it) is dropped from the batch and its node is terminated.
    await waitFor(async () => (await stateOf(batchNodes[2][0])) === 'terminated', { timeoutMs: 30_000, description: 'node of the missing instance terminated' });
    const requeues = () => metric('reconcile_total', 'controller="nodes",result="requeue_after"');
    const mark = await requeues();
    proxy.calls.splice(0);
    // About four polls of 1 s: each of the three terminating nodes (a, b and the hook's node) is re-checked once per poll.
    await waitFor(async () => (await requeues()) >= mark + 4 * 3, { timeoutMs: 30_000, description: 'about four polls of the terminating nodes' });
    const describes = proxy.of('DescribeInstances');
    const idsOf = (c: (typeof describes)[number]) => Object.entries(c.params).filter(([k]) => k.startsWith('InstanceId.')).map(([, v]) => v);
    expect(describes.length).toBeGreaterThanOrEqual(2);
    expect(describes.length).toBeLessThanOrEqual(7); // one per poll, not one per node and poll (3 nodes × ~4 polls)
    for (const c of describes) expect(idsOf(c)).toEqual(expect.arrayContaining([a, b, instanceId]));
    expect(await stateOf(batchNodes[0][0])).toBe('terminating');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a] }));
    await waitFor(async () => (await stateOf(batchNodes[0][0])) === 'terminated', { timeoutMs: 30_000, description: 'terminated instance confirmed from the batch' });
    expect(await stateOf(batchNodes[1][0])).toBe('terminating');
  } finally {
    for (const [name] of batchNodes) await kube.delete(`/api/v1/nodes/${name}`).catch(() => undefined);
  }
});

it('a failed terminate call is retried after 10 s, then 20 s (exponential backoff), not after the 5 min repeat rule', async () => {
  const iid = await runInstance();
  const name = `nlc-backoff-${suffix}`;
  proxy.inject('TerminateInstances', { status: 400, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' });
  try {
    await kube.create('/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'kubeaws.io/drain-start': new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
        labels: { 'kubernetes.io/hostname': name, type: 'kwok', 'kubeaws.io/lifecycle-state': 'drained' },
      },
      spec: { providerID: `aws:///${REGION}a/${iid}`, unschedulable: true, taints: [{ key: 'kubeaws.io/decommission-pending', value: 'requested', effect: 'NoSchedule' }] },
    });
    const calls = () => proxy.of('TerminateInstances').filter((c) => c.params['InstanceId.1'] === iid);
    await waitFor(() => calls().length >= 2, { timeoutMs: 45_000, description: 'first call, then the second after the first backoff' });
    proxy.clearFault('TerminateInstances');
    await waitFor(() => calls().length >= 3, { timeoutMs: 45_000, description: 'third call after the doubled backoff' });
    // when each call reached the proxy
    const at = calls().map((c) => c.at);
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(9_000);
    expect(at[1] - at[0]).toBeLessThan(16_000);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(19_000);
    expect(at[2] - at[1]).toBeLessThan(27_000);
    expect(calls().map((c) => c.status)).toEqual([400, 400, 200]);
    await waitFor(async () => (await kube.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/nodes/${name}`)).metadata.labels?.['kubeaws.io/lifecycle-state'] === 'terminated', {
      timeoutMs: 30_000,
      description: 'instance terminated and confirmed',
    });
    expect(await metric('instance_terminations_total', 'api="any",result="UnauthorizedOperation"')).toBe(2);
  } finally {
    proxy.clearFault('TerminateInstances');
    await kube.delete(`/api/v1/nodes/${name}`).catch(() => undefined);
  }
}, 120_000);
