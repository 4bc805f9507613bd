/**
 * Kills at the write-ahead points, then a restart (docs/node-lifecycle-controller.md#nlc-restarts): no repeated
 * action, no lost timer, at most one terminate call.
 *
 * A kill at the termination write-ahead point, with the controller as a child process (the built main.js, test
 * profile, short poll): the recording proxy in front of moto parks the `DescribeInstances` call that follows the
 * write-ahead PATCH, the process is killed with SIGKILL while that call hangs, and a new process starts. The new
 * process finds the node `terminating` with its `termination-requested` time and makes no TerminateInstances call
 * while the instance has not been running for 5 min after it (docs/node-lifecycle-controller.md#nlc-termination,
 * #nlc-restarts): no repeated action, at most one terminate call.
 *
 * A kill at the forced-termination write-ahead point: with the SLA gates shortened to 0 s and a 1 h force interval,
 * the process is killed as soon as `last-force-termination` appears; the restarted process reads G2 from that
 * annotation and forces nothing more (kube-apiserver audit log), while its Evictions go on.
 *
 * A kill at the replacement write-ahead point: the proxy parks `SetDesiredCapacity` after the `kubeaws.io/replacement`
 * PATCH, the process is killed, the parked call then reaches moto (the worst case: AWS applied it); the restarted
 * process finds the ASG at the recorded target and never raises it again.
 *
 * A kill after an SQS message was recorded on the Node and before its DeleteMessage: the parked delete never reaches
 * SQS, the message comes back after its visibility timeout, and the restarted process counts it a duplicate of the
 * recorded event (one workflow, clocks unchanged) and deletes it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { KubeClient } from '@kubeaws/runtime';
import { type MotoServer, TEST_ENV, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { RecordingProxy } from './proxy';
import { auditOffset, auditWritesSince } from './support';

const REGION = 'us-east-1';
const CLUSTER = 'nlc-kill';
const MAIN = path.resolve(__dirname, '../../../dist/packages/node-lifecycle-controller/lib/main.js');
const suffix = Math.random().toString(36).slice(2, 7);
const nodeName = `nlc-kill-${suffix}`;
let moto: MotoServer;
let proxy: RecordingProxy;
let kube: KubeClient;
let instanceId: string;
let ec2: EC2Client;
let ns: string | undefined;
const extraNodes: string[] = [];
const children: ChildProcess[] = [];

function startController(extra: string[] = []): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      MAIN, `--kubeconfig=${process.env[TEST_ENV.kubeconfig]}`, '--leader-elect=false', '--metrics-bind-address=127.0.0.1:0',
      '--health-probe-bind-address=127.0.0.1:0', `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, '--rolling-update=false',
      '--sla-profile=test', '--drain-poll-interval=1s', '--log-level=warn', ...extra,
    ],
    {
      env: { PATH: process.env.PATH, AWS_ENDPOINT_URL: proxy.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', POD_NAMESPACE: 'kube-system' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(child);
  return child;
}

/** SIGKILLs every controller process still running (one controller at a time: no leader election here). */
async function killAll(): Promise<void> {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
}

type NodeObj = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
const getNode = (name = nodeName) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);

async function createNode(name: string, providerID?: string): Promise<void> {
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
    spec: providerID ? { providerID } : {},
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  extraNodes.push(name);
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: `kwok node ${name} Ready`,
  });
}

beforeAll(async () => {
  kube = new KubeClient({ kubeConfig: testKubeConfig() });
  moto = await startMoto();
  proxy = new RecordingProxy(moto.endpoint);
  await proxy.start();
  ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` } }))).Instances![0].InstanceId!;
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: nodeName, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': nodeName, type: 'kwok' } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
}, 120_000);

afterAll(async () => {
  await killAll();
  await kube.delete(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
  for (const n of extraNodes) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  if (ns) await deleteNamespace(testKubeConfig(), ns).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('killed between the write-ahead PATCH and the terminate call: the restarted process does not terminate again', async () => {
  proxy.hold('DescribeInstances');
  const first = startController();
  await kube.mergePatch(`/api/v1/nodes/${nodeName}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  const written = await waitFor(
    async () => {
      const n = await getNode();
      return n.metadata.labels?.['kubeaws.io/lifecycle-state'] === 'terminating' && proxy.parkedCount('DescribeInstances') > 0
        ? n.metadata.annotations?.['kubeaws.io/termination-requested']
        : undefined;
    },
    { timeoutMs: 60_000, description: 'write-ahead PATCH done, DescribeInstances in flight' },
  );
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  proxy.release('DescribeInstances');
  const before = proxy.of('DescribeInstances').length;
  startController();
  await waitFor(() => proxy.of('DescribeInstances').length >= before + 3 || undefined, {
    timeoutMs: 60_000,
    description: 'three confirmation polls by the restarted process',
  });
  expect(proxy.of('TerminateInstances')).toEqual([]);
  expect(proxy.of('TerminateInstanceInAutoScalingGroup')).toEqual([]);
  const n = await getNode();
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('terminating');
  expect(n.metadata.annotations?.['kubeaws.io/termination-requested']).toBe(written);
}, 180_000);

it('killed right after the forced-termination write-ahead PATCH: the restarted process forces nothing more within the interval', async () => {
  await killAll();
  ns = await createTestNamespace(testKubeConfig(), 'nlc-kill');
  const node = `nlc-kill-force-${suffix}`;
  await createNode(node);
  // Two pods behind a PDB that allows no disruption: each is the other's sibling.
  await kube.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'force' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'force' } } },
  });
  for (const name of ['force-a', 'force-b'])
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'force' } },
      spec: { nodeName: node, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
    });
  await waitFor(async () => (await kube.get<{ status?: { currentHealthy?: number } }>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/force`)).status?.currentHealthy === 2, {
    timeoutMs: 60_000,
    description: 'the disruption controller sees both pods healthy',
  });
  // Every gate but the force interval open at once.
  const sla = [
    '--drain-grace-period=0s', '--drain-min-pod-lifetime=0s', '--drain-min-healthy-sibling-lifetime=0s', '--drain-min-unhealthy-sibling-lifetime=0s',
    '--drain-force-evict-interval=1h', '--terminate-instances=false',
  ];
  const auditFrom = await auditOffset();
  const first = startController(sla);
  await kube.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  const written = await waitFor(async () => (await getNode(node)).metadata.annotations?.['kubeaws.io/last-force-termination'], {
    timeoutMs: 60_000,
    intervalMs: 20,
    description: 'forced-termination write-ahead PATCH',
  });
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const podDeletes = (writes: string[]) => writes.filter((w) => w.startsWith('delete ') && w.includes(`/namespaces/${ns}/pods/`));
  // The killed process forced at most one pod (the DELETE may or may not have left before the kill).
  expect(podDeletes(await auditWritesSince(auditFrom)).length).toBeLessThanOrEqual(1);
  const restartFrom = await auditOffset();
  startController(sla);
  // The restarted process runs its rounds: Evictions (refused by the PDB) of the remaining pod(s), 3 at least.
  await waitFor(async () => (await auditWritesSince(restartFrom)).filter((w) => w.startsWith('create ') && w.endsWith('/eviction')).length >= 3, {
    timeoutMs: 60_000,
    description: 'three Eviction attempts by the restarted process',
  });
  expect(podDeletes(await auditWritesSince(restartFrom))).toEqual([]);
  expect(podDeletes(await auditWritesSince(auditFrom)).length).toBeLessThanOrEqual(1);
  const n = await getNode(node);
  expect(n.metadata.annotations?.['kubeaws.io/last-force-termination']).toBe(written);
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('draining');
  await killAll();
}, 180_000);

it('killed while SetDesiredCapacity is in flight after the replacement write-ahead: the restarted process never raises the ASG again', async () => {
  await killAll();
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const asg = new AutoScalingClient(sdk);
  const group = `${CLUSTER}-pool-${suffix}`;
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  await asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `lc-kill-${suffix}`, ImageId: image, InstanceType: 't3.micro' }));
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: group, LaunchConfigurationName: `lc-kill-${suffix}`, MinSize: 1, MaxSize: 3, DesiredCapacity: 1, AvailabilityZones: [`${REGION}a`],
      Tags: [
        { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned', PropagateAtLaunch: true },
        { Key: 'kubeaws.io/capacity-type', Value: 'on-demand', PropagateAtLaunch: false },
      ],
    }),
  );
  const describe = async () => (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }))).AutoScalingGroups![0];
  const oldId = (await describe()).Instances![0].InstanceId!;
  const node = `nlc-kill-repl-${suffix}`;
  await createNode(node, `aws:///${REGION}a/${oldId}`);
  // The node of the previous test is still draining: room for a second voluntary workflow.
  const flags = ['--node-replacement-prepare', '--replacement-timeout=10m', '--terminate-instances=false', '--max-concurrent-drains=10'];
  proxy.hold('SetDesiredCapacity');
  const first = startController(flags);
  await kube.mergePatch(`/api/v1/nodes/${node}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  const record = await waitFor(async () => {
    const r = (await getNode(node)).metadata.annotations?.['kubeaws.io/replacement'];
    return r && proxy.parkedCount('SetDesiredCapacity') > 0 ? r : undefined;
  }, { timeoutMs: 60_000, description: 'replacement write-ahead PATCH done, SetDesiredCapacity in flight' });
  expect(JSON.parse(record)).toMatchObject({ asg: group, targetDesired: 2, skipped: false });
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  // The call the killed process sent reaches AWS after all.
  proxy.release('SetDesiredCapacity');
  await waitFor(async () => (await describe()).DesiredCapacity === 2, { timeoutMs: 30_000, description: 'desired capacity 2' });
  // the proxy records a call when moto's answer comes back, which can be after moto applied it
  await waitFor(() => proxy.of('SetDesiredCapacity').length > 0 || undefined, { timeoutMs: 10_000, description: 'SetDesiredCapacity recorded' });
  expect(proxy.of('SetDesiredCapacity')).toHaveLength(1);
  const before = proxy.of('DescribeAutoScalingGroups').length;
  startController(flags);
  // The restarted process waits for the replacement: three checks of the ASG, no second raise.
  await waitFor(() => proxy.of('DescribeAutoScalingGroups').length >= before + 3 || undefined, { timeoutMs: 60_000, description: 'three ASG checks by the restarted process' });
  expect(proxy.of('SetDesiredCapacity')).toHaveLength(1);
  expect(proxy.of('SetDesiredCapacity')[0].params).toMatchObject({ AutoScalingGroupName: group, DesiredCapacity: '2' });
  expect((await describe()).DesiredCapacity).toBe(2);
  const n = await getNode(node);
  expect(n.metadata.annotations?.['kubeaws.io/replacement']).toBe(record);
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toBe('decommission-pending');
  await killAll();
}, 180_000);

it('killed after the interruption PATCH and before DeleteMessage: the redelivered message is a duplicate of the one workflow', async () => {
  await killAll();
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const sqs = new SQSClient(sdk);
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-kill-${suffix}` }))).QueueUrl!;
  const depth = async () => {
    const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
  };
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  const iid = (await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` } }))).Instances![0].InstanceId!;
  const node = `nlc-kill-sqs-${suffix}`;
  await createNode(node, `aws:///${REGION}a/${iid}`);
  // The SQS client sends to the queue URL's host: the controller gets the URL on the proxy.
  const viaProxy = new URL(new URL(queueUrl).pathname, proxy.endpoint).toString();
  const flags = [`--sqs-queue-url=${viaProxy}`, '--sqs-wait-time=1s', '--sqs-visibility-timeout=10s', '--max-concurrent-drains=10', '--terminate-instances=false'];
  proxy.hold('DeleteMessage');
  const first = startController(flags);
  const eventId = `kill-spot-${suffix}`;
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        version: '0', id: eventId, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning',
        time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), account: '123456789012', region: REGION, resources: [],
        detail: { 'instance-id': iid, 'instance-action': 'terminate' },
      }),
    }),
  );
  const recorded = await waitFor(async () => {
    const n = await getNode(node);
    return n.metadata.annotations?.['kubeaws.io/interruption'] && proxy.parkedCount('DeleteMessage') > 0 ? n : undefined;
  }, { timeoutMs: 60_000, description: 'interruption recorded, DeleteMessage in flight' });
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  proxy.drop('DeleteMessage');
  const record = JSON.parse(recorded.metadata.annotations!['kubeaws.io/interruption']);
  expect(record).toMatchObject({ kinds: ['spot-interruption'], eventIds: [eventId] });
  const deletesBefore = proxy.of('DeleteMessage').filter((c) => c.status === 200).length;
  startController(flags);
  // Redelivered after the 10 s visibility timeout, then deleted as a duplicate.
  await waitFor(async () => (await depth()) === 0, { timeoutMs: 60_000, description: 'the redelivered message deleted' });
  expect(proxy.of('DeleteMessage').filter((c) => c.status === 200).length).toBe(deletesBefore + 1);
  const n = await getNode(node);
  const after = JSON.parse(n.metadata.annotations!['kubeaws.io/interruption']);
  expect(after.eventIds).toEqual([eventId]);
  expect(after.firstSeen).toBe(record.firstSeen);
  expect(after.deadline).toBe(record.deadline);
  expect(n.metadata.annotations?.['kubeaws.io/drain-start']).toBe(recorded.metadata.annotations?.['kubeaws.io/drain-start']);
  await killAll();
}, 180_000);
