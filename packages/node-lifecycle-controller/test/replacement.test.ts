/**
 * Prepared replacement capacity end to end (docs/node-lifecycle-controller.md#nlc-replacement): a decommission
 * request on a node of an on-demand ASG in moto writes the `kubeaws.io/replacement` record, raises the ASG's
 * desired capacity once (SetDesiredCapacity, HonorCooldown=false, asserted through the recording proxy), keeps the
 * node unfenced until a Node of the new instance is Ready, then drains and terminates the old instance through the
 * ASG with ShouldDecrementDesiredCapacity=true.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { RecordingProxy } from './proxy';

const REGION = 'us-east-1';
const CLUSTER = 'nlc-repl';
const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;
let moto: MotoServer;
let proxy: RecordingProxy;
let kc: KubeConfig;
let kube: KubeClient;
let asg: AutoScalingClient;
let ns: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const created: string[] = [];

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
}

const getNode = (name: string) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);
const state = async (name: string) => (await getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const metric = async (name: string, labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};
const asgInstances = async () =>
  ((await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }))).AutoScalingGroups![0].Instances ?? []).map((i) => i.InstanceId!);

async function createNode(instanceId: string): Promise<string> {
  const name = `nlc-repl-${instanceId}`;
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  created.push(name);
  await waitFor(async () => ((await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'), {
    timeoutMs: 60_000,
    description: `kwok node ${name} Ready`,
  });
  return name;
}

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  moto = await startMoto();
  proxy = new RecordingProxy(moto.endpoint);
  await proxy.start();
  Object.assign(process.env, { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const ec2 = new EC2Client(sdk);
  asg = new AutoScalingClient(sdk);
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  await asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: `lc-${suffix}`, ImageId: image, InstanceType: 't3.micro' }));
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: ASG, LaunchConfigurationName: `lc-${suffix}`, MinSize: 1, MaxSize: 3, DesiredCapacity: 1, AvailabilityZones: [`${REGION}a`],
      Tags: [
        { Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned', PropagateAtLaunch: true },
        { Key: 'kubeaws.io/capacity-type', Value: 'on-demand', PropagateAtLaunch: false },
      ],
    }),
  );
  ns = await createTestNamespace(kc, 'nlc-repl');
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    argv: [
      `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false',
      '--node-replacement-prepare', '--replacement-timeout=10m',
    ],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of created) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('an on-demand node gets a Ready replacement before it is fenced, then the ASG shrinks back when it is terminated', async () => {
  const [oldId] = await asgInstances();
  const old = await createNode(oldId);
  await kube.mergePatch(`/api/v1/nodes/${old}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  const record = await waitFor(async () => (await getNode(old)).metadata.annotations?.['kubeaws.io/replacement'], { timeoutMs: 30_000, description: 'replacement write-ahead' });
  expect(JSON.parse(record)).toMatchObject({ asg: ASG, targetDesired: 2, readyBefore: 0, skipped: false }); // the requested node itself is marked
  await waitFor(() => proxy.of('SetDesiredCapacity')[0], { timeoutMs: 30_000, description: 'SetDesiredCapacity' });
  expect(proxy.of('SetDesiredCapacity')[0].params).toMatchObject({ AutoScalingGroupName: ASG, DesiredCapacity: '2', HonorCooldown: 'false' });
  // Waiting for the new node: not fenced, and the desired capacity is not raised again. Only the waiting node
  // returns requeueAfter, so 3 more such reconciles mean at least 2 complete wait checks after SetDesiredCapacity.
  const waits = await metric('reconcile_total', 'result="requeue_after"');
  await waitFor(async () => (await metric('reconcile_total', 'result="requeue_after"')) >= waits + 3, { timeoutMs: 30_000, description: '3 more replacement-wait reconciles' });
  expect(await state(old)).toBe('decommission-pending');
  expect((await getNode(old)).spec?.unschedulable).toBeFalsy();
  expect(proxy.of('SetDesiredCapacity')).toHaveLength(1);
  const newId = await waitFor(async () => (await asgInstances()).find((i) => i !== oldId), { timeoutMs: 30_000, description: 'moto launched the replacement instance' });
  await createNode(newId);
  // A node without pods passes draining, drained and terminating within milliseconds (moto terminates at once), so
  // `terminated` counts too: any state after decommission-pending means it was fenced.
  await waitFor(async () => ['draining', 'drained', 'terminating', 'terminated'].includes((await state(old)) ?? ''), { timeoutMs: 30_000, description: 'fenced once the replacement is Ready' });
  expect(await metric('replacements_total', 'result="ready"')).toBe(1);
  await waitFor(() => proxy.of('TerminateInstanceInAutoScalingGroup')[0], { timeoutMs: 60_000, description: 'old instance terminated through the ASG' });
  expect(proxy.of('TerminateInstanceInAutoScalingGroup')[0].params).toMatchObject({ InstanceId: oldId, ShouldDecrementDesiredCapacity: 'true' });
  expect(proxy.of('SetDesiredCapacity')).toHaveLength(1);
  await waitFor(
    async () => (await kube.list<{ reason: string }>('/api/v1/events', { fieldSelector: `involvedObject.name=${old}` })).items.some((e) => e.reason === 'ReplacementRequested'),
    { timeoutMs: 30_000, description: 'Normal ReplacementRequested' },
  );
}, 150_000);
