/**
 * Backend I/O of the three collectors (docs/metrics-adapter.md#ma-json-path, #ma-prometheus, #ma-sqs): one
 * poll of one source, with an abort signal, errors mapped to named causes. Only called by the registry's
 * schedule, never on the request path.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type Clock, type Labels, TokenBucket, awsClientConfig, awsErrorCode, realClock } from '@kubeaws/runtime';
import type { JsonPathConfig, ObjectRef, PrometheusConfig, SqsConfig } from './grammar';
import { type Collect, CollectError, type PodDoc, type SourceInfo, type SourceResult } from './registry';

/**
 * Every AWS action the adapter calls, one per SQS command it sends (docs/metrics-adapter.md#ma-permissions); the
 * IRSA role of the cluster stack grants exactly these, on the allowed regions' queues.
 */
export const IAM_ACTIONS = ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes'] as const;

/** The scale target's eligible pods, from the informer caches. */
export interface PodTarget {
  selector: string;
  pods: Array<{ name: string; ip: string; labels: Labels }>;
}

/** Options of {@link createCollect}. */
export interface CollectorOptions {
  /** Eligible pods of a scale target; throws CollectError ScaleTargetNotFound/UnsupportedScaleTarget. */
  podsOf(namespace: string, target: ObjectRef, minReadyAgeMs: number): PodTarget;
  podScrapeConcurrency: number;
  podScrapeMaxBytes: number;
  prometheusTimeoutMs: number;
  prometheusMaxConcurrency: number;
  /** Bearer token of a Prometheus server (normalised URL), re-read by the caller. */
  prometheusToken?(server: string): string | undefined;
  /** `--sqs-max-rps`: one token bucket for every SQS call of the process, burst one second's worth. */
  sqsMaxRps: number;
  /** The clock of the SQS token bucket; default the real one. */
  clock?: Clock;
  /** Counts physical backend calls: `backend_requests_total{backend,operation,code}`. */
  onBackendRequest?(backend: string, operation: string, code: string, durationMs: number): void;
  /** SQS client factory (tests); default one `SQSClient` per region with the runtime's AWS settings. */
  sqsClient?(region: string): Pick<SQSClient, 'send'>;
}

/** A counting semaphore. */
export class Semaphore {
  private active = 0;
  private waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }
}

interface HttpAnswer {
  status: number;
  body: string;
}

/** GET (or POST form) with a size limit and the abort signal. */
function request(url: string, opts: { signal: AbortSignal; maxBytes: number; timeoutMs: number; connectTimeoutMs?: number; headers?: Record<string, string>; form?: string }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: opts.form ? 'POST' : 'GET',
        headers: { accept: 'application/json', ...(opts.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...opts.headers },
        signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]),
        rejectUnauthorized: false, // pods rarely have IP SANs (docs/metrics-adapter.md#ma-json-path)
        agent: false,
      },
      (res) => {
        let size = 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > opts.maxBytes) {
            req.destroy(new CollectError('InvalidResponse', `response larger than ${opts.maxBytes} bytes`, 'too_large', false));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    if (opts.connectTimeoutMs)
      req.on('socket', (s) => {
        const t = setTimeout(() => req.destroy(new CollectError('BackendUnavailable', `connect timeout after ${opts.connectTimeoutMs}ms`, 'timeout', true)), opts.connectTimeoutMs);
        s.once('connect', () => clearTimeout(t));
        s.once('close', () => clearTimeout(t));
      });
    req.on('error', reject);
    req.end(opts.form);
  });
}

function networkError(e: unknown, what: string): CollectError {
  if (e instanceof CollectError) return e;
  const err = e as Error & { code?: string };
  const timeout = err.name === 'TimeoutError' || err.name === 'AbortError';
  return new CollectError('BackendUnavailable', `${what}: ${timeout ? 'timeout' : (err.code ?? err.message)}`, timeout ? 'timeout' : 'connection', true);
}

/** One Prometheus instant query (docs/metrics-adapter.md#ma-prometheus). */
export async function queryPrometheus(c: PrometheusConfig, signal: AbortSignal, o: { timeoutMs: number; token?: string; count?: (code: string, ms: number) => void }): Promise<number> {
  const params = new URLSearchParams({ query: c.query, time: String(Date.now() / 1000), timeout: `${Math.ceil(o.timeoutMs / 1000)}s` });
  const long = c.query.length > 4096;
  const url = `${c.server}/api/v1/query${long ? '' : `?${params}`}`;
  const t0 = Date.now();
  let res: HttpAnswer;
  try {
    res = await request(url, { signal, maxBytes: 4 << 20, timeoutMs: o.timeoutMs, headers: o.token ? { authorization: `Bearer ${o.token}` } : {}, ...(long ? { form: params.toString() } : {}) });
  } catch (e) {
    o.count?.('error', Date.now() - t0);
    throw networkError(e, `prometheus ${c.server} unreachable`);
  }
  o.count?.(String(res.status), Date.now() - t0);
  let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    if (res.status >= 500) throw new CollectError('BackendUnavailable', `prometheus answered ${res.status}`, 'http_status', true);
    throw new CollectError('InvalidResponse', `prometheus answered ${res.status} without JSON`, 'invalid_response', false);
  }
  if (res.status >= 500) throw new CollectError('BackendUnavailable', `prometheus answered ${res.status}: ${body.error ?? ''}`, 'http_status', true);
  if (res.status >= 400) throw new CollectError('PrometheusQueryError', `prometheus rejected the query (${res.status}): ${body.error ?? ''}`, 'http_status', false);
  const d = body.data;
  if (d?.resultType === 'scalar') return toNumber((d.result as [number, string])[1]);
  if (d?.resultType === 'vector') {
    const r = d.result as Array<{ value: [number, string] }>;
    if (r.length === 0) throw new CollectError('NoData', 'prometheus query returned no data', 'no_data', true);
    if (r.length > 1) throw new CollectError('MultipleSeries', `prometheus query returned ${r.length} series; aggregate with sum/max or use scalar()`, 'multiple_series', false);
    return toNumber(r[0]!.value[1]);
  }
  throw new CollectError('InvalidResponse', `prometheus query returned a ${d?.resultType ?? 'missing'} result; expected a scalar or a vector`, 'invalid_response', false);
}

function toNumber(s: string): number {
  const v = Number(s);
  if (!Number.isFinite(v)) throw new CollectError('NoData', `prometheus query returned ${s}`, 'invalid_value', true);
  return v;
}

/** Maps an SQS SDK error to a named cause (docs/metrics-adapter.md#ma-sqs). */
export function sqsError(e: unknown, queue: string, region: string): CollectError {
  if (e instanceof CollectError) return e;
  const code = awsErrorCode(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ?? 0;
  if (code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue')
    return new CollectError('QueueNotFound', `SQS queue "${queue}" not found in ${region} (or no access)`, 'not_found', false);
  if (/^AccessDenied/.test(code)) return new CollectError('AccessDenied', `SQS access denied for queue "${queue}" (${code})`, 'access_denied', false);
  if (/Credentials|ExpiredToken|InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch/.test(code) || (e as Error)?.name === 'CredentialsProviderError')
    return new CollectError('CredentialsError', `AWS credentials failed (${code})`, 'access_denied', false);
  if (code === 'RequestThrottled' || code === 'ThrottlingException') return new CollectError('Throttled', `SQS throttled (${code})`, 'throttled', true);
  // a network failure has no AWS error code: name the system error (ECONNREFUSED, ETIMEDOUT, ...) instead, from its
  // code or, when the SDK wrapped it ("AWS SDK error wrapper for Error: connect ECONNREFUSED ..."), from its message
  const network = (e as { code?: unknown })?.code ?? /\b(E[A-Z]{3,})\b/.exec(String((e as Error)?.message ?? ''))?.[1];
  const what = (!code || code === 'Error' || code === 'NetworkError') && typeof network === 'string' ? network : code;
  return new CollectError('BackendUnavailable', `SQS unavailable (${what}${status ? ` ${status}` : ''})`, (e as Error)?.name === 'TimeoutError' ? 'timeout' : 'connection', true);
}

/** Builds the production {@link Collect}: the three collectors behind their concurrency limits. */
export function createCollect(o: CollectorOptions): Collect {
  const podSem = new Semaphore(o.podScrapeConcurrency);
  const promSems = new Map<string, Semaphore>();
  const bucket = new TokenBucket(o.sqsMaxRps, Math.max(1, Math.floor(o.sqsMaxRps)), o.clock ?? realClock);
  const clients = new Map<string, Pick<SQSClient, 'send'>>();
  const queueUrls = new Map<string, string>();
  const sqs = (region: string) => {
    let c = clients.get(region);
    if (!c) {
      c = o.sqsClient?.(region) ?? new SQSClient(awsClientConfig({ component: 'metrics-adapter', region, maxAttempts: 3 }));
      clients.set(region, c);
    }
    return c;
  };
  const count = (backend: string, op: string) => (code: string, ms: number) => o.onBackendRequest?.(backend, op, code, ms);

  async function collectSqs(c: SqsConfig, src: SourceInfo, poll: AbortSignal): Promise<SourceResult> {
    // the whole poll (token wait, SDK attempts) ends before the next one is due (docs/metrics-adapter.md#ma-freshness)
    const timeoutMs = Math.max(1, src.intervalMs - 1);
    const signal = AbortSignal.any([poll, AbortSignal.timeout(timeoutMs)]);
    const client = sqs(c.region);
    const id = c.queueUrl ?? c.queueName!;
    const cacheKey = `${c.region}|${c.queueName}`;
    let url = c.queueUrl ?? queueUrls.get(cacheKey);
    const timed = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
      await bucket.take(signal);
      signal.throwIfAborted();
      const t0 = Date.now();
      try {
        const r = await fn();
        count('sqs', op)('200', Date.now() - t0);
        return r;
      } catch (e) {
        count('sqs', op)(awsErrorCode(e), Date.now() - t0);
        throw e;
      }
    };
    try {
      if (!url) {
        const r = await timed('GetQueueUrl', () => client.send(new GetQueueUrlCommand({ QueueName: c.queueName }), { abortSignal: signal }));
        url = r.QueueUrl!;
        queueUrls.set(cacheKey, url);
      }
      const r = await timed('GetQueueAttributes', () =>
        client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: src.attributes as QueueAttributeName[] }), { abortSignal: signal }));
      const attributes: Record<string, number> = {};
      for (const a of src.attributes) {
        const v = r.Attributes?.[a as QueueAttributeName];
        if (v === undefined || !/^\d+$/.test(v)) throw new CollectError('InvalidResponse', `SQS answer lacks ${a}`, 'invalid_response', false);
        attributes[a] = Number(v);
      }
      return { kind: 'sqs', attributes };
    } catch (e) {
      if (signal.aborted && !poll.aborted)
        throw new CollectError('BackendUnavailable', `SQS did not answer within ${timeoutMs}ms`, 'timeout', true);
      const err = sqsError(e, id, c.region);
      if (err.cause === 'QueueNotFound') queueUrls.delete(cacheKey); // resolve again after not-found
      throw err;
    }
  }

  async function collectPods(c: JsonPathConfig, src: SourceInfo, signal: AbortSignal): Promise<SourceResult> {
    const target = o.podsOf(src.namespace, src.spec.scaleTarget, c.minPodReadyAgeMs);
    if (!target.pods.length) return { kind: 'pods', pods: [], selector: target.selector };
    const results = await Promise.all(
      target.pods.map((p) =>
        podSem.run(async (): Promise<PodDoc | CollectError> => {
          const host = p.ip.includes(':') ? `[${p.ip}]` : p.ip;
          const url = `${c.scheme}://${host}:${c.port}${c.path}${c.rawQuery ? `?${c.rawQuery}` : ''}`;
          const t0 = Date.now();
          try {
            const res = await request(url, { signal, maxBytes: o.podScrapeMaxBytes, timeoutMs: c.requestTimeoutMs, connectTimeoutMs: c.connectTimeoutMs });
            count('pod', 'GET')(String(res.status), Date.now() - t0);
            if (res.status !== 200) return new CollectError('PodScrapeFailed', `pod ${p.name} answered ${res.status}`, 'http_status', true);
            return { name: p.name, labels: p.labels, doc: JSON.parse(res.body) as unknown };
          } catch (e) {
            count('pod', 'GET')('error', Date.now() - t0);
            if (e instanceof SyntaxError) return new CollectError('PodScrapeFailed', `pod ${p.name} answered invalid JSON`, 'invalid_response', true);
            return networkError(e, `pod ${p.name}`);
          }
        }),
      ),
    );
    const pods = results.filter((r): r is PodDoc => !(r instanceof CollectError));
    if (!pods.length) {
      const first = results[0] as CollectError;
      throw new CollectError('PodScrapeFailed', `every eligible pod failed (${results.length}); first: ${first.message}`, first.reason, true);
    }
    return { kind: 'pods', pods, selector: target.selector };
  }

  return async (src, signal) => {
    const c = src.spec.config;
    if (c.collector === 'sqs-queue-length') return collectSqs(c, src, signal);
    if (c.collector === 'json-path') return collectPods(c, src, signal);
    let sem = promSems.get(c.server);
    if (!sem) promSems.set(c.server, (sem = new Semaphore(o.prometheusMaxConcurrency)));
    const value = await sem.run(() =>
      queryPrometheus(c, signal, { timeoutMs: Math.min(o.prometheusTimeoutMs, src.intervalMs - 1), token: o.prometheusToken?.(c.server), count: count('prometheus', 'query') }));
    return { kind: 'prometheus', value };
  };
}
