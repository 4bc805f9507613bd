/**
 * Rolling updates end to end (docs/node-lifecycle-controller.md#nlc-rolling-update, #nlc-termination) and the
 * steady state, against the real local control plane and moto behind the recording proxy (test/proxy.ts): an ASG
 * of this cluster pinned to launch template version 1 with a kwok Node per instance. With nothing to do, the
 * controller makes no Kubernetes write (kube-apiserver audit log, by its User-Agent) and no AWS write (the proxy's
 * recording): only long polls and one ASG listing per `--asg-sync-interval`. Pinning the ASG to version 2 makes both
 * instances outdated: each Node gets the request label and the `rolling-update` taint in one PATCH, the nodes are
 * retired one at a time (`--max-concurrent-drains=1`) and each instance is terminated with
 * TerminateInstanceInAutoScalingGroup (no decrement: no replacement was prepared), never ec2:TerminateInstances.
 *
 * moto reports every ASG instance with the launch template's default version; the template keeps version 1 as its
 * default, so the instances launched under version 1 read as version 1, as AWS reports them.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, CreateLaunchTemplateVersionCommand, DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { KubeClient, type RunningComponent, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { RecordingProxy } from './proxy';
import { type AuditEvent, REGION, USER_AGENT, auditOffset, auditSince } from './support';

const CLUSTER = 'nlc-roll';
const suffix = Math.random().toString(36).slice(2, 7);
const ASG = `${CLUSTER}-pool-${suffix}`;
/** AWS actions that only read. */
const AWS_READS = new Set(['ReceiveMessage', 'DescribeAutoScalingGroups', 'DescribeInstances', 'DescribeLifecycleHooks', 'GetQueueAttributes']);

let moto: MotoServer;
let proxy: RecordingProxy;
let kc: KubeConfig;
let kube: KubeClient;
let ec2: EC2Client;
let asg: AutoScalingClient;
let ns: string;
let templateId: string;
let rc: RunningComponent<NlcConfig, NlcParts>;
const nodes: { name: string; instanceId: string }[] = [];

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
}

const getNode = (name: string) => kube.get<NodeObj>(`/api/v1/nodes/${name}`);
const state = async (name: string) => (await getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const metric = async (name: string, labels: string) => {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};

/** The controller's write requests, answered or refused. */
const controllerWrites = (events: AuditEvent[]) => events.filter((e) => e.userAgent?.startsWith(USER_AGENT)).map((e) => `${e.verb} ${e.requestURI}`);
/** The controller's writes that were applied (a 409 on a stale resourceVersion is retried and applies nothing). */
const appliedWrites = (events: AuditEvent[]) => controllerWrites(events.filter((e) => (e.responseStatus?.code ?? 200) < 400));

beforeAll(async () => {
  kc = testKubeConfig();
  kube = new KubeClient({ kubeConfig: kc });
  moto = await startMoto();
  proxy = new RecordingProxy(moto.endpoint);
  await proxy.start();
  Object.assign(process.env, { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  const sdk = { endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  ec2 = new EC2Client(sdk);
  asg = new AutoScalingClient(sdk);
  const sqs = new SQSClient(sdk);
  // The queue URL names the proxy's host, as a real queue URL names the SQS endpoint (the SDK sends to the URL's host).
  const motoQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `nlc-roll-${suffix}` }))).QueueUrl!;
  const queueUrl = motoQueueUrl.replace(new URL(moto.endpoint).host, new URL(proxy.endpoint).host);
  const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  templateId = (
    await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: `lt-${suffix}`, LaunchTemplateData: { ImageId: image, InstanceType: 't3.micro' } }))
  ).LaunchTemplate!.LaunchTemplateId!;
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: ASG, LaunchTemplate: { LaunchTemplateId: templateId, Version: '1' }, MinSize: 1, MaxSize: 4, DesiredCapacity: 2,
      AvailabilityZones: [`${REGION}a`],
      Tags: [{ Key: `kubernetes.io/cluster/${CLUSTER}`, Value: 'owned', PropagateAtLaunch: true }],
    }),
  );
  const ids = ((await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }))).AutoScalingGroups![0].Instances ?? []).map((i) => i.InstanceId!);
  expect(ids).toHaveLength(2);
  for (const instanceId of ids) {
    const name = `nlc-roll-${instanceId}`;
    await kube.create('/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } },
      spec: { providerID: `aws:///${REGION}a/${instanceId}` },
      status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
    });
    nodes.push({ name, instanceId });
  }
  ns = await createTestNamespace(kc, 'nlc-roll');
  // One pod per node, so each drain has something to evict.
  for (const n of nodes)
    await kube.create(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${n.instanceId}` },
      spec: { nodeName: n.name, terminationGracePeriodSeconds: 1, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'c', image: 'fake' }] },
    });
  rc = await startComponent(nodeLifecycleController, {
    kubeConfig: kc,
    argv: [
      `--cluster-name=${CLUSTER}`, `--aws-region=${REGION}`, `--sqs-queue-url=${queueUrl}`, '--sqs-wait-time=1s', '--sla-profile=test',
      '--drain-poll-interval=1s', '--asg-sync-interval=2s', '--max-concurrent-drains=1',
    ],
    env: { POD_NAMESPACE: ns },
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'error' },
    processMetrics: false,
  });
  await rc.synced();
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  for (const n of nodes) await kube.delete(`/api/v1/nodes/${n.name}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  await proxy?.stop();
  await moto?.stop();
});

it('steady state: no Kubernetes write in the audit log, no AWS write, one long poll per wait time and one ASG listing per sync interval', async () => {
  // Settle: the first ASG listings have run and the controller has written nothing for a few syncs.
  await waitFor(() => proxy.of('DescribeAutoScalingGroups').length >= 2 || undefined, { timeoutMs: 30_000, description: 'two ASG syncs' });
  const offset = await auditOffset();
  const calls = proxy.calls.length;
  const t0 = Date.now();
  await waitFor(() => Date.now() - t0 >= 10_000 || undefined, { timeoutMs: 20_000, intervalMs: 500, description: 'a 10 s steady-state window' });
  const window = proxy.calls.slice(calls);
  const seconds = (Date.now() - t0) / 1000;
  expect(controllerWrites(await auditSince(offset))).toEqual([]);
  expect(window.filter((c) => !AWS_READS.has(c.action)).map((c) => c.action)).toEqual([]);
  // Reads: ReceiveMessage long polls of 1 s and DescribeAutoScalingGroups every 2 s; nothing else.
  expect([...new Set(window.map((c) => c.action))].sort()).toEqual(['DescribeAutoScalingGroups', 'ReceiveMessage']);
  const receives = window.filter((c) => c.action === 'ReceiveMessage').length;
  const listings = window.filter((c) => c.action === 'DescribeAutoScalingGroups').length;
  expect(receives).toBeGreaterThanOrEqual(Math.floor(seconds / 1) - 3);
  expect(receives).toBeLessThanOrEqual(Math.ceil(seconds / 1) + 1);
  expect(listings).toBeGreaterThanOrEqual(Math.floor(seconds / 2) - 1);
  expect(listings).toBeLessThanOrEqual(Math.ceil(seconds / 2) + 1);
  for (const n of nodes) expect(await state(n.name)).toBeUndefined();
  expect(await metric('outdated_nodes', '')).toBe(0);
}, 60_000);

/**
 * Watches this suite's Nodes from the current resourceVersion and records every change of
 * `kubeaws.io/lifecycle-state`, in the apiserver's order (watch events of one resource come in resourceVersion order).
 */
async function recordStates(): Promise<{ transitions: { node: string; state: string | undefined }[]; stop: () => void }> {
  const names = new Set(nodes.map((n) => n.name));
  const list = await kube.list<NodeObj>('/api/v1/nodes');
  const last = new Map<string, string | undefined>(list.items.filter((o) => names.has(o.metadata.name)).map((o) => [o.metadata.name, o.metadata.labels?.['kubeaws.io/lifecycle-state']]));
  const transitions: { node: string; state: string | undefined }[] = [];
  const ac = new AbortController();
  void kube
    .watch<NodeObj>('/api/v1/nodes', { resourceVersion: list.metadata?.resourceVersion }, (ev) => {
      if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
      const o = ev.object as NodeObj;
      if (!names.has(o.metadata.name)) return;
      const s = o.metadata.labels?.['kubeaws.io/lifecycle-state'];
      if (last.get(o.metadata.name) === s) return;
      last.set(o.metadata.name, s);
      transitions.push({ node: o.metadata.name, state: s });
    }, ac.signal)
    .catch((err: unknown) => transitions.push({ node: '', state: `watch failed: ${String(err)}` }));
  return { transitions, stop: () => ac.abort() };
}

it('an ASG pinned to a new launch template version: outdated nodes are marked, retired one at a time and terminated through the ASG', async () => {
  const offset = await auditOffset();
  const recorder = await recordStates();
  await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: templateId, SourceVersion: '1', LaunchTemplateData: { InstanceType: 't3.small' } }));
  await asg.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: ASG, LaunchTemplate: { LaunchTemplateId: templateId, Version: '2' } }));
  // Both nodes are requested by the next sync (request label + rolling-update taint in one PATCH each).
  await waitFor(async () => (await metric('outdated_nodes', '')) === 2 || undefined, { timeoutMs: 30_000, description: 'two outdated instances' });
  for (const n of nodes)
    await waitFor(async () => ((await getNode(n.name)).spec?.taints ?? []).some((t) => t.key === 'kubeaws.io/decommission-pending' && t.value === 'rolling-update'), {
      timeoutMs: 30_000,
      description: `${n.name} requested for the rolling update`,
    });
  for (const n of nodes) await waitFor(async () => (await state(n.name)) === 'terminated', { timeoutMs: 90_000, description: `${n.name} retired` });
  const terminations = proxy.of('TerminateInstanceInAutoScalingGroup');
  expect(terminations.map((c) => c.params.InstanceId).sort()).toEqual(nodes.map((n) => n.instanceId).sort());
  for (const c of terminations) expect(c.params).toMatchObject({ ShouldDecrementDesiredCapacity: 'false' });
  expect(terminations.every((c) => c.status === 200)).toBe(true);
  expect(proxy.of('TerminateInstances')).toEqual([]);
  // One at a time: in the apiserver's order of changes, a node turned draining only once the other had left the
  // voluntary slot (draining and drained hold it), and both went through the whole workflow.
  recorder.stop();
  const inSlot = new Set<string>();
  const overlaps: string[] = [];
  for (const [i, t] of recorder.transitions.entries()) {
    if (t.state === 'draining' || t.state === 'drained') inSlot.add(t.node);
    else inSlot.delete(t.node);
    if (inSlot.size > 1) overlaps.push(`change ${i} (${t.node} ${t.state}): ${[...inSlot].join(', ')} in the slot`);
  }
  expect(overlaps).toEqual([]);
  for (const n of nodes)
    expect(recorder.transitions.filter((t) => t.node === n.name).map((t) => t.state)).toEqual(['decommission-pending', 'draining', 'drained', 'terminating', 'terminated']);
  const inst = await ec2.send(new DescribeInstancesCommand({ InstanceIds: nodes.map((n) => n.instanceId) }));
  for (const r of inst.Reservations ?? []) for (const i of r.Instances ?? []) expect(i.State?.Name).toBe('terminated');
  // The ASG keeps its size: moto launched replacements for both.
  const g = (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ASG] }))).AutoScalingGroups![0];
  expect(g.DesiredCapacity).toBe(2);
  expect(await metric('instance_terminations_total', 'api="autoscaling",result="ok"')).toBe(2);
  // Budget of one voluntary retirement: at most 6 Node PATCHes applied (no forced termination here), 1 terminate call.
  const writes = appliedWrites(await auditSince(offset));
  for (const n of nodes) {
    const patches = writes.filter((w) => w.startsWith(`patch /api/v1/nodes/${n.name}?`) || w === `patch /api/v1/nodes/${n.name}`);
    expect(patches.length).toBeGreaterThanOrEqual(4); // request, fence, drained, terminating, terminated (some may merge)
    expect(patches.length).toBeLessThanOrEqual(6);
  }
  expect(writes.filter((w) => w.includes('/eviction'))).toHaveLength(2);
  const events = (await kube.list<{ reason: string; involvedObject: { name: string } }>('/api/v1/events')).items.filter((e) => nodes.some((n) => n.name === e.involvedObject.name));
  for (const n of nodes)
    expect(events.filter((e) => e.involvedObject.name === n.name).map((e) => e.reason)).toEqual(
      expect.arrayContaining(['DecommissionRequested', 'DrainStarted', 'DrainCompleted', 'InstanceTerminationRequested', 'InstanceTerminated']),
    );
}, 150_000);
