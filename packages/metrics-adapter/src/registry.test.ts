import { FakeClock, flushMicrotasks } from '@kubeaws/runtime';
import { type GrammarSettings, type HpaInput, parseHpa } from './grammar';
import { type Collect, CollectError, Registry, type SourceInfo, type SourceResult, sourceKey } from './registry';
import { parseSelector } from './selector';
import { kinds } from '../test/discovery-fixture';

const settings: GrammarSettings = {
  enableCustom: true,
  enableExternal: true,
  prometheusServer: 'http://prom:9090',
  prometheusAliases: {},
  awsRegions: ['eu-central-1'],
  sqsEndpointHost: (r) => `sqs.${r}.amazonaws.com`,
  defaultIntervalMs: 30_000,
  minIntervalMs: 5_000, kinds,
};
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

function sqsHpa(name: string, queue: string, extra: Record<string, string> = {}, created = '2026-01-01T00:00:00Z'): HpaInput & { metadata: { creationTimestamp: string } } {
  return {
    metadata: { namespace: 'shop', name, annotations: {}, creationTimestamp: created },
    spec: {
      scaleTargetRef: { kind: 'Deployment', name },
      metrics: [{ type: 'External', external: { metric: { name: 'my-sqs', selector: { matchLabels: { type: 'sqs-queue-length', 'queue-name': queue, region: 'eu-central-1', ...extra } } } } }],
    },
  };
}

function setup(collectImpl?: Collect) {
  const clock = new FakeClock(T0);
  const calls: SourceInfo[] = [];
  let next: SourceResult | Error = { kind: 'sqs', attributes: { ApproximateNumberOfMessages: 7, ApproximateNumberOfMessagesNotVisible: 3 } };
  const collect: Collect = collectImpl ?? (async (info) => {
    calls.push(info);
    if (next instanceof Error) throw next;
    return next;
  });
  const reg = new Registry({ clock, collect, stalenessFactor: 3, jitter: 0.1, maxBackoffMs: 300_000, random: () => 0.5 });
  const add = (h: HpaInput & { metadata: { creationTimestamp?: string } }) =>
    reg.setHpa(`${h.metadata.namespace}/${h.metadata.name}`, { namespace: h.metadata.namespace!, name: h.metadata.name!, creationTimestamp: h.metadata.creationTimestamp }, parseHpa(h, settings));
  return { clock, reg, calls, add, setNext: (r: SourceResult | Error) => (next = r) };
}

const sel = (s: string) => parseSelector(s);

describe('Registry (docs/metrics-adapter.md#ma-sources, #ma-freshness, #ma-serving)', () => {
  it('polls a new source at once, serves it, and the value goes stale after factor × interval', async () => {
    const { clock, reg, add } = setup();
    add(sqsHpa('web', 'q'));
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'))).toMatchObject({ ok: false, cause: 'NotYetCollected' });
    await clock.advance(0);
    await flushMicrotasks();
    const r = reg.external('shop', 'my-sqs', sel('region=eu-central-1,queue-name=q,type==sqs-queue-length'));
    expect(r).toEqual({ ok: true, items: [{ value: '7', timestamp: T0, selector: expect.anything(), labels: { type: 'sqs-queue-length', 'queue-name': 'q', region: 'eu-central-1' } }] });
    // stop the source from refreshing: the value must go stale on read
    reg.stop();
    await clock.advance(90_001);
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'))).toMatchObject({ ok: false, code: 404, cause: 'MetricStale' });
  });

  it('deduplicates one source across HPAs, requests the union of attributes, and polls at most once per interval', async () => {
    const { clock, reg, calls, add } = setup();
    add(sqsHpa('a', 'q'));
    add(sqsHpa('b', 'q', { 'include-in-flight': 'true' }, '2026-01-02T00:00:00Z'));
    expect(reg.sources.size).toBe(1);
    await clock.advance(0);
    await flushMicrotasks();
    expect(calls[0]!.attributes).toEqual(['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
    for (let i = 0; i < 30; i++) {
      await clock.advance(10_000);
      await flushMicrotasks();
    }
    // 300 s at interval 30 s + jitter 0.5 × 0.1: at most 10 polls after the first
    expect(calls.length).toBeLessThanOrEqual(11);
    expect(calls.length).toBeGreaterThanOrEqual(9);
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1,include-in-flight=true'))).toMatchObject({ ok: true, items: [{ value: '10' }] });
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'))).toMatchObject({ ok: true, items: [{ value: '7' }] });
  });

  it('reference-counts sources: the last subscription stops it and its series disappear', async () => {
    const { clock, reg, add } = setup();
    add(sqsHpa('a', 'q'));
    add(sqsHpa('b', 'q'));
    await clock.advance(0);
    reg.deleteHpa('shop/a');
    expect(reg.sources.size).toBe(1);
    reg.deleteHpa('shop/b');
    expect(reg.sources.size).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'))).toMatchObject({ cause: 'MetricNotConfigured' });
  });

  it('backs off exponentially on failure, capped, and reports CollectionFailed with the backend text', async () => {
    const { clock, reg, calls, add, setNext } = setup();
    setNext(new CollectError('QueueNotFound', 'SQS queue "q" not found in eu-central-1 (or no access)', 'not_found', false));
    add(sqsHpa('a', 'q'));
    await clock.advance(0);
    await flushMicrotasks();
    const st = [...reg.sources.values()][0]!;
    expect(reg.nextDelay(st)).toBe(30_000 + 1_500);
    st.consecutiveFailures = 3;
    expect(reg.nextDelay(st)).toBe(120_000 + 1_500);
    st.consecutiveFailures = 20;
    expect(reg.nextDelay(st)).toBe(300_000 + 1_500);
    st.consecutiveFailures = 1;
    const r = reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'));
    expect(r).toMatchObject({ ok: false, code: 404, cause: 'CollectionFailed' });
    expect(!r.ok && r.message).toBe('external metric "my-sqs" in namespace shop: SQS queue "q" not found in eu-central-1 (or no access); last attempt 2026-01-01T10:00:00Z');
    expect(calls.length).toBe(1);
  });

  it('keeps the previous value with its timestamp after a failure, until stale', async () => {
    const { clock, reg, add, setNext } = setup();
    add(sqsHpa('a', 'q'));
    await clock.advance(0);
    await flushMicrotasks();
    setNext(new CollectError('BackendUnavailable', 'down', 'connection', true));
    await clock.advance(31_500);
    await flushMicrotasks();
    expect(reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=eu-central-1'))).toMatchObject({ ok: true, items: [{ timestamp: T0 }] });
  });

  it('names the config error of the metric in the 404', () => {
    const { reg, add } = setup();
    add(sqsHpa('a', 'q', { region: 'us-east-2' }));
    const r = reg.external('shop', 'my-sqs', sel('type=sqs-queue-length,queue-name=q,region=us-east-2'));
    expect(r).toMatchObject({ ok: false, cause: 'InvalidMetricConfig' });
    expect(!r.ok && r.message).toContain('cause RegionNotAllowed');
  });

  it('conflicting definitions of one series: the older HPA wins, both get ConflictingMetricDefinition', () => {
    const { reg, add } = setup();
    const older = sqsHpa('old', 'q');
    const newer = sqsHpa('new', 'q', {}, '2026-02-01T00:00:00Z');
    newer.metadata.annotations = { 'metric-config.external.my-sqs.sqs-queue-length/include-delayed': 'true' };
    add(newer);
    add(older);
    expect(reg.errorsOf('shop/old').map((e) => e.cause)).toEqual(['ConflictingMetricDefinition']);
    expect(reg.errorsOf('shop/new').map((e) => e.cause)).toEqual(['ConflictingMetricDefinition']);
    expect(reg.subscribersOf([...reg.sources.keys()][0]!).map((s) => s.hpaKey)).toEqual(['shop/old']);
  });

  it('pods: one item per pod matching labelSelector, sorted; none → NoPodsMatched', async () => {
    const hpa: HpaInput = {
      metadata: { namespace: 'shop', name: 'web', annotations: {
        'metric-config.pods.rps.json-path/json-key': '$.rps', 'metric-config.pods.rps.json-path/path': '/m', 'metric-config.pods.rps.json-path/port': '80',
      } },
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, metrics: [{ type: 'Pods', pods: { metric: { name: 'rps' } } }] },
    };
    const { clock, reg, add } = setup(async () => ({
      kind: 'pods', selector: 'app=web',
      pods: [{ name: 'web-b', labels: { app: 'web' }, doc: { rps: 2.5 } }, { name: 'web-a', labels: { app: 'web' }, doc: { rps: 1 } }, { name: 'x', labels: { app: 'x' }, doc: { rps: 9 } }],
    }));
    add(hpa);
    await clock.advance(0);
    await flushMicrotasks();
    const r = reg.pods('shop', 'rps', [], sel('app=web'));
    expect(r.ok && r.items.map((i) => [i.pod, i.value])).toEqual([['web-a', '1'], ['web-b', '2500m']]);
    expect(reg.pods('shop', 'rps', [], sel('app=none'))).toMatchObject({ ok: false, cause: 'NoPodsMatched' });
    expect(reg.discovery()).toEqual({ custom: [{ name: 'pods/rps', namespaced: true }], external: [] });
  });

  it('pods: each poll result is evaluated once per extraction, not per request; a new poll is evaluated again', async () => {
    let reads = 0;
    const doc = (v: number) => ({ get rps() { reads++; return v; } });
    let value = 1;
    const { clock, reg, add } = setup(async () => ({
      kind: 'pods', selector: 'app=web',
      pods: [{ name: 'web-a', labels: { app: 'web' }, doc: doc(value) }, { name: 'web-b', labels: { app: 'web' }, doc: doc(value) }],
    }));
    const JP = { 'metric-config.pods.rps.json-path/json-key': '$.rps', 'metric-config.pods.rps.json-path/path': '/m', 'metric-config.pods.rps.json-path/port': '80' };
    // two HPAs of one scale target share the source and the extraction
    for (const name of ['web', 'web-2'])
      add({ metadata: { namespace: 'shop', name, annotations: JP }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, metrics: [{ type: 'Pods', pods: { metric: { name: 'rps' } } }] } });
    await clock.advance(0);
    await flushMicrotasks();
    const serve = () => reg.pods('shop', 'rps', [], sel('app=web'));
    expect(serve()).toMatchObject({ ok: true, items: [{ pod: 'web-a', value: '1' }, { pod: 'web-b', value: '1' }] });
    const once = reads;
    expect(once).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) serve();
    expect(reads).toBe(once);
    value = 2;
    await clock.advance(33_000);
    await flushMicrotasks();
    expect(serve()).toMatchObject({ ok: true, items: [{ value: '2' }, { value: '2' }] });
    for (let i = 0; i < 20; i++) serve();
    expect(reads).toBe(2 * once);
  });

  it('object metrics: per-replica divides by the scale target replicas', async () => {
    const clock = new FakeClock(T0);
    const reg = new Registry({ clock, collect: async () => ({ kind: 'prometheus', value: 300 }), stalenessFactor: 3, jitter: 0, maxBackoffMs: 1000, replicasOf: () => 4 });
    const hpa: HpaInput = {
      metadata: { namespace: 'shop', name: 'web', annotations: { 'metric-config.object.rps.prometheus/query': 'sum(x)', 'metric-config.object.rps.prometheus/per-replica': 'true' } },
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, metrics: [{ type: 'Object', object: { metric: { name: 'rps' }, describedObject: { kind: 'Ingress', name: 'web', apiVersion: 'networking.k8s.io/v1' } } }] },
    };
    reg.setHpa('shop/web', { namespace: 'shop', name: 'web' }, parseHpa(hpa, settings));
    await clock.advance(0);
    await flushMicrotasks();
    expect(reg.object('shop', 'ingresses.networking.k8s.io', 'web', 'rps', [])).toMatchObject({ ok: true, items: [{ value: '75', describedObject: { kind: 'Ingress' } }] });
    expect(reg.object('shop', 'ingresses.networking.k8s.io', 'other', 'rps', [])).toMatchObject({ ok: false, message: 'the server could not find the metric rps for ingresses.networking.k8s.io other' });
    expect(reg.discovery().custom).toEqual([{ name: 'ingresses.networking.k8s.io/rps', namespaced: true }]);
  });

  it('source keys', () => {
    const p = parseHpa(sqsHpa('a', 'q'), settings).specs[0]!;
    expect(sourceKey('shop', p)).toBe(sourceKey('other', p)); // SQS sources are shared across namespaces
  });
});
