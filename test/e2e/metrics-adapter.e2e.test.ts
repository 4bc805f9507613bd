/**
 * End to end: the real HPA controller of kube-controller-manager scales Deployments on kwok nodes up and down on
 * metrics served by the metrics-adapter through the aggregator: a moto SQS queue filling and draining, a query
 * to Debian's Prometheus over an exporter the test drives, and a json-path metric served at the kwok pod IPs
 * (docs/metrics-adapter.md). Polls with deadlines; loopback only.
 */
import { CreateQueueCommand, PurgeQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { waitFor } from '@kubeaws/testenv';
import { REGION, apply, deployment, env, hpa, setupAdapterEnv, teardownAdapterEnv, waitDesired } from '@kubeaws/metrics-adapter/test/support';

beforeAll(setupAdapterEnv, 180_000);
afterAll(teardownAdapterEnv);

it('the HPA controller scales a Deployment up and down as an SQS queue fills and drains', async () => {
  const q = await env.sqs.send(new CreateQueueCommand({ QueueName: `jobs-${env.ns}` }));
  await apply(deployment('worker', { app: 'worker' }));
  await apply(hpa('worker', 'worker', {
    type: 'External',
    external: {
      metric: { name: 'queue-length', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': `jobs-${env.ns}`, region: REGION } } },
      target: { type: 'AverageValue', averageValue: '10' },
    },
  }, { 'metric-config.external.queue-length.sqs-queue-length/interval': '2s' }));
  for (let b = 0; b < 4; b++)
    await env.sqs.send(new SendMessageBatchCommand({
      QueueUrl: q.QueueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `job ${b}-${i}` })),
    }));
  // through the aggregator, as the HPA reads it
  const sel = encodeURIComponent(`type=sqs-queue-length,queue-name=jobs-${env.ns},region=${REGION}`);
  await waitFor(async () => {
    const r = await env.client.get<any>(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${env.ns}/queue-length?labelSelector=${sel}`).catch(() => undefined);
    return r?.items?.[0]?.value === '40' || undefined;
  }, { timeoutMs: 30_000, description: 'external metric value 40 through the aggregator' });
  await waitDesired('worker', (n) => n === 4, 'worker HPA desires 4 replicas for 40 messages');
  await env.sqs.send(new PurgeQueueCommand({ QueueUrl: q.QueueUrl }));
  await waitDesired('worker', (n) => n === 1, 'worker HPA back to 1 replica after the queue drained');
}, 300_000);

it('scales on a Prometheus query', async () => {
  env.promValue = 35;
  await apply(deployment('api', { app: 'api' }));
  await apply(hpa('api', 'api', {
    type: 'External',
    external: { metric: { name: 'processed', selector: { matchLabels: { type: 'prometheus' } } }, target: { type: 'AverageValue', averageValue: '10' } },
  }, { 'metric-config.external.processed.prometheus/query': 'sum(e2e_jobs_pending)', 'metric-config.external.processed.prometheus/interval': '2s' }));
  await waitDesired('api', (n) => n === 4, 'api HPA desires 4 replicas for a query value of 35');
  env.promValue = 3;
  await waitDesired('api', (n) => n === 1, 'api HPA back to 1 replica');
}, 300_000);

it('scales on a json-path metric served at the kwok pod IPs', async () => {
  env.podValue = 30;
  await apply(deployment('web', { app: 'web' }));
  await apply(hpa('web', 'web', {
    type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '10' } },
  }, {
    'metric-config.pods.rps.json-path/json-key': '$.http.rps',
    'metric-config.pods.rps.json-path/path': '/metrics',
    'metric-config.pods.rps.json-path/port': String(env.podPort),
    'metric-config.pods.rps.json-path/interval': '2s',
    'metric-config.pods.rps.json-path/request-timeout': '1s',
  }));
  await waitDesired('web', (n) => n >= 3, 'web HPA scales up on 30 rps per pod');
  env.podValue = 1;
  await waitDesired('web', (n) => n === 1, 'web HPA back to 1 replica');
}, 300_000);

