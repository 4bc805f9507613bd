/**
 * The metrics-adapter behind the real aggregator with real backends that misbehave, and the real HPA controller
 * reading it: SQS in-flight messages counted only when opted in (docs/metrics-adapter.md#ma-sqs); moto and Debian's
 * Prometheus stopped and started again: the value is kept, goes stale, becomes a 404 naming the cause, and comes back
 * without touching the HPA (#ma-freshness); a cluster with only the v1beta1 APIService of custom.metrics.k8s.io
 * still feeds the HPA (#ma-manifests). Polls with deadlines; loopback only.
 */
import { ApiError } from '@kubeaws/runtime';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { waitFor } from '@kubeaws/testenv';
import {
  REGION, apply, deployment, env, hpa, hpaStatus, restartPrometheus, setupAdapterEnv, stopMoto, stopPrometheus, teardownAdapterEnv, waitDesired,
} from './support';

beforeAll(setupAdapterEnv, 180_000);
afterAll(teardownAdapterEnv);

/** The external metric through the aggregator: its value, or the 404 message. */
async function external(metric: string, selector: string): Promise<{ value?: string; notFound?: string }> {
  try {
    const r = await env.client.get<any>(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${env.ns}/${metric}?labelSelector=${encodeURIComponent(selector)}`);
    return { value: r.items?.[0]?.value };
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 404) return { notFound: e.message };
    return {}; // the aggregator may answer 503 for a moment
  }
}
const waitValue = (metric: string, selector: string, want: string, description: string) =>
  waitFor(async () => ((await external(metric, selector)).value === want ? true : undefined), { timeoutMs: 60_000, description });
const waitNotFound = (metric: string, selector: string, pattern: RegExp, description: string) =>
  waitFor(async () => {
    const r = await external(metric, selector);
    return r.notFound && pattern.test(r.notFound) ? r.notFound : undefined;
  }, { timeoutMs: 60_000, description });

it('include-in-flight: received but undeleted messages count only where opted in, in the value and the HPA', async () => {
  const queue = `inflight-${env.ns}`;
  const { QueueUrl } = await env.sqs.send(new CreateQueueCommand({ QueueName: queue }));
  await env.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 6 }, (_, i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) }));
  // 4 messages in flight (received, not deleted, invisible for 10 minutes), 2 visible
  const received: Array<{ ReceiptHandle?: string }> = [];
  while (received.length < 4) {
    const r: { Messages?: Array<{ ReceiptHandle?: string }> } = await env.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 4 - received.length, VisibilityTimeout: 600 }));
    received.push(...(r.Messages ?? []));
  }
  const visible = { type: 'sqs-queue-length', 'queue-name': queue, region: REGION };
  const inFlight = { ...visible, 'include-in-flight': 'true' };
  for (const [name, labels] of [['visible', visible], ['in-flight', inFlight]] as const) {
    await apply(deployment(name, { app: name }));
    await apply(hpa(name, name, { type: 'External', external: { metric: { name: 'jobs', selector: { matchLabels: labels } }, target: { type: 'AverageValue', averageValue: '1' } } },
      { 'metric-config.external.jobs.sqs-queue-length/interval': '2s' }));
  }
  const sel = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',');
  await waitValue('jobs', sel(visible), '2', 'visible messages only: 2');
  await waitValue('jobs', sel(inFlight), '6', 'visible and in flight: 6');
  // the real HPA controller reads the same: 2 replicas for 2 messages, 4 (its maximum) for 6
  await waitDesired('visible', (n) => n === 2, 'HPA visible desires 2');
  await waitDesired('in-flight', (n) => n === 4, 'HPA in-flight desires 4');
  // the consumer finishes its messages: both count 2 again
  await env.sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: received.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })) }));
  await waitValue('jobs', sel(inFlight), '2', 'in-flight messages deleted: 2');
  await waitDesired('in-flight', (n) => n === 2, 'HPA in-flight back to 2');
  // one source serves both HPAs, asking SQS for the union of their attributes
  expect(await env.rc.metrics.registry.getSingleMetricAsString('kubeaws_metrics_adapter_collectors')).toMatch(/collector="sqs-queue-length"} 1$/m);
}, 300_000);

it('moto stopped and started again: the value goes stale, then 404 MetricStale, then recovers once the queue exists', async () => {
  const queue = `restart-${env.ns}`;
  const labels = { type: 'sqs-queue-length', 'queue-name': queue, region: REGION };
  const sel = `type=sqs-queue-length,queue-name=${queue},region=${REGION}`;
  const fill = async (n: number) => {
    const { QueueUrl } = await env.sqs.send(new CreateQueueCommand({ QueueName: queue }));
    await env.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: n }, (_, i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) }));
  };
  await fill(3);
  await apply(deployment('restart-sqs', { app: 'restart-sqs' }));
  await apply(hpa('restart-sqs', 'restart-sqs', { type: 'External', external: { metric: { name: 'backlog', selector: { matchLabels: labels } }, target: { type: 'AverageValue', averageValue: '100' } } },
    { 'metric-config.external.backlog.sqs-queue-length/interval': '2s' }));
  await waitValue('backlog', sel, '3', 'value 3 from moto');
  const start = await stopMoto();
  // no value is served past 3 intervals (--max-staleness-factor 3): then a 404 that says why
  const message = await waitNotFound('backlog', sel, /value is stale/, '404 MetricStale while moto is down');
  expect(message).toMatch(/last success \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(max age 6s\); last error: SQS (unavailable \(ECONNREFUSED\)|did not answer)/);
  await start(); // a fresh moto: the queue is gone until it is created again
  await waitNotFound('backlog', sel, /not found|stale/, '404 while the queue does not exist');
  await fill(5);
  await waitValue('backlog', sel, '5', 'value 5 after moto restarted and the queue was created again');
}, 300_000);

it('Prometheus stopped and started again: stale, then 404, then the value is back', async () => {
  env.promValue = 12;
  await apply(deployment('restart-prom', { app: 'restart-prom' }));
  await apply(hpa('restart-prom', 'restart-prom', {
    type: 'External', external: { metric: { name: 'pending', selector: { matchLabels: { type: 'prometheus' } } }, target: { type: 'AverageValue', averageValue: '100' } },
  }, { 'metric-config.external.pending.prometheus/query': 'sum(e2e_jobs_pending)', 'metric-config.external.pending.prometheus/interval': '2s' }));
  await waitValue('pending', 'type=prometheus', '12', 'value 12 from Prometheus');
  await stopPrometheus();
  const message = await waitNotFound('pending', 'type=prometheus', /value is stale/, '404 MetricStale while Prometheus is down');
  expect(message).toMatch(/last error: prometheus http:\/\/127\.0\.0\.1:\d+ unreachable/);
  env.promValue = 7;
  await restartPrometheus();
  await waitValue('pending', 'type=prometheus', '7', 'value 7 after Prometheus restarted');
}, 300_000);

it('with only the v1beta1 APIService of custom.metrics.k8s.io the HPA controller still gets object metrics', async () => {
  await env.client.request({ method: 'DELETE', path: '/apis/apiregistration.k8s.io/v1/apiservices/v1beta2.custom.metrics.k8s.io' });
  await waitFor(async () => {
    const g = await env.client.get<any>('/apis/custom.metrics.k8s.io').catch(() => undefined);
    return g?.versions?.length === 1 && g.preferredVersion?.version === 'v1beta1' ? true : undefined;
  }, { timeoutMs: 30_000, description: 'custom.metrics.k8s.io served as v1beta1 only' });
  env.promValue = 30;
  await apply(deployment('legacy', { app: 'legacy' }));
  // an Object metric on the Deployment itself: its kind maps to deployments.apps through discovery
  await apply(hpa('legacy', 'legacy', {
    type: 'Object',
    object: { metric: { name: 'backlog' }, describedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy' }, target: { type: 'Value', value: '10' } },
  }, { 'metric-config.object.backlog.prometheus/query': 'sum(e2e_jobs_pending)', 'metric-config.object.backlog.prometheus/interval': '2s' }));
  // the query is shared with the test above: wait until Prometheus has scraped the new value
  const raw = await waitFor(async () => {
    const r = await env.client.get<any>(`/apis/custom.metrics.k8s.io/v1beta1/namespaces/${env.ns}/deployments.apps/legacy/backlog`).catch(() => undefined);
    return r?.items?.[0]?.value === '30' ? r : undefined;
  }, { timeoutMs: 60_000, description: 'v1beta1 object metric 30 through the aggregator' });
  expect(raw.items).toEqual([expect.objectContaining({
    describedObject: { kind: 'Deployment', namespace: env.ns, name: 'legacy', apiVersion: 'apps/v1' }, metricName: 'backlog', value: '30', selector: null,
  })]);
  await waitDesired('legacy', (n) => n === 3, 'HPA legacy desires 3 replicas for 30 / 10');
  const current = (await hpaStatus('legacy')).currentMetrics?.[0];
  expect(current).toMatchObject({ type: 'Object', object: { metric: { name: 'backlog' }, current: { value: '30' } } });
}, 300_000);
