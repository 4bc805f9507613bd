/**
 * End to end: the pdb-controller and the node-lifecycle-controller on the same nodes and workloads, each under its
 * shipped RBAC, against the real control plane (the disruption controller, the scheduler, kwok nodes) and moto (the
 * EC2 instances behind the Nodes' providerIDs). The PDBs the pdb-controller makes (docs/pdb-controller.md) are what
 * the node-lifecycle-controller's drain respects through the Eviction API (docs/node-lifecycle-controller.md#nlc-drain):
 * - a node retired while its pods have somewhere to go is drained without any PDB ever dropping below its desired
 *   healthy count, then its instance is terminated;
 * - a node whose pods have nowhere to go is held by the PDB (429s) until the SLA allows forcing
 *   (docs/node-lifecycle-controller.md#nlc-sla): the PDB drops below its desired healthy count only after that.
 * Every PDB is sampled from the disruption controller's status (`currentHealthy` against `desiredHealthy`) for the
 * whole run. The controllers run in-process (startComponent); the node-lifecycle-controller's clock is real time
 * plus an offset the second test moves forward, so SLA hours pass without waiting.
 */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { type Clock, type KubeClient, type RunningComponent, type TimerHandle, realClock, startComponent } from '@kubeaws/runtime';
import { type MotoServer, createTestNamespace, deleteNamespace, startMoto, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { pdbController } from '@kubeaws/pdb-controller';
import { nodeLifecycleController } from '@kubeaws/node-lifecycle-controller';
import { admin, auditOffset, auditSince, componentKubeConfig, createNode, metric, saUser } from './support';

const REGION = 'us-east-1';
const H = 3_600_000;
const NLC = 'kubeaws_node_lifecycle_controller_';

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

/** One sample of a PDB below its desired healthy count. */
interface Violation { pdb: string; at: number; currentHealthy: number; desiredHealthy: number }

const suffix = Math.random().toString(36).slice(2, 7);
const clock = new OffsetClock();
let kc: KubeConfig;
let kube: KubeClient;
let ns: string;
let moto: MotoServer;
let ec2: EC2Client;
let pdb: RunningComponent<any, any>;
let nlc: RunningComponent<any, any>;
const nodes: string[] = [];
const violations: Violation[] = [];
const seenPdbs = new Set<string>();
let sampling = true;
let sampler: Promise<void> | undefined;

const state = async (name: string) => (await kube.get<any>(`/api/v1/nodes/${name}`)).metadata.labels?.['kubeaws.io/lifecycle-state'];
const readyPodsOn = async (node: string, app: string) =>
  (await kube.list<any>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: `app=${app}` })).items.filter(
    (p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
  );

async function instanceBackedNode(name: string, labels: Record<string, string> = {}): Promise<string> {
  // One of moto's Amazon Linux 2 images (a name filter answers at once; listing all 1300 takes seconds).
  const image = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['amzn2-ami-hvm-*'] }] }))).Images![0]!.ImageId!;
  const r = await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, InstanceType: 'm5.large', Placement: { AvailabilityZone: `${REGION}a` } }));
  const id = r.Instances![0]!.InstanceId!;
  await createNode(kube, name, { labels: { 'e2e-retire': suffix, ...labels }, providerID: `aws:///${REGION}a/${id}` });
  nodes.push(name);
  return id;
}

/** A Deployment of `replicas` pods on the nodes labelled `pool=<pool>`. */
async function deployment(name: string, replicas: number, nodeSelector: Record<string, string>): Promise<void> {
  await kube.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector, terminationGracePeriodSeconds: 1,
          tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  });
}

/** The pdb-controller's PDB of a Deployment once the disruption controller reports `currentHealthy`. */
async function managedPdb(workload: string, healthy: number): Promise<any> {
  const name = `${workload}-deployment-pdb`;
  return waitFor(async () => {
    const p = await kube.get<any>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${name}`).catch(() => undefined);
    return p?.metadata.labels?.['kubeaws.io/managed-by'] && p.status?.currentHealthy === healthy && p.status.observedGeneration === p.metadata.generation ? p : undefined;
  }, { timeoutMs: 60_000, description: `the pdb-controller's PDB ${name} with ${healthy} healthy pods` });
}

/** Samples every PDB of the namespace every 200 ms until the suite ends. */
async function samplePdbs(): Promise<void> {
  while (sampling) {
    const list = await kube.list<any>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`).catch(() => ({ items: [] as any[] }));
    for (const p of list.items) {
      const s = p.status;
      if (!s || s.observedGeneration !== p.metadata.generation) continue;
      seenPdbs.add(p.metadata.name);
      if (s.currentHealthy < s.desiredHealthy)
        violations.push({ pdb: p.metadata.name, at: clock.now(), currentHealthy: s.currentHealthy, desiredHealthy: s.desiredHealthy });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  ({ kc, kube } = admin());
  moto = await startMoto();
  // The SDK's own settings: the controller never takes an endpoint flag.
  Object.assign(process.env, { AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  ns = await createTestNamespace(kc, 'e2e-retire');
  const shared = { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' as const };
  pdb = await startComponent(pdbController, {
    kubeConfig: await componentKubeConfig(kc, kube, 'pdb-controller', ['/apis/policy/v1/poddisruptionbudgets', '/apis/apps/v1/deployments']),
    env: {},
    argv: ['--resync-period=1m'],
    config: shared,
    processMetrics: false,
  });
  nlc = await startComponent(nodeLifecycleController, {
    kubeConfig: await componentKubeConfig(kc, kube, 'node-lifecycle-controller', ['/api/v1/nodes', '/api/v1/pods']),
    clock,
    argv: ['--cluster-name=e2e', `--aws-region=${REGION}`, '--sla-profile=test', '--drain-poll-interval=1s', '--rolling-update=false', '--max-concurrent-drains=5'],
    env: { POD_NAMESPACE: 'kube-system' },
    config: shared,
    processMetrics: false,
  });
  await Promise.all([pdb.synced(), nlc.synced()]);
  sampler = samplePdbs();
}, 180_000);

afterAll(async () => {
  sampling = false;
  await sampler;
  await nlc?.stop();
  await pdb?.stop();
  for (const n of nodes) await kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  ec2?.destroy();
  await moto?.stop();
}, 120_000);

it('a node retired while the pdb-controller\'s PDB holds its pods: drained one eviction at a time, no PDB below its desired healthy count, instance terminated', async () => {
  const old = `e2e-old-${suffix}`;
  const spare = `e2e-spare-${suffix}`;
  const instance = await instanceBackedNode(old, { 'e2e-pool': suffix });
  await instanceBackedNode(spare);
  await deployment('web', 3, { 'e2e-pool': suffix });
  await waitFor(async () => (await readyPodsOn(old, 'web')).length === 3 || undefined, { timeoutMs: 60_000, description: '3 web pods Ready on the old node' });
  const made = await managedPdb('web', 3);
  expect(made.spec).toMatchObject({ maxUnavailable: 1 });
  expect(made.status.desiredHealthy).toBe(2);
  // The spare node joins the pool; the old one is retired.
  await kube.mergePatch(`/api/v1/nodes/${spare}`, { metadata: { labels: { 'e2e-pool': suffix } } });
  const from = await auditOffset();
  await kube.mergePatch(`/api/v1/nodes/${old}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  await waitFor(async () => ((await state(old)) === 'terminated') || undefined, { timeoutMs: 120_000, description: 'old node drained, instance terminated and confirmed' });
  expect((await readyPodsOn(spare, 'web')).length).toBe(3);
  const inst = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance] }));
  expect(inst.Reservations![0]!.Instances![0]!.State!.Name).toBe('terminated');
  // Only Evictions (which the disruption controller admits against the PDB), never a pod deletion; nothing forced.
  const writes = (await auditSince(from)).filter((e) => e.user.username === saUser('node-lifecycle-controller') && e.objectRef?.resource === 'pods');
  expect(writes.filter((e) => e.objectRef?.subresource === 'eviction' && e.verb === 'create').length).toBeGreaterThanOrEqual(3);
  expect(writes.filter((e) => e.verb === 'delete')).toEqual([]);
  expect(await metric(nlc, `${NLC}forced_terminations_total`)).toBe(0);
  expect(seenPdbs).toContain('web-deployment-pdb');
  expect(violations).toEqual([]);
}, 240_000);

it('a node whose pods have nowhere to go: the PDB blocks the drain (429) and drops below its desired healthy count only once the SLA forces a pod', async () => {
  const lone = `e2e-lone-${suffix}`;
  await instanceBackedNode(lone);
  await deployment('pinned', 2, { 'kubernetes.io/hostname': lone });
  await waitFor(async () => (await readyPodsOn(lone, 'pinned')).length === 2 || undefined, { timeoutMs: 60_000, description: '2 pinned pods Ready' });
  expect((await managedPdb('pinned', 2)).status.desiredHealthy).toBe(1);
  const blockedBefore = await metric(nlc, `${NLC}evictions_total`, 'result="pdb_blocked"');
  await kube.mergePatch(`/api/v1/nodes/${lone}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' } } });
  // One pod may go (its replacement stays Pending: the node is fenced and nothing else matches); the other is held.
  await waitFor(async () => (await metric(nlc, `${NLC}evictions_total`, 'result="pdb_blocked"')) >= blockedBefore + 2 || undefined, {
    timeoutMs: 60_000, description: 'Evictions refused by the disruption controller (429)',
  });
  expect(await state(lone)).toBe('draining');
  expect((await readyPodsOn(lone, 'pinned')).length).toBe(1);
  expect(violations).toEqual([]);
  // 8 h later (test profile: grace 2 h, pod lifetime 8 h, siblings 1 h) the SLA forces the last pod.
  const slaAt = Date.now() + 8 * H + 60_000;
  clock.offset = 8 * H + 60_000;
  await waitFor(async () => ['terminating', 'terminated'].includes(await state(lone)) || undefined, { timeoutMs: 60_000, description: 'node drained after the forced termination' });
  expect(await metric(nlc, `${NLC}forced_terminations_total`, 'reason="sla"')).toBe(1);
  await waitFor(async () => violations.some((v) => v.pdb === 'pinned-deployment-pdb') || undefined, { timeoutMs: 30_000, description: 'the forced pod shows in the PDB status' });
  // Below the desired healthy count only after the SLA allowed it, and only for this PDB.
  expect(violations.every((v) => v.pdb === 'pinned-deployment-pdb' && v.at >= slaAt - 1000)).toBe(true);
}, 240_000);
