/**
 * End to end: the downscaler and the metrics-adapter on the same HPA-managed workload, with the real HPA controller
 * of kube-controller-manager between them. The downscaler never scales a workload an HPA manages; it lowers the HPA's
 * `minReplicas` for the downtime and restores it afterwards (docs/downscaler.md#ds-hpa, rule 4), while the HPA keeps
 * scaling within its bounds on the SQS queue length the metrics-adapter serves through the aggregator
 * (docs/metrics-adapter.md). The downscaler runs under its shipped RBAC; the adapter, moto SQS and Prometheus come
 * from the adapter's shared setup (packages/metrics-adapter/test/support.ts). Polls with deadlines.
 */
import { CreateQueueCommand, PurgeQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { RunningComponent } from '@kubeaws/runtime';
import { startComponent } from '@kubeaws/runtime';
import { waitFor } from '@kubeaws/testenv';
import { downscaler } from '@kubeaws/downscaler';
import { REGION, env, hpaStatus, setupAdapterEnv, teardownAdapterEnv } from '@kubeaws/metrics-adapter/test/support';
import { admin, auditOffset, auditSince, componentKubeConfig, events, saUser } from './support';

const ORIG = 'downscaler/original-replicas';
let ds: RunningComponent<any, any>;
let queueUrl: string;

const deploymentPath = () => `/apis/apps/v1/namespaces/${env.ns}/deployments/worker`;
const hpaPath = () => `/apis/autoscaling/v2/namespaces/${env.ns}/horizontalpodautoscalers/worker`;
const replicas = async () => (await env.client.get<any>(deploymentPath())).spec.replicas as number;
const hpaObj = () => env.client.get<any>(hpaPath());

async function waitReplicas(n: number, description: string): Promise<void> {
  await waitFor(async () => ((await replicas()) === n && (await hpaStatus('worker')).desiredReplicas === n) || undefined, { timeoutMs: 120_000, intervalMs: 1000, description });
}

async function fill(messages: number): Promise<void> {
  for (let b = 0; b < messages / 10; b++)
    await env.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `job ${b}-${i}` })) }));
}

beforeAll(async () => {
  await setupAdapterEnv();
  const { kc, kube } = admin();
  ds = await startComponent(downscaler, {
    kubeConfig: await componentKubeConfig(kc, kube, 'downscaler', ['/apis/apps/v1/deployments', '/apis/autoscaling/v2/horizontalpodautoscalers']),
    env: {},
    argv: [`--namespace=${env.ns}`, '--include-resources=deployments,horizontalpodautoscalers', '--grace-period=0s', '--interval=2s'],
    config: { leaderElect: false, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0', logLevel: 'warn' },
    processMetrics: false,
  });
  await ds.synced();
  queueUrl = (await env.sqs.send(new CreateQueueCommand({ QueueName: `e2e-jobs-${env.ns}` }))).QueueUrl!;
}, 240_000);

afterAll(async () => {
  await ds?.stop();
  await teardownAdapterEnv();
}, 120_000);

it('in downtime the downscaler lowers only the HPA\'s minReplicas; the HPA keeps following the queue within it, and both come back after', async () => {
  await env.client.create(`/apis/apps/v1/namespaces/${env.ns}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'worker' },
    spec: {
      replicas: 3, selector: { matchLabels: { app: 'worker' } },
      template: {
        metadata: { labels: { app: 'worker' } },
        spec: { containers: [{ name: 'app', image: 'app' }], tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }] },
      },
    },
  });
  await env.client.create(`/apis/autoscaling/v2/namespaces/${env.ns}/horizontalpodautoscalers`, {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'worker', annotations: { 'metric-config.external.queue-length.sqs-queue-length/interval': '2s' } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' },
      minReplicas: 3, maxReplicas: 6,
      metrics: [{
        type: 'External',
        external: {
          metric: { name: 'queue-length', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': `e2e-jobs-${env.ns}`, region: REGION } } },
          target: { type: 'AverageValue', averageValue: '10' },
        },
      }],
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 6, periodSeconds: 5 }] },
        scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 6, periodSeconds: 5 }] },
      },
    },
  });
  await waitReplicas(3, 'worker at the HPA minimum of 3 on an empty queue');
  const from = await auditOffset();

  // Downtime for the worker: its HPA is asked for 1 at least, instead of the Deployment being scaled.
  await env.client.mergePatch(deploymentPath(), { metadata: { annotations: { 'downscaler/force-downtime': 'true', 'downscaler/downtime-replicas': '1' } } });
  await waitFor(async () => ((await hpaObj()).spec.minReplicas === 1) || undefined, { timeoutMs: 60_000, description: 'the downscaler lowers the HPA minReplicas to 1' });
  expect((await hpaObj()).metadata.annotations?.[ORIG]).toBe('3');
  await waitReplicas(1, 'the HPA scales the worker to 1 in downtime (queue empty)');
  await waitFor(async () => (await events(env.client, env.ns)).some((e) => e.reason === 'DelegatedToHPA' && e.regarding?.name === 'worker') || undefined, {
    timeoutMs: 30_000, description: 'Normal DelegatedToHPA on the worker',
  });

  // Work arrives during the downtime: the HPA scales up within its bounds and the downscaler does not push back.
  await fill(50);
  await waitReplicas(5, 'the HPA follows 50 messages to 5 replicas in downtime');
  await fill(30);
  await waitReplicas(6, 'the HPA follows 80 messages to its maximum of 6');
  expect((await hpaObj()).spec.minReplicas).toBe(1);
  await env.sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  await waitReplicas(1, 'the HPA back to the downtime minimum of 1 after the queue drained');

  // Uptime again: the downscaler restores the HPA minimum, and the HPA scales the worker back to it.
  await env.client.mergePatch(deploymentPath(), { metadata: { annotations: { 'downscaler/force-downtime': null } } });
  await waitFor(async () => ((await hpaObj()).spec.minReplicas === 3) || undefined, { timeoutMs: 60_000, description: 'the downscaler restores minReplicas 3' });
  expect((await hpaObj()).metadata.annotations?.[ORIG]).toBeUndefined();
  await waitReplicas(3, 'the HPA scales the worker back to 3');

  // The downscaler wrote the HPA only (one patch down, one up); every replica change was the HPA controller's.
  const audit = await auditSince(from);
  const byDownscaler = audit.filter((e) => e.user.username === saUser('downscaler') && ['patch', 'update', 'create'].includes(e.verb) && e.objectRef?.resource !== 'events');
  expect(byDownscaler.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`)).toEqual([
    'patch horizontalpodautoscalers/worker',
    'patch horizontalpodautoscalers/worker',
  ]);
  const scaleWriters = new Set(audit.filter((e) => e.objectRef?.resource === 'deployments' && e.objectRef.name === 'worker' && e.objectRef.subresource === 'scale').map((e) => e.user.username));
  expect(scaleWriters.size).toBeGreaterThan(0);
  expect(scaleWriters.has(saUser('downscaler'))).toBe(false);
  // Of the HPA's spec, the downscaler's field manager owns only minReplicas.
  const owned = ((await hpaObj()).metadata.managedFields ?? []).filter((f: any) => f.manager?.includes('downscaler'));
  expect(owned.length).toBeGreaterThan(0);
  for (const f of owned) expect(Object.keys(f.fieldsV1?.['f:spec'] ?? {}).every((k) => k === 'f:minReplicas' || k === '.')).toBe(true);
}, 420_000);
