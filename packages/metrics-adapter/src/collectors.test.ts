import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock, flushMicrotasks } from '@kubeaws/runtime';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IAM_ACTIONS, createCollect, queryPrometheus, sqsError } from './collectors';
import type { JsonPathConfig, MetricSpec, PrometheusConfig, SqsConfig } from './grammar';
import { CollectError, type SourceInfo } from './registry';

let server: http.Server;
let base: string;
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.url!);
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const prom = (): PrometheusConfig => ({ collector: 'prometheus', server: base, query: 'sum(x)', perReplica: false });
const vec = (...vals: string[]) => ({ status: 'success', data: { resultType: 'vector', result: vals.map((v) => ({ metric: {}, value: [1, v] })) } });

describe('queryPrometheus (docs/metrics-adapter.md#ma-prometheus)', () => {
  it.each<[string, { status: number; body: unknown }, number | [string, boolean]]>([
    ['one sample', { status: 200, body: vec('42.5') }, 42.5],
    ['scalar', { status: 200, body: { status: 'success', data: { resultType: 'scalar', result: [1, '3'] } } }, 3],
    ['empty vector', { status: 200, body: vec() }, ['NoData', true]],
    ['NaN', { status: 200, body: vec('NaN') }, ['NoData', true]],
    ['several series', { status: 200, body: vec('1', '2') }, ['MultipleSeries', false]],
    ['matrix', { status: 200, body: { status: 'success', data: { resultType: 'matrix', result: [] } } }, ['InvalidResponse', false]],
    ['4xx', { status: 400, body: { status: 'error', error: 'parse error' } }, ['PrometheusQueryError', false]],
    ['5xx', { status: 503, body: 'down' }, ['BackendUnavailable', true]],
  ])('%s', async (_n, a, want) => {
    answer = a;
    const p = queryPrometheus(prom(), new AbortController().signal, { timeoutMs: 2000 });
    if (typeof want === 'number') await expect(p).resolves.toBe(want);
    else await expect(p).rejects.toMatchObject({ cause: want[0], transient: want[1] });
  });
  it('sends the query as written with time and timeout', async () => {
    answer = { status: 200, body: vec('1') };
    seen.length = 0;
    await queryPrometheus({ ...prom(), query: 'sum(rate(a{b="c"}[1m]))' }, new AbortController().signal, { timeoutMs: 2000 });
    const u = new URL(seen[0]!, base);
    expect(u.pathname).toBe('/api/v1/query');
    expect(u.searchParams.get('query')).toBe('sum(rate(a{b="c"}[1m]))');
    expect(u.searchParams.get('timeout')).toBe('2s');
  });
  it('a refused connection is BackendUnavailable', async () => {
    await expect(queryPrometheus({ ...prom(), server: 'http://127.0.0.1:1' }, new AbortController().signal, { timeoutMs: 2000 })).rejects.toMatchObject({ cause: 'BackendUnavailable', reason: 'connection' });
  });
});

describe('SQS (docs/metrics-adapter.md#ma-sqs)', () => {
  const err = (name: string, status = 400) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it.each([
    ['QueueDoesNotExist', 'QueueNotFound'],
    ['AWS.SimpleQueueService.NonExistentQueue', 'QueueNotFound'],
    ['AccessDeniedException', 'AccessDenied'],
    ['InvalidClientTokenId', 'CredentialsError'],
    ['RequestThrottled', 'Throttled'],
    ['ThrottlingException', 'Throttled'],
    ['InternalError', 'BackendUnavailable'],
  ])('%s → %s', (code, cause) => expect(sqsError(err(code), 'q', 'eu-central-1').cause).toBe(cause));
  it('a network failure names the system error', () => {
    const e = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' });
    expect(sqsError(e, 'q', 'eu-central-1')).toMatchObject({ cause: 'BackendUnavailable', reason: 'connection', message: 'SQS unavailable (ECONNREFUSED)' });
    const wrapped = Object.assign(new Error('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:5000'), { $metadata: { attempts: 3 } });
    expect(sqsError(wrapped, 'q', 'eu-central-1').message).toBe('SQS unavailable (ECONNREFUSED)');
  });

  it('resolves a name once, requests exactly the attributes, re-resolves after QueueDoesNotExist', async () => {
    const sent: Array<[string, unknown]> = [];
    let missing = false;
    const collect = createCollect({
      podsOf: () => ({ selector: '', pods: [] }), podScrapeConcurrency: 4, podScrapeMaxBytes: 1 << 20, prometheusTimeoutMs: 1000, prometheusMaxConcurrency: 1, sqsMaxRps: 1000,
      sqsClient: () => ({
        send: (async (cmd: { constructor: { name: string }; input: unknown }) => {
          sent.push([cmd.constructor.name, cmd.input]);
          if (cmd.constructor.name === 'GetQueueUrlCommand') return { QueueUrl: 'http://sqs.local/123456789012/q' };
          if (missing) throw err('QueueDoesNotExist');
          return { Attributes: { ApproximateNumberOfMessages: '5', ApproximateNumberOfMessagesNotVisible: '2' } };
        }) as never,
      }),
    });
    const config: SqsConfig = { collector: 'sqs-queue-length', region: 'eu-central-1', queueName: 'q', includeInFlight: true, includeDelayed: false };
    const info: SourceInfo = { key: 'k', namespace: 'shop', intervalMs: 30_000, attributes: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'], spec: { config } as MetricSpec };
    const s = new AbortController().signal;
    expect(await collect(info, s)).toEqual({ kind: 'sqs', attributes: { ApproximateNumberOfMessages: 5, ApproximateNumberOfMessagesNotVisible: 2 } });
    await collect(info, s);
    expect(sent.map(([n]) => n)).toEqual(['GetQueueUrlCommand', 'GetQueueAttributesCommand', 'GetQueueAttributesCommand']);
    expect(sent[1]![1]).toEqual({ QueueUrl: 'http://sqs.local/123456789012/q', AttributeNames: info.attributes });
    missing = true;
    await expect(collect(info, s)).rejects.toMatchObject({ cause: 'QueueNotFound' });
    missing = false;
    await collect(info, s);
    expect(sent.filter(([n]) => n === 'GetQueueUrlCommand').length).toBe(2);
  });
});

describe('SQS poll deadline (docs/metrics-adapter.md#ma-freshness)', () => {
  it('a call that never answers fails the poll as a timeout before the next poll is due', async () => {
    let aborted = false;
    const collect = createCollect({
      podsOf: () => ({ selector: '', pods: [] }), podScrapeConcurrency: 1, podScrapeMaxBytes: 1 << 20, prometheusTimeoutMs: 1000, prometheusMaxConcurrency: 1, sqsMaxRps: 100,
      sqsClient: () => ({
        send: ((_cmd: unknown, o: { abortSignal: AbortSignal }) => new Promise((_r, reject) =>
          o.abortSignal.addEventListener('abort', () => { aborted = true; reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })); }))) as never,
      }),
    });
    const info: SourceInfo = {
      key: 'q', namespace: 'shop', intervalMs: 200, attributes: ['ApproximateNumberOfMessages'],
      spec: { config: { collector: 'sqs-queue-length', region: 'eu-central-1', queueUrl: 'https://sqs.eu-central-1.amazonaws.com/123456789012/q', includeInFlight: false, includeDelayed: false } } as MetricSpec,
    };
    const t0 = Date.now();
    await expect(collect(info, new AbortController().signal)).rejects.toMatchObject({ cause: 'BackendUnavailable', reason: 'timeout', transient: true, message: 'SQS did not answer within 199ms' });
    expect(Date.now() - t0).toBeLessThan(info.intervalMs + 1000);
    expect(aborted).toBe(true);
  });
});

describe('IAM_ACTIONS (docs/metrics-adapter.md#ma-permissions)', () => {
  it('is exactly the set of SQS commands the collectors send', () => {
    const src = fs.readFileSync(path.join(__dirname, 'collectors.ts'), 'utf8');
    const sent = new Set([...src.matchAll(/new ([A-Z][A-Za-z]+)Command\(/g)].map((m) => `sqs:${m[1]}`));
    expect([...sent].sort()).toEqual([...IAM_ACTIONS].sort());
  });
});

describe('--sqs-max-rps (docs/metrics-adapter.md#ma-freshness)', () => {
  it('one token bucket on the component clock paces every SQS call of the process', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    let sends = 0;
    const collect = createCollect({
      podsOf: () => ({ selector: '', pods: [] }), podScrapeConcurrency: 1, podScrapeMaxBytes: 1 << 20, prometheusTimeoutMs: 1000, prometheusMaxConcurrency: 1,
      sqsMaxRps: 1, clock,
      sqsClient: () => ({ send: (async () => (sends++, { Attributes: { ApproximateNumberOfMessages: '1' } })) as never }),
    });
    const info = (queue: string): SourceInfo => ({
      key: queue, namespace: 'shop', intervalMs: 30_000, attributes: ['ApproximateNumberOfMessages'],
      spec: { config: { collector: 'sqs-queue-length', region: 'eu-central-1', queueUrl: `https://sqs.eu-central-1.amazonaws.com/123456789012/${queue}`, includeInFlight: false, includeDelayed: false } } as MetricSpec,
    });
    const polls = ['a', 'b', 'c'].map((q) => collect(info(q), new AbortController().signal));
    await flushMicrotasks();
    expect(sends).toBe(1); // burst 1: the other two wait for tokens
    await clock.advance(1000);
    await flushMicrotasks();
    expect(sends).toBe(2);
    await clock.advance(1000);
    await Promise.all(polls);
    expect(sends).toBe(3);
  });
  it('an aborted poll waiting for a token makes no call', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    let sends = 0;
    const collect = createCollect({
      podsOf: () => ({ selector: '', pods: [] }), podScrapeConcurrency: 1, podScrapeMaxBytes: 1 << 20, prometheusTimeoutMs: 1000, prometheusMaxConcurrency: 1,
      sqsMaxRps: 1, clock,
      sqsClient: () => ({ send: (async () => (sends++, { Attributes: { ApproximateNumberOfMessages: '1' } })) as never }),
    });
    const info: SourceInfo = {
      key: 'q', namespace: 'shop', intervalMs: 30_000, attributes: ['ApproximateNumberOfMessages'],
      spec: { config: { collector: 'sqs-queue-length', region: 'eu-central-1', queueUrl: 'https://sqs.eu-central-1.amazonaws.com/123456789012/q', includeInFlight: false, includeDelayed: false } } as MetricSpec,
    };
    await collect(info, new AbortController().signal);
    const ac = new AbortController();
    const waiting = collect(info, ac.signal);
    ac.abort(new Error('source removed'));
    await expect(waiting).rejects.toBeDefined();
    await clock.advance(5000);
    await flushMicrotasks();
    expect(sends).toBe(1);
  });
});

describe('json-path pods (docs/metrics-adapter.md#ma-json-path)', () => {
  it('scrapes every eligible pod; a failing pod is left out; all failing fails the poll', async () => {
    const port = Number(new URL(base).port);
    const config: JsonPathConfig = { collector: 'json-path', scheme: 'http', port, path: '/metrics', rawQuery: 'a=1', jsonKey: '$.rps', minPodReadyAgeMs: 0, connectTimeoutMs: 1000, requestTimeoutMs: 2000 };
    let podIps = ['127.0.0.1', '127.0.0.2'];
    const collect = createCollect({
      podsOf: () => ({ selector: 'app=web', pods: podIps.map((ip, i) => ({ name: `p${i}`, ip, labels: { app: 'web' } })) }),
      podScrapeConcurrency: 2, podScrapeMaxBytes: 1 << 20, prometheusTimeoutMs: 1000, prometheusMaxConcurrency: 1, sqsMaxRps: 10,
    });
    answer = { status: 200, body: { rps: 3 } };
    seen.length = 0;
    const info: SourceInfo = { key: 'k', namespace: 'shop', intervalMs: 30_000, attributes: [], spec: { config, scaleTarget: { kind: 'Deployment', name: 'web' } } as MetricSpec };
    const r = await collect(info, new AbortController().signal);
    // the server listens on 127.0.0.1 only: p1 (127.0.0.2) is refused and left out of the round
    expect(r).toEqual({ kind: 'pods', selector: 'app=web', pods: [{ name: 'p0', labels: { app: 'web' }, doc: { rps: 3 } }] });
    expect(seen).toContain('/metrics?a=1');
    podIps = ['127.0.0.1'];
    answer = { status: 500, body: {} };
    await expect(collect(info, new AbortController().signal)).rejects.toBeInstanceOf(CollectError);
  });
});
