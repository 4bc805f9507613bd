/**
 * Set-up shared by the integration suites that need it: a settable clock over real time, an admin client with kwok
 * Node and Pod fixtures, readers of the controller's metrics and of the kube-apiserver audit log, the in-process
 * controller, and moto behind the recording proxy (test/proxy.ts) with EC2, SQS and Auto Scaling clients that talk
 * to moto directly (so the proxy records the controller's calls only).
 */
import { open, stat } from 'node:fs/promises';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type Clock, KubeClient, type RunningComponent, type TimerHandle, realClock, startComponent } from '@kubeaws/runtime';
import { type MotoServer, TEST_ENV, createTestNamespace, deleteNamespace, startMoto, testKubeConfig, waitFor } from '@kubeaws/testenv';
import type { KubeConfig } from '@kubernetes/client-node';
import { type NlcConfig, type NlcParts, nodeLifecycleController } from '../src/index';
import { RecordingProxy } from './proxy';

export const REGION = 'us-east-1';
export const H = 3_600_000;
/** User-Agent prefix of the controller's Kubernetes requests (audit log filter). */
export const USER_AGENT = 'kubeaws-node-lifecycle-controller';

export type Nlc = RunningComponent<NlcConfig, NlcParts>;

/** Real time plus an offset the test moves forward, or a frozen instant; timers run in real time. */
export class SettableClock implements Clock {
  offset = 0;
  frozen: number | undefined;
  now(): number {
    return this.frozen ?? Date.now() + this.offset;
  }
  freeze(at: number): void {
    this.frozen = at;
  }
  /** Runs on in real time from the frozen instant. */
  thaw(): void {
    if (this.frozen !== undefined) this.offset = this.frozen - Date.now();
    this.frozen = undefined;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return realClock.setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle | undefined): void {
    realClock.clearTimeout(h);
  }
}

/** RFC 3339 UTC with whole seconds (floored), as the controller writes its timestamps. */
export const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export interface NodeObj {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean; providerID?: string; taints?: { key: string; value?: string; effect: string }[] };
}
export interface PodObj {
  metadata: { name: string; uid: string; creationTimestamp: string; deletionTimestamp?: string; finalizers?: string[]; annotations?: Record<string, string> };
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
export interface EventObj {
  reason: string;
  type?: string;
  note?: string;
  regarding?: { kind?: string; name?: string; namespace?: string };
}

export const isReady = (p: { status?: { conditions?: { type: string; status: string }[] } }) =>
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Options of {@link Fixtures.pod}. */
export interface PodOptions {
  node?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  tgpSeconds?: number;
  /** Pod-level nodeSelector (e.g. one no node has: the pod stays Pending, never Ready). */
  nodeSelector?: Record<string, string>;
  ownerReferences?: Record<string, unknown>[];
  /** Wait until the pod is Ready (default: when it has a node). */
  waitReady?: boolean;
}

/** An admin client, one test namespace, kwok Nodes and Pods, all removed by {@link cleanup}. */
export class Fixtures {
  readonly kc: KubeConfig = testKubeConfig();
  readonly kube = new KubeClient({ kubeConfig: this.kc });
  ns = '';
  readonly nodes: string[] = [];

  async namespace(prefix: string): Promise<string> {
    this.ns = await createTestNamespace(this.kc, prefix);
    return this.ns;
  }

  /** A kwok Node (Ready before this resolves); `providerID` points it at an instance. */
  async node(name: string, o: { providerID?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Promise<void> {
    await this.kube.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake', ...o.annotations }, labels: { 'kubernetes.io/hostname': name, type: 'kwok', ...o.labels } },
      spec: o.providerID ? { providerID: o.providerID } : {},
      status: { capacity: { cpu: '8', memory: '32Gi', pods: '110' }, allocatable: { cpu: '8', memory: '32Gi', pods: '110' } },
    });
    this.nodes.push(name);
    await waitFor(async () => isReady(await this.kube.get<NodeObj & { status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${name}`)) || undefined, {
      timeoutMs: 60_000,
      description: `kwok node ${name} Ready`,
    });
  }

  /** A Pod in the test namespace; resolves with it once Ready (pods on a node) or at once. */
  async pod(name: string, o: PodOptions = {}): Promise<PodObj> {
    await this.kube.create(`/api/v1/namespaces/${this.ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: o.labels, annotations: o.annotations, ownerReferences: o.ownerReferences },
      spec: {
        nodeName: o.node,
        nodeSelector: o.nodeSelector,
        terminationGracePeriodSeconds: o.tgpSeconds ?? 1,
        tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'c', image: 'fake' }],
      },
    });
    if (!(o.waitReady ?? o.node !== undefined)) return this.getPod(name);
    return waitFor(async () => {
      const p = await this.getPod(name);
      return isReady(p) ? p : undefined;
    }, { timeoutMs: 60_000, description: `pod ${name} Ready` });
  }

  /** A policy/v1 PDB in the test namespace selecting `matchLabels`. */
  pdb(name: string, spec: { minAvailable?: number | string; maxUnavailable?: number | string }, matchLabels: Record<string, string>): Promise<unknown> {
    return this.kube.create(`/apis/policy/v1/namespaces/${this.ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name }, spec: { ...spec, selector: { matchLabels } },
    });
  }

  getNode(name: string): Promise<NodeObj> {
    return this.kube.get<NodeObj>(`/api/v1/nodes/${name}`);
  }
  async state(name: string): Promise<string | undefined> {
    return (await this.getNode(name)).metadata.labels?.['kubeaws.io/lifecycle-state'];
  }
  getPod(name: string): Promise<PodObj> {
    return this.kube.get<PodObj>(`/api/v1/namespaces/${this.ns}/pods/${name}`);
  }
  /** The pod, or undefined once the API no longer has it. */
  async findPod(name: string): Promise<PodObj | undefined> {
    try {
      return await this.getPod(name);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }
  /** Requests the decommission of a node (the user's label), with extra annotations in the same PATCH. */
  request(name: string, annotations?: Record<string, string>): Promise<unknown> {
    return this.kube.mergePatch(`/api/v1/nodes/${name}`, { metadata: { labels: { 'kubeaws.io/lifecycle-state': 'decommission-pending' }, annotations } });
  }
  async events(namespace = this.ns): Promise<EventObj[]> {
    return (await this.kube.list<EventObj>(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`)).items;
  }

  async cleanup(): Promise<void> {
    for (const n of this.nodes) await this.kube.delete(`/api/v1/nodes/${n}`).catch(() => undefined);
    if (this.ns) await deleteNamespace(this.kc, this.ns).catch(() => undefined);
  }
}

/** One metric sample of the controller (`kubeaws_node_lifecycle_controller_<name>{…labels…}`), 0 when absent. */
export async function metric(rc: Nlc, name: string, labels = ''): Promise<number> {
  const text = await rc.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Every sample line of one metric of the controller. */
export async function metricLines(rc: Nlc, name: string): Promise<string[]> {
  const text = await rc.metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`kubeaws_node_lifecycle_controller_${name}{`));
}

/** Waits for `n` more reconciles of the controller (a frozen clock stops Eviction retries, not the rounds). */
export async function reconcileRounds(rc: Nlc, n: number, what: string): Promise<void> {
  const total = async () => (await metricLines(rc, 'reconcile_total')).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  const r0 = await total();
  await waitFor(async () => (await total()) >= r0 + n || undefined, { timeoutMs: 30_000, description: `${n} more reconciles (${what})` });
}

/** One kube-apiserver audit event (Metadata level; writes only, as the test cluster's audit policy logs). */
export interface AuditEvent {
  verb: string;
  requestURI: string;
  userAgent?: string;
  stage?: string;
  user?: { username?: string };
  responseStatus?: { code?: number };
}

/** Byte offset of the end of the audit log now. */
export const auditOffset = async () => (await stat(process.env[TEST_ENV.auditLog]!)).size;

/** Audit events since a byte offset of the log (stage ResponseComplete). */
export async function auditSince(offset: number): Promise<AuditEvent[]> {
  const fh = await open(process.env[TEST_ENV.auditLog]!, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(size - offset);
    await fh.read(buf, 0, buf.length, offset);
    return buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.stage === undefined || e.stage === 'ResponseComplete');
  } finally {
    await fh.close();
  }
}

/** The controller's write requests (`<verb> <path>`, by User-Agent) since a byte offset of the audit log. */
export async function auditWritesSince(offset: number): Promise<string[]> {
  return (await auditSince(offset))
    .filter((e) => e.userAgent?.startsWith(USER_AGENT) && !['get', 'list', 'watch'].includes(e.verb))
    .map((e) => `${e.verb} ${e.requestURI.split('?')[0]}`);
}

/** Starts the controller in-process, as production does, with only the kubeconfig, clock, flags and env replaced. */
export async function startNlc(o: {
  kubeConfig: KubeConfig;
  argv: string[];
  clock?: Clock;
  env?: Record<string, string>;
  leaderElect?: boolean;
}): Promise<Nlc> {
  const rc = await startComponent(nodeLifecycleController, {
    kubeConfig: o.kubeConfig,
    clock: o.clock,
    argv: o.argv,
    env: o.env,
    // NLC_TEST_LOG_LEVEL=info shows the controller's log lines when a run needs debugging.
    config: { leaderElect: o.leaderElect ?? false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: (process.env.NLC_TEST_LOG_LEVEL ?? 'error') as 'error' },
    processMetrics: false,
  });
  await rc.synced();
  return rc;
}

/**
 * moto with the recording proxy in front: the controller's SDK (through `AWS_ENDPOINT_URL`) talks to the proxy, the
 * test's own clients to moto directly.
 */
export class Aws {
  moto!: MotoServer;
  proxy!: RecordingProxy;
  ec2!: EC2Client;
  sqs!: SQSClient;
  asg!: AutoScalingClient;

  async start(): Promise<void> {
    this.moto = await startMoto();
    this.proxy = new RecordingProxy(this.moto.endpoint);
    await this.proxy.start();
    Object.assign(process.env, { AWS_ENDPOINT_URL: this.proxy.endpoint, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
    const sdk = { endpoint: this.moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
    this.ec2 = new EC2Client(sdk);
    this.sqs = new SQSClient(sdk);
    this.asg = new AutoScalingClient(sdk);
  }

  async imageId(): Promise<string> {
    return (await this.ec2.send(new DescribeImagesCommand({}))).Images![0].ImageId!;
  }

  /** A running instance in `<region>a` with `tags`; returns its ID. */
  async runInstance(tags: Record<string, string> = {}): Promise<string> {
    const r = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: await this.imageId(), MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: `${REGION}a` },
        ...(Object.keys(tags).length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
      }),
    );
    return r.Instances![0].InstanceId!;
  }

  /**
   * The queue URL on a proxy (default this one): the SQS client sends to the queue URL's host, so the controller gets
   * this URL for its calls to be recorded.
   */
  viaProxy(queueUrl: string, proxy: RecordingProxy = this.proxy): string {
    return new URL(new URL(queueUrl).pathname, proxy.endpoint).toString();
  }

  /** Visible plus in-flight messages of a queue. */
  async queueDepth(queueUrl: string): Promise<number> {
    const a = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(a.Attributes!.ApproximateNumberOfMessages) + Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible);
  }

  async stop(): Promise<void> {
    await this.proxy?.stop();
    await this.moto?.stop();
  }
}

/** An EventBridge envelope as the interruption queue receives it. */
export function eventBridge(id: string, source: string, detailType: string, time: number, detail: Record<string, unknown>): string {
  return JSON.stringify({ version: '0', id, source, 'detail-type': detailType, time: rfc3339(time), account: '123456789012', region: REGION, resources: [], detail });
}
