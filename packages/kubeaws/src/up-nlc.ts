/**
 * The node-lifecycle-controller's part of `kubeaws up` on a local cluster (docs/node-lifecycle-controller.md):
 * the shared moto server stands in for AWS (the controller reaches it through the SDK's own `AWS_ENDPOINT_URL`), with an
 * interruption queue (and its dead-letter queue) and one EC2 instance behind each of two extra kwok nodes
 * (`spec.providerID` = `aws:///<az>/<instance-id>`). The demo then requests the decommission of one node, whose
 * pods a PDB protects, and posts a spot interruption for the other. The SLA is the `test` profile shortened to a
 * demo scale, which the status view states next to each node's state and next forced-termination time.
 */
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type MotoServer, waitFor } from '@kubeaws/testenv';
import { KubeClient } from '@kubeaws/runtime';
import type { KubeConfig, V1Node } from '@kubernetes/client-node';

/** Region of the local AWS stand-in. */
export const DEMO_REGION = 'us-east-1';
/** The two demo nodes (the examples pin their pods to these names). */
export const DEMO_NODES = { decommission: 'kwok-nlc-decommission', spot: 'kwok-nlc-spot' } as const;

/**
 * The demo SLA: the `test` profile (grace 2 h, pod lifetime 8 h, siblings 1 h / 1 h, interval 5 min) with one
 * hour shown as 30 s, so a forced termination happens within minutes. Flags of the controller, and the text
 * the status view prints.
 */
export const DEMO_SLA = {
  args: [
    '--sla-profile=test',
    '--drain-grace-period=60s',
    '--drain-min-pod-lifetime=240s',
    '--drain-min-healthy-sibling-lifetime=30s',
    '--drain-min-unhealthy-sibling-lifetime=30s',
    '--drain-force-evict-interval=150s',
    '--drain-poll-interval=5s',
  ],
  text: 'SLA: test profile at demo scale, 1 h = 30 s (grace 60s, pod lifetime 240s, siblings 30s, interval 150s)',
  gracePeriodMs: 60_000,
  minPodLifetimeMs: 240_000,
  intervalMs: 150_000,
};

/** What `kubeaws up` gets from {@link prepareNodeLifecycle}. */
export interface NodeLifecycleDemo {
  /** Environment of the controller process (the SDK's endpoint and credentials settings for moto). */
  env: Record<string, string>;
  /** Extra flags of the controller process. */
  args: string[];
  /** Requests the decommission and posts the spot interruption (after the examples are applied). */
  start(): Promise<void>;
  /** Status lines: each demo node's state and next forced termination by the SLA. */
  status(): Promise<string[]>;
  stop(): Promise<void>;
}

const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * Creates the queue and the instances in `moto` (the local AWS stand-in `kubeaws up` shares between the demos, one
 * region each; it outlives the demo) and the two kwok nodes.
 */
export async function prepareNodeLifecycle(kc: KubeConfig, moto: MotoServer, say: (line: string) => void): Promise<NodeLifecycleDemo> {
  say('creating the queue and instances in moto (local AWS stand-in) for the node-lifecycle-controller');
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sdk = { endpoint: moto.endpoint, region: DEMO_REGION, credentials };
  const ec2 = new EC2Client(sdk);
  const sqs = new SQSClient(sdk);
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: 'kubeaws-interruptions-dlq' }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'kubeaws-interruptions',
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) },
      }),
    )
  ).QueueUrl!;
  // One of moto's Amazon Linux 2 images: a name filter answers at once, all 1300 images take seconds to list.
  const image = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['amzn2-ami-hvm-*'] }] }))).Images![0].ImageId!;
  const kube = new KubeClient({ kubeConfig: kc, component: 'kubeaws-up' });
  const instances: Record<string, string> = {};
  for (const name of Object.values(DEMO_NODES)) {
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: image, MinCount: 1, MaxCount: 1, InstanceType: 'm5.large', Placement: { AvailabilityZone: `${DEMO_REGION}a` },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'kubernetes.io/cluster/local', Value: 'owned' }] }],
      }),
    );
    const id = r.Instances![0].InstanceId!;
    instances[name] = id;
    const capacity = { cpu: '32', memory: '256Gi', pods: '110' };
    await kube.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', type: 'kwok', 'topology.kubernetes.io/zone': `${DEMO_REGION}a` },
        },
        spec: { providerID: `aws:///${DEMO_REGION}a/${id}` },
        status: { capacity, allocatable: capacity },
    });
    say(`  node ${name} -> moto instance ${id}`);
  }
  return {
    env: {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: DEMO_REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    args: ['--cluster-name=local', `--aws-region=${DEMO_REGION}`, `--sqs-queue-url=${queueUrl}`, '--rolling-update=false', '--max-concurrent-drains=2', ...DEMO_SLA.args],
    async start() {
      // Let the protected pods become Ready first, so the disruption controller answers 429 for them: wait (at most
      // a minute) until it reports the demo PDB's pods healthy.
      await waitFor(
        async () => {
          const pdb = await kube.get<{ status?: { currentHealthy?: number; desiredHealthy?: number } }>('/apis/policy/v1/namespaces/demo-nlc/poddisruptionbudgets/protected').catch(() => undefined);
          return (pdb?.status?.desiredHealthy ?? 0) > 0 && pdb!.status!.currentHealthy! >= pdb!.status!.desiredHealthy! ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500, description: 'the demo-nlc/protected PDB reports its pods healthy' },
      ).catch(() => say('node lifecycle demo: the protected pods are not Ready after a minute; requesting the decommission anyway'));
      await kube.mergePatch(`/api/v1/nodes/${DEMO_NODES.decommission}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
      say(`requested the decommission of ${DEMO_NODES.decommission} (label kubeaws.io/lifecycle-state=decommission-pending)`);
      const body = {
        version: '0', id: `demo-spot-${Date.now()}`, source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning',
        time: rfc3339(Date.now()), account: '000000000000', region: DEMO_REGION, resources: [],
        detail: { 'instance-id': instances[DEMO_NODES.spot], 'instance-action': 'terminate' },
      };
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
      say(`posted a spot interruption for ${DEMO_NODES.spot} (${instances[DEMO_NODES.spot]}) to the local queue`);
    },
    async status() {
      const lines = [`  node lifecycle: ${DEMO_SLA.text}`];
      for (const name of Object.values(DEMO_NODES)) {
        let node: V1Node;
        try {
          node = await kube.get<V1Node>(`/api/v1/nodes/${name}`);
        } catch {
          lines.push(`    ${name}: gone`);
          continue;
        }
        const state = node.metadata?.labels?.['kubeaws.io/lifecycle-state'] ?? 'ready';
        const ann = node.metadata?.annotations ?? {};
        const start = ann['kubeaws.io/drain-start'] ? Date.parse(ann['kubeaws.io/drain-start']) : undefined;
        const last = ann['kubeaws.io/last-force-termination'] ? Date.parse(ann['kubeaws.io/last-force-termination']) : undefined;
        let next = '-';
        if (state === 'draining' && start !== undefined) {
          // Earliest time gates G1 (grace), G2 (interval) and G3 (age of the oldest pod) allow; G4 (siblings) is
          // per pod and named by the controller's Events.
          const pods = await kube.list<{ metadata: { creationTimestamp?: string } }>('/api/v1/pods', { fieldSelector: `spec.nodeName=${name}` });
          const oldest = Math.min(...pods.items.map((p) => Date.parse(p.metadata.creationTimestamp ?? '')).filter(Number.isFinite));
          const g3 = Number.isFinite(oldest) ? oldest + DEMO_SLA.minPodLifetimeMs : 0;
          const t = Math.max(start + DEMO_SLA.gracePeriodMs, last !== undefined ? last + DEMO_SLA.intervalMs : 0, g3);
          next = `${new Date(t).toISOString().slice(11, 19)} (in ${Math.max(0, Math.round((t - Date.now()) / 1000))}s)`;
        }
        const interruption = ann['kubeaws.io/interruption'] ? ` interruption ${JSON.parse(ann['kubeaws.io/interruption']).kinds.join('+')}` : '';
        lines.push(`    ${name.padEnd(24)} ${state.padEnd(12)} next forced termination ${next}${interruption}`);
      }
      return lines;
    },
    async stop() {
      for (const name of Object.values(DEMO_NODES)) await kube.delete(`/api/v1/nodes/${name}`).catch(() => undefined);
    },
  };
}
