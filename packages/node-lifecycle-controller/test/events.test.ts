/**
 * Every SQS event type not covered elsewhere (docs/node-lifecycle-controller.md#nlc-sqs) against real SQS and EC2
 * in moto and the local control plane, each for a kwok Node whose providerID points at a moto instance: an EC2
 * instance state change to `stopping` (of a stopped instance), an AWS Health scheduled change (RFC 1123 `startTime`), a rebalance
 * recommendation (`--rebalance-action=fence`) and an SNS-wrapped spot interruption. Each is recorded on the Node
 * in the fencing PATCH (taint reason and record kind as documented) and its message deleted.
 */
import { DescribeImagesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';

const REGION = 'us-east-1';

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
}

let moto: MotoServer;
let kube: KubeClient;
let ec2: EC2Client;
let sqs: SQSClient;
let queueUrl: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const suffix = Math.random().toString(36).slice(2, 7);
const created: string[] = [];
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

async function nodeWithInstance(key: string): Promise<{ name: string; instanceId: string }> {
  const images = await ec2.send(new DescribeImagesCommand({}));
  const r = await ec2.send(new RunInstancesCommand({ ImageId: images.Images![0].ImageId!, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', Placement: { AvailabilityZone: `${REGION}a` } }));
  const instanceId = r.Instances![0].InstanceId!;
  const name = `nlc-ev-${key}-${suffix}`;
  await kube.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
    spec: { providerID: `aws:///${REGION}a/${instanceId}` },
    status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
  });
  created.push(name);
  return { name, instanceId };
}

const envelope = (id: string, source: string, detailType: string, detail: object) => ({
  version: '0', id, source, 'detail-type': detailType, time: rfc3339(Date.now()), account: '123456789012', region: REGION, resources: [], detail,
});
const metric = async (labels: string) => {
  const text = await rc.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('kubeaws_node_lifecycle_controller_sqs_messages_total{') && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
};
const queueDepth = async () => {
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
};

beforeAll(async () => {
  kube = new KubeClient({ kubeConfig: testKubeConfig() });
  moto = await startMoto();
  Object.assign(process.env, { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  ec2 = new EC2Client(sdk);
  sqs = new SQSClient(sdk);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-ev-${suffix}` }))).QueueUrl!;
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: testKubeConfig(),
    argv: [
      '--cluster-name=nlc-ev', `--aws-region=${REGION}`, `--sqs-queue-url=${queueUrl}`, '--sla-profile=test', '--drain-poll-interval=2s',
      '--sqs-wait-time=1s', '--sqs-visibility-timeout=10s', '--rolling-update=false', '--rebalance-action=fence', '--terminate-instances=false',
    ],
    env: { POD_NAMESPACE: 'default' },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of created) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  await moto?.stop();
});

it.each<[string, (id: string) => object, string, string, string, boolean?]>([
  ['EC2 instance state change to stopping', (id) => envelope(`sc-${suffix}`, 'aws.ec2', 'EC2 Instance State-change Notification', { 'instance-id': id, state: 'stopping' }), 'instance-stopping', 'state-change', 'draining|drained', true],
  [
    'AWS Health scheduled change (RFC 1123 startTime)',
    (id) =>
      envelope(`health-${suffix}`, 'aws.health', 'AWS Health Event', {
        service: 'EC2', eventTypeCategory: 'scheduledChange', eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
        startTime: new Date(Date.now() + 3_600_000).toUTCString(), affectedEntities: [{ entityValue: id }],
      }),
    'scheduled-change', 'scheduled-change', 'draining|drained',
  ],
  ['rebalance recommendation, action fence', (id) => envelope(`rb-${suffix}`, 'aws.ec2', 'EC2 Instance Rebalance Recommendation', { 'instance-id': id }), 'rebalance-recommendation', 'rebalance-recommendation', 'fenced'],
  [
    'SNS-wrapped spot interruption',
    (id) => ({
      Type: 'Notification', MessageId: `sns-${suffix}`, TopicArn: `arn:aws:sns:${REGION}:123456789012:interruptions`,
      Message: JSON.stringify(envelope(`sns-spot-${suffix}`, 'aws.ec2', 'EC2 Spot Instance Interruption Warning', { 'instance-id': id, 'instance-action': 'terminate' })),
    }),
    'spot-interruption', 'spot-interruption', 'draining|drained|terminating',
  ],
])('%s: recorded in the fencing PATCH and deleted', async (key, body, reason, kind, states, stopped = false) => {
  const { name, instanceId } = await nodeWithInstance(reason);
  // The notification reports what EC2 does: the instance is stopping (a running one would be un-fenced at once).
  if (stopped) await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  const accepted = await metric(`kind="${kind}",outcome="accepted"`);
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body(instanceId)) }));
  const n = await waitFor(async () => {
    const x = await kube.get<NodeObj>(`/api/v1/nodes/${name}`);
    return x.metadata.annotations?.['kubeaws.io/interruption'] ? x : undefined;
  }, { timeoutMs: 30_000, description: `${key}: node fenced` });
  expect(n.metadata.labels?.['kubeaws.io/lifecycle-state']).toMatch(new RegExp(`^(${states})$`));
  expect(n.spec?.unschedulable).toBe(true);
  expect(n.spec?.taints).toContainEqual({ key: 'kubeaws.io/decommission-pending', value: reason, effect: 'NoSchedule' });
  expect(JSON.parse(n.metadata.annotations!['kubeaws.io/interruption'])).toMatchObject({ v: 1, kinds: [kind] });
  // counted once the message is handled, which may be just after the PATCH is visible
  await waitFor(async () => (await metric(`kind="${kind}",outcome="accepted"`)) >= accepted + 1, { timeoutMs: 30_000, description: `${key}: counted as accepted` });
  expect(await metric(`kind="${kind}",outcome="accepted"`)).toBe(accepted + 1);
  await waitFor(async () => (await queueDepth()) === 0, { timeoutMs: 30_000, description: `${key}: message deleted` });
});
