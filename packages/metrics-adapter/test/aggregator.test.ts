/**
 * The metrics-adapter behind the real kube-apiserver's aggregator (front-proxy authentication, delegated
 * SubjectAccessReviews, Status bodies that reach the HPA verbatim), with moto SQS; the real HPA controller shows
 * a misconfiguration's cause in its ScalingActive condition. The scaling suites live in test/e2e.
 * Polls with deadlines; loopback only.
 */
import { ApiError } from '@kubeaws/runtime';
import { CreateQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { waitFor } from '@kubeaws/testenv';
import { REGION, apply, deployment, env, hpa, hpaStatus, setupAdapterEnv, teardownAdapterEnv } from './support';

beforeAll(setupAdapterEnv, 180_000);
afterAll(teardownAdapterEnv);

it('serves its APIServices through the aggregator (Available=True, discovery, values)', async () => {
  for (const n of ['v1beta2.custom.metrics.k8s.io', 'v1beta1.custom.metrics.k8s.io', 'v1beta1.external.metrics.k8s.io'])
    await waitFor(
      async () => ((await env.client.get<any>(`/apis/apiregistration.k8s.io/v1/apiservices/${n}`)).status?.conditions ?? [])
        .some((c: any) => c.type === 'Available' && c.status === 'True') || undefined,
      { timeoutMs: 60_000, description: `APIService ${n} Available` },
    );
  const group = await env.client.get<any>('/apis/custom.metrics.k8s.io');
  expect(group.preferredVersion.version).toBe('v1beta2');
  // the aggregator may answer 503 for a moment after Available while its proxy picks up the endpoint
  const err = await waitFor(async () => {
    const e = await env.client.get<any>(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${env.ns}/nothing`).then(() => undefined, (x: ApiError) => x);
    return e instanceof ApiError && e.statusCode === 404 ? e : undefined;
  }, { timeoutMs: 30_000, description: 'a 404 Status from the adapter through the aggregator' });
  expect(err.message).toContain('no HPA in namespace');
});

it('a misconfigured HPA shows our cause in its Event and its ScalingActive condition', async () => {
  await apply(deployment('bad', { app: 'bad' }));
  await apply(hpa('bad', 'bad', {
    type: 'External',
    external: { metric: { name: 'q', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'us-east-2' } } }, target: { type: 'AverageValue', averageValue: '10' } },
  }));
  const event = await waitFor(async () => {
    const list = await env.client.get<any>(`/apis/events.k8s.io/v1/namespaces/${env.ns}/events`);
    return list.items.find((e: any) => e.regarding?.name === 'bad' && e.reason === 'InvalidMetricConfig');
  }, { timeoutMs: 30_000, description: 'InvalidMetricConfig Event on HPA bad' });
  expect(event.type).toBe('Warning');
  expect(event.note).toBe(
    'external/q: region "us-east-2" is not allowed; allowed: eu-central-1 (cause RegionNotAllowed; field spec.metrics[0].external.metric.selector.matchLabels.region)',
  );
  const cond = await waitFor(async () => {
    const c = ((await hpaStatus('bad')).conditions ?? []).find((x: any) => x.type === 'ScalingActive');
    return c?.status === 'False' && String(c.message).includes('RegionNotAllowed') ? c : undefined;
  }, { timeoutMs: 60_000, description: 'ScalingActive=False naming RegionNotAllowed' });
  expect(cond.message).toContain('is not collected');
}, 120_000);

it('serves a value from moto SQS through the aggregator; HPAs sharing a queue share one source', async () => {
  const queue = `shared-${env.ns}`;
  const q = await env.sqs.send(new CreateQueueCommand({ QueueName: queue }));
  await env.sqs.send(new SendMessageBatchCommand({ QueueUrl: q.QueueUrl, Entries: Array.from({ length: 7 }, (_, i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) }));
  const labels = { type: 'sqs-queue-length', 'queue-name': queue, region: REGION };
  for (const name of ['shared-a', 'shared-b']) {
    await apply(deployment(name, { app: name }));
    await apply(hpa(name, name, { type: 'External', external: { metric: { name: 'jobs', selector: { matchLabels: labels } }, target: { type: 'AverageValue', averageValue: '100' } } },
      { 'metric-config.external.jobs.sqs-queue-length/interval': '2s' }));
  }
  const sel = encodeURIComponent(`type=sqs-queue-length,queue-name=${queue},region=${REGION}`);
  const list = await waitFor(async () => {
    const r = await env.client.get<any>(`/apis/external.metrics.k8s.io/v1beta1/namespaces/${env.ns}/jobs?labelSelector=${sel}`).catch(() => undefined);
    return r?.items?.[0]?.value === '7' ? r : undefined;
  }, { timeoutMs: 30_000, description: 'external metric value 7 through the aggregator' });
  expect(list.items).toEqual([{ metricName: 'jobs', metricLabels: labels, timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), value: '7' }]);
  expect(await env.rc.metrics.registry.getSingleMetricAsString('kubeaws_metrics_adapter_collectors')).toMatch(/collector="sqs-queue-length"} 1$/m);
  expect(await env.rc.metrics.registry.getSingleMetricAsString('kubeaws_metrics_adapter_served_request_duration_seconds')).toMatch(/kind="external"/);
  // every item served is timed by its age (docs/metrics-adapter.md#ma-metrics)
  const age = await env.rc.metrics.registry.getSingleMetric('kubeaws_metrics_adapter_served_value_age_seconds')!.get();
  const count = age.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels.api === 'external');
  expect(count?.value).toBeGreaterThanOrEqual(1);
});

it('an object kind unknown to API discovery is UnknownObjectKind until its CRD is installed, then served', async () => {
  env.promValue = 4;
  await apply(deployment('widgets', { app: 'widgets' }));
  await apply(hpa('widgets', 'widgets', {
    type: 'Object',
    object: { metric: { name: 'hits' }, describedObject: { apiVersion: 'example.kubeaws.io/v1', kind: 'Widget', name: 'w1' }, target: { type: 'Value', value: '100' } },
  }, { 'metric-config.object.hits.prometheus/query': 'sum(e2e_jobs_pending)', 'metric-config.object.hits.prometheus/interval': '2s' }));
  const event = await waitFor(async () => {
    const list = await env.client.get<any>(`/apis/events.k8s.io/v1/namespaces/${env.ns}/events`);
    return list.items.find((e: any) => e.regarding?.name === 'widgets' && String(e.note).includes('UnknownObjectKind'));
  }, { timeoutMs: 30_000, description: 'UnknownObjectKind Event on HPA widgets' });
  expect(event.note).toBe(
    'object/hits: described object kind "Widget" of example.kubeaws.io/v1 is not served by this cluster\'s API (not in API discovery) (cause UnknownObjectKind; field spec.metrics[0].object.describedObject.kind)',
  );
  const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await env.client.create(crd, {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.kubeaws.io' },
    spec: {
      group: 'example.kubeaws.io', scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  });
  try {
    // the next discovery refresh (at most 30 s after the miss) re-parses the HPA; its resource is the CRD's plural
    const list = await waitFor(async () => {
      const r = await env.client.get<any>(`/apis/custom.metrics.k8s.io/v1beta2/namespaces/${env.ns}/widgets.example.kubeaws.io/w1/hits`).catch(() => undefined);
      return r?.items?.[0]?.value === '4' ? r : undefined;
    }, { timeoutMs: 90_000, description: 'object metric of the Widget served after its CRD was installed' });
    expect(list.items[0].describedObject).toEqual({ kind: 'Widget', namespace: env.ns, name: 'w1', apiVersion: 'example.kubeaws.io/v1' });
  } finally {
    await env.client.request({ method: 'DELETE', path: `${crd}/widgets.example.kubeaws.io` }).catch(() => undefined);
  }
}, 150_000);
