import * as http from 'node:http';
import * as https from 'node:https';
import type { ClusterConfig } from './kubeconfig.js';
import { type Clock, realClock } from './clock.js';
import { ApiError, NotLeaderError, type Status } from './errors.js';
import { type Logger, silentLogger } from './logging.js';
import { ComponentMetrics, detachedMetrics } from './metrics.js';
import { TokenBucket } from './ratelimit.js';

/** `metadata` of a Kubernetes object as served by the API (timestamps are RFC 3339 strings). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
  finalizers?: string[];
  managedFields?: unknown[];
}

/**
 * Any Kubernetes object. Objects handled by the runtime are plain JSON as served by the API: the
 * client-node model types (`V1Deployment`, ...) can be used as type arguments, but their `Date`
 * fields hold RFC 3339 strings at run time (`new Date(x)` works on both).
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A list response (`metadata.continue` set when more pages exist). */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    resourceVersion?: string;
    continue?: string;
    remainingItemCount?: number;
  };
  items: T[];
}

/** One watch event line (https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-events). */
export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T | Status;
}

/** Identifies a resource (and optionally one object and subresource) of the API. */
export interface ResourceRef {
  /** API group; "" for the core group. */
  group: string;
  version: string;
  /** Plural resource name, e.g. "deployments". */
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Kubernetes authorization verbs (https://kubernetes.io/docs/reference/access-authn-authz/authorization/#determine-the-request-verb). */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** One API access as RBAC sees it. `namespace` is absent for cluster-scoped or all-namespace requests. */
export interface AccessRecord {
  verb: Verb;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/**
 * Builds the REST path of a resource: `/api/v1/...` for the core group, `/apis/<group>/<version>/...`
 * otherwise, e.g. `{group: 'apps', version: 'v1', resource: 'deployments', namespace: 'ns', name: 'x'}`
 * -> `/apis/apps/v1/namespaces/ns/deployments/x`.
 */
export function resourcePath(ref: ResourceRef): string {
  let p = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  if (ref.namespace) p += `/namespaces/${encodeURIComponent(ref.namespace)}`;
  p += `/${ref.resource}`;
  if (ref.name !== undefined) p += `/${encodeURIComponent(ref.name)}`;
  if (ref.subresource) p += `/${ref.subresource}`;
  return p;
}

/**
 * Parses a REST path (without query) into group/version/resource/namespace/name/subresource, the way
 * the kube-apiserver's RequestInfoFactory does. Non-resource paths yield resource "".
 */
export function parseApiPath(path: string): ResourceRef {
  const parts = path.split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
  let i: number;
  let group = '';
  let version = '';
  if (parts[0] === 'api') {
    version = parts[1] ?? '';
    i = 2;
  } else if (parts[0] === 'apis') {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    i = 3;
  } else {
    return { group: '', version: '', resource: '' };
  }
  const rest = parts.slice(i);
  const ref: ResourceRef = { group, version, resource: '' };
  // namespaces/<ns>/<resource>... is a namespaced request unless it is the namespace object itself
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    ref.namespace = rest[1];
    rest.splice(0, 2);
  }
  ref.resource = rest[0] ?? '';
  if (rest[1] !== undefined) ref.name = rest[1];
  if (rest[2] !== undefined) ref.subresource = rest[2];
  if (ref.resource === 'namespaces' && ref.name !== undefined && ref.namespace === undefined) {
    // /api/v1/namespaces/<ns>: the namespace object; RBAC sees namespace=<ns> too
    ref.namespace = ref.name;
  }
  return ref;
}

/** Options of one {@link KubeClient.request}. */
export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** REST path, e.g. `/apis/apps/v1/namespaces/ns/deployments/x`. */
  path: string;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body (serialised with JSON.stringify). */
  body?: unknown;
  /** Content-Type of the body; default `application/json`. */
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout in ms; default the client's (30 s). */
  timeoutMs?: number;
}

/** Write options shared by create/update/patch/apply/delete. */
export interface WriteOptions {
  /** Server-side dry run (`dryRun=All`): validated and admitted but not persisted. */
  dryRun?: boolean;
  /** Field manager recorded in managedFields (defaults to the client's). */
  fieldManager?: string;
  signal?: AbortSignal;
}

/** Options of {@link KubeClient.delete}. */
export interface DeleteOptions {
  /** Only delete if the object still has this UID / resourceVersion (409 Conflict otherwise). */
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  gracePeriodSeconds?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** Options of {@link KubeClient.list}. */
export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the response carries `metadata.continue` when more exist. */
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  signal?: AbortSignal;
}

/** Options of {@link KubeClient}. */
export interface KubeClientOptions {
  /** Cluster, TLS and credentials ({@link ClusterConfig}: the runtime's kubeconfig loader, or a client-node KubeConfig). */
  kubeConfig: ClusterConfig;
  /** Used in the User-Agent (`kubeaws-<component>`). */
  component?: string;
  metrics?: ComponentMetrics;
  logger?: Logger;
  /** Client-side limit on write requests (create/update/patch/delete) per second; default 20. */
  qps?: number;
  /** Burst of write requests; default 40. */
  burst?: number;
  /** Default field manager for writes (`fieldManager` query parameter). */
  fieldManager?: string;
  /** Default per-request timeout (ms) for non-watch requests; default 30 000. */
  requestTimeoutMs?: number;
  clock?: Clock;
}

interface Shared {
  kc: ClusterConfig;
  userAgent: string;
  logger: Logger;
  bucket: TokenBucket;
  fieldManager?: string;
  timeoutMs: number;
  accesses: Map<string, AccessRecord>;
  listeners: Set<(a: AccessRecord) => void>;
  m: {
    requests: import('prom-client').Counter<'verb' | 'group' | 'resource' | 'code'>;
    duration: import('prom-client').Histogram<'verb' | 'group' | 'resource'>;
    throttle: import('prom-client').Histogram<string>;
  };
}

const WRITE_VERBS = new Set<Verb>(['create', 'update', 'patch', 'delete', 'deletecollection']);

function verbOf(method: string, ref: ResourceRef, query: RequestOptions['query']): Verb {
  switch (method) {
    case 'GET':
      if (query?.watch === true || query?.watch === 'true' || query?.watch === 1 || query?.watch === '1')
        return 'watch';
      return ref.name !== undefined ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    default:
      return ref.name !== undefined ? 'delete' : 'deletecollection';
  }
}

function parseRetryAfter(v: string | undefined, now: number): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return parseInt(v, 10);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * Thin typed Kubernetes REST client on top of client-node's KubeConfig (TLS, bearer tokens, exec and
 * token-file credentials). Every request:
 *
 * - is counted in `kubeaws_<component>_api_requests_total{verb,group,resource,code}` (code "0" when
 *   no response arrived) and timed in `..._api_request_duration_seconds`;
 * - is recorded as an {@link AccessRecord} (verb, group, resource, subresource, namespace, name) for
 *   comparison with the RBAC rules a component ships ({@link KubeClient.accesses});
 * - fails with an {@link ApiError} (statusCode, reason, message, retryAfterSeconds) on HTTP >= 400 or
 *   transport errors (statusCode 0).
 *
 * Writes pass a client-side token bucket (`qps`/`burst`, as client-go's rest config QPS/Burst), and,
 * on a client made by {@link KubeClient.withWriteGuard}, a guard (e.g. "still leading") that throws
 * {@link NotLeaderError} when it returns false.
 */
export class KubeClient {
  private readonly s: Shared;
  private readonly guard?: () => boolean;

  constructor(opts: KubeClientOptions);
  /** @internal */
  constructor(opts: KubeClientOptions | Shared, guard?: () => boolean);
  constructor(opts: KubeClientOptions | Shared, guard?: () => boolean) {
    if ('kc' in opts) {
      this.s = opts;
    } else {
      const metrics = opts.metrics ?? detachedMetrics();
      this.s = {
        kc: opts.kubeConfig,
        userAgent: `kubeaws-${opts.component ?? 'runtime'}`,
        logger: opts.logger ?? silentLogger(),
        bucket: new TokenBucket(opts.qps ?? 20, opts.burst ?? 40, opts.clock ?? realClock),
        fieldManager: opts.fieldManager,
        timeoutMs: opts.requestTimeoutMs ?? 30_000,
        accesses: new Map(),
        listeners: new Set(),
        m: {
          requests: metrics.counter(
            'api_requests_total',
            'Kubernetes API requests by verb, group, resource and HTTP code',
            ['verb', 'group', 'resource', 'code'],
          ),
          duration: metrics.histogram(
            'api_request_duration_seconds',
            'Kubernetes API request latency (watches excluded)',
            ['verb', 'group', 'resource'],
          ),
          throttle: metrics.histogram(
            'api_client_rate_limiter_wait_seconds',
            'Time writes waited for the client-side QPS limit',
          ),
        },
      };
    }
    this.guard = guard;
  }

  /** The cluster access requests are made with. */
  get kubeConfig(): ClusterConfig {
    return this.s.kc;
  }

  /**
   * A client sharing transport, metrics, access records and write limiter, whose writes throw
   * {@link NotLeaderError} whenever `guard()` returns false (reads are unaffected).
   */
  withWriteGuard(guard: () => boolean): KubeClient {
    return new KubeClient(this.s, guard);
  }

  /** Distinct accesses made so far by this client and clients derived from it. */
  accesses(): AccessRecord[] {
    return [...this.s.accesses.values()];
  }

  /** Forgets the recorded accesses. */
  clearAccesses(): void {
    this.s.accesses.clear();
  }

  /** Calls `fn` for every access from now on; returns an unsubscribe function. */
  onAccess(fn: (a: AccessRecord) => void): () => void {
    this.s.listeners.add(fn);
    return () => this.s.listeners.delete(fn);
  }

  private record(a: AccessRecord): void {
    const k = `${a.verb}|${a.group}|${a.resource}|${a.subresource ?? ''}|${a.namespace ?? ''}|${a.name ?? ''}`;
    if (!this.s.accesses.has(k)) this.s.accesses.set(k, a);
    for (const l of this.s.listeners) l(a);
  }

  private async prepare(o: RequestOptions): Promise<{
    verb: Verb;
    ref: ResourceRef;
    url: URL;
    opts: https.RequestOptions;
  }> {
    const ref = parseApiPath(o.path);
    const verb = verbOf(o.method, ref, o.query);
    const access: AccessRecord = {
      verb,
      group: ref.group,
      resource: ref.resource,
    };
    if (ref.subresource) access.subresource = ref.subresource;
    if (ref.namespace) access.namespace = ref.namespace;
    if (ref.name !== undefined && verb !== 'list' && verb !== 'watch' && verb !== 'create') access.name = ref.name;
    // A list/watch with a `metadata.name=<x>` field selector is authorized as that name (the apiserver's
    // RequestInfo does the same), so RBAC `resourceNames` can grant it.
    const byName = /^metadata\.name=([^,]+)$/.exec(String(o.query?.fieldSelector ?? ''))?.[1];
    if (byName && (verb === 'list' || verb === 'watch')) access.name = byName;
    if (WRITE_VERBS.has(verb)) {
      if (this.guard && !this.guard()) {
        throw new NotLeaderError(`refusing ${verb} ${o.path}: this replica is not the leader`);
      }
      const waited = await this.s.bucket.take(o.signal);
      if (waited > 0) this.s.m.throttle.observe(waited / 1000);
      if (this.guard && !this.guard()) {
        throw new NotLeaderError(`refusing ${verb} ${o.path}: this replica is not the leader`);
      }
    }
    this.record(access);
    const cluster = this.s.kc.getCurrentCluster();
    if (!cluster) throw new ApiError(0, 'NoCluster', 'kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + o.path);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: https.RequestOptions = {
      method: o.method,
      headers: { Accept: 'application/json', 'User-Agent': this.s.userAgent },
    };
    await this.s.kc.applyToHTTPSOptions(opts);
    return { verb, ref, url, opts };
  }

  private doRequest(
    url: URL,
    opts: https.RequestOptions,
    body: string | undefined,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
    onResponse: (res: http.IncomingMessage, req: http.ClientRequest) => void,
    onError: (err: Error) => void,
  ): http.ClientRequest {
    const headers = { ...(opts.headers as Record<string, string>) };
    if (body !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const mod = url.protocol === 'http:' ? http : https;
    const req = mod.request(url, { ...opts, headers }, (res) => onResponse(res, req));
    req.on('error', onError);
    if (signal) {
      if (signal.aborted) req.destroy(new Error('aborted'));
      else {
        // The listener holds the request and its response (the body's chunks): removed once the request is
        // done, so a long-lived signal (an informer's, across all its LIST pages) does not keep every response.
        const onAbort = () => req.destroy(new Error('aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        req.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    req.end(body);
    return req;
  }

  private doRequestSafe(
    timer: NodeJS.Timeout,
    reject: (e: unknown) => void,
    verb: string,
    path: string,
    ...args: Parameters<KubeClient['doRequest']>
  ): http.ClientRequest | undefined {
    try {
      return this.doRequest(...args);
    } catch (e) {
      clearTimeout(timer);
      reject(new ApiError(0, 'NetworkError', `${path}: ${(e as Error).message}`, undefined, undefined, verb, path));
      return undefined;
    }
  }

  private toApiError(
    code: number,
    text: string,
    headers: http.IncomingHttpHeaders,
    verb: string,
    path: string,
  ): ApiError {
    let status: Status | undefined;
    try {
      const parsed = JSON.parse(text) as Status;
      if (parsed && typeof parsed === 'object' && parsed.kind === 'Status') status = parsed;
    } catch {
      // not JSON
    }
    let reason = status?.reason ?? (http.STATUS_CODES[code] ?? 'Unknown').replace(/\s+/g, '');
    if (code === 403 && status?.details?.causes?.some((c) => c.reason === 'NamespaceTerminating'))
      reason = 'NamespaceTerminating';
    const ra =
      parseRetryAfter(headers['retry-after'] as string | undefined, Date.now()) ?? status?.details?.retryAfterSeconds;
    const msg = status?.message ?? (text.trim() || `HTTP ${code}`);
    return new ApiError(code, reason, msg, ra, status, verb, path);
  }

  /**
   * Issues one request and returns the parsed JSON response body (or the raw text for non-JSON
   * responses). Throws {@link ApiError} for HTTP >= 400 and for transport failures / timeouts
   * (statusCode 0, reason "NetworkError" / "Timeout").
   */
  async request<T = unknown>(o: RequestOptions): Promise<T> {
    const { verb, ref, url, opts } = await this.prepare(o);
    const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const started = performance.now();
    const timeoutMs = o.timeoutMs ?? this.s.timeoutMs;
    const labels = { verb, group: ref.group, resource: ref.resource };
    try {
      const result = await new Promise<T>((resolve, reject) => {
        let timedOut = false;
        const ref: { req?: http.ClientRequest } = {};
        const timer = setTimeout(() => {
          timedOut = true;
          ref.req?.destroy(new Error('timeout'));
        }, timeoutMs);
        ref.req = this.doRequestSafe(
          timer,
          reject,
          verb,
          o.path,
          url,
          opts,
          body,
          o.contentType,
          o.signal,
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (e) => {
              clearTimeout(timer);
              reject(
                new ApiError(
                  0,
                  timedOut ? 'Timeout' : 'NetworkError',
                  `${o.method} ${o.path}: ${e.message}`,
                  undefined,
                  undefined,
                  verb,
                  o.path,
                ),
              );
            });
            res.on('end', () => {
              clearTimeout(timer);
              const text = Buffer.concat(chunks).toString('utf8');
              const code = res.statusCode ?? 0;
              this.s.m.requests.inc({ ...labels, code: String(code) });
              if (code >= 400) return reject(this.toApiError(code, text, res.headers, verb, o.path));
              const ct = String(res.headers['content-type'] ?? '');
              if (ct.includes('json') && text.length > 0) {
                try {
                  resolve(JSON.parse(text) as T);
                } catch (e) {
                  reject(
                    new ApiError(
                      code,
                      'InvalidResponse',
                      `${o.method} ${o.path}: ${(e as Error).message}`,
                      undefined,
                      undefined,
                      verb,
                      o.path,
                    ),
                  );
                }
              } else resolve(text as T);
            });
          },
          (e) => {
            clearTimeout(timer);
            this.s.m.requests.inc({ ...labels, code: '0' });
            reject(
              new ApiError(
                0,
                timedOut ? 'Timeout' : 'NetworkError',
                `${o.method} ${o.path}: ${timedOut ? `no response within ${timeoutMs} ms` : e.message}`,
                undefined,
                undefined,
                verb,
                o.path,
              ),
            );
          },
        );
      });
      return result;
    } finally {
      this.s.m.duration.observe(labels, (performance.now() - started) / 1000);
    }
  }

  /**
   * Opens a watch (`?watch=true`) and calls `onEvent` for every event line until the server closes the
   * stream (resolves), the stream fails (rejects with ApiError statusCode 0), the server answers
   * HTTP >= 400 (rejects with that ApiError, e.g. 410 Gone), or `signal` aborts (resolves).
   * `onOpen` is called once the server answered 200.
   */
  async watch<T = KubeObject>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (ev: WatchEvent<T>) => void,
    signal: AbortSignal,
    onOpen?: () => void,
  ): Promise<void> {
    const q = { ...query, watch: 'true' };
    const { verb, ref, url, opts } = await this.prepare({
      method: 'GET',
      path,
      query: q,
      signal,
    });
    const labels = { verb, group: ref.group, resource: ref.resource };
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      this.doRequest(
        url,
        opts,
        undefined,
        undefined,
        signal,
        (res) => {
          const code = res.statusCode ?? 0;
          this.s.m.requests.inc({ ...labels, code: String(code) });
          if (code !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              finish(this.toApiError(code, Buffer.concat(chunks).toString('utf8'), res.headers, verb, path)),
            );
            res.on('error', (e) =>
              finish(new ApiError(0, 'NetworkError', e.message, undefined, undefined, verb, path)),
            );
            return;
          }
          onOpen?.();
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              let ev: WatchEvent<T>;
              try {
                ev = JSON.parse(line) as WatchEvent<T>;
              } catch {
                this.s.logger.warn({ path }, 'unparsable watch event line');
                continue;
              }
              if (settled) return;
              onEvent(ev);
            }
          });
          res.on('end', () => finish());
          res.on('close', () =>
            finish(
              res.complete
                ? undefined
                : new ApiError(0, 'NetworkError', `watch ${path}: stream closed`, undefined, undefined, verb, path),
            ),
          );
          res.on('error', (e) =>
            finish(new ApiError(0, 'NetworkError', `watch ${path}: ${e.message}`, undefined, undefined, verb, path)),
          );
        },
        (e) => {
          if (!signal.aborted) this.s.m.requests.inc({ ...labels, code: '0' });
          finish(new ApiError(0, 'NetworkError', `watch ${path}: ${e.message}`, undefined, undefined, verb, path));
        },
      );
    });
  }

  /** GET one object. */
  get<T = KubeObject>(path: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>({ method: 'GET', path, signal: opts.signal });
  }

  /** GET a list (one page when `limit` is set). */
  list<T = KubeObject>(path: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const { signal, ...q } = opts;
    return this.request<KubeList<T>>({
      method: 'GET',
      path,
      query: q as Record<string, string | number | undefined>,
      signal,
    });
  }

  /** Lists every page (following `continue` tokens, `limit` default 500) and returns all items. */
  async listAll<T = KubeObject>(path: string, opts: Omit<ListOptions, 'continue'> = {}): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await this.list<T>(path, {
        limit: 500,
        ...opts,
        continue: cont,
      });
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  private writeQuery(o: WriteOptions | undefined, extra: Record<string, string | boolean | undefined> = {}) {
    return {
      dryRun: o?.dryRun ? 'All' : undefined,
      fieldManager: o?.fieldManager ?? this.s.fieldManager,
      ...extra,
    };
  }

  /** POST a new object to a collection path (e.g. `/apis/policy/v1/namespaces/ns/poddisruptionbudgets`). */
  create<T = KubeObject>(collectionPath: string, obj: unknown, opts?: WriteOptions): Promise<T> {
    return this.request<T>({
      method: 'POST',
      path: collectionPath,
      body: obj,
      query: this.writeQuery(opts),
      signal: opts?.signal,
    });
  }

  /** PUT (replace) an object; optimistic concurrency through `metadata.resourceVersion` in the body. */
  update<T = KubeObject>(path: string, obj: unknown, opts?: WriteOptions): Promise<T> {
    return this.request<T>({
      method: 'PUT',
      path,
      body: obj,
      query: this.writeQuery(opts),
      signal: opts?.signal,
    });
  }

  /**
   * JSON merge patch (RFC 7386, `application/merge-patch+json`). Include `metadata.resourceVersion` in
   * the patch for an optimistic-concurrency precondition (409 on mismatch); `null` removes a field.
   */
  mergePatch<T = KubeObject>(path: string, patch: unknown, opts?: WriteOptions): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path,
      body: patch,
      contentType: 'application/merge-patch+json',
      query: this.writeQuery(opts),
      signal: opts?.signal,
    });
  }

  /** JSON patch (RFC 6902, `application/json-patch+json`), e.g. `[{op: 'test', ...}, {op: 'replace', ...}]`. */
  jsonPatch<T = KubeObject>(path: string, ops: unknown[], opts?: WriteOptions): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path,
      body: ops,
      contentType: 'application/json-patch+json',
      query: this.writeQuery(opts),
      signal: opts?.signal,
    });
  }

  /** Strategic merge patch (built-in kinds only). */
  strategicMergePatch<T = KubeObject>(path: string, patch: unknown, opts?: WriteOptions): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path,
      body: patch,
      contentType: 'application/strategic-merge-patch+json',
      query: this.writeQuery(opts),
      signal: opts?.signal,
    });
  }

  /**
   * Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/): PATCH of
   * the object path with `application/apply-patch+yaml` (JSON is YAML), `fieldManager` (required:
   * option or client default) and `force` (default true: take over conflicting fields). The object
   * must carry apiVersion, kind and metadata.name. Creates the object if it does not exist.
   */
  apply<T = KubeObject>(path: string, obj: unknown, opts: WriteOptions & { force?: boolean } = {}): Promise<T> {
    const fm = opts.fieldManager ?? this.s.fieldManager;
    if (!fm) throw new Error('server-side apply needs a fieldManager (option or client default)');
    return this.request<T>({
      method: 'PATCH',
      path,
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: this.writeQuery({ ...opts, fieldManager: fm }, { force: (opts.force ?? true) ? 'true' : undefined }),
      signal: opts.signal,
    });
  }

  /**
   * DELETE an object, optionally with preconditions (uid / resourceVersion: 409 Conflict when the
   * object changed) and a propagation policy. Returns the server's answer (Status or the object).
   */
  delete<T = unknown>(path: string, opts: DeleteOptions = {}): Promise<T> {
    const body: Record<string, unknown> = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
    };
    if (opts.preconditions) body.preconditions = opts.preconditions;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    return this.request<T>({
      method: 'DELETE',
      path,
      body,
      query: { dryRun: opts.dryRun ? 'All' : undefined },
      signal: opts.signal,
    });
  }
}

/** One RBAC PolicyRule (rbac.authorization.k8s.io/v1). */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * True when one of `rules` allows `access`, with the RBAC authorizer's matching rules: `*` wildcards
 * for groups, resources and verbs; subresources as `resource/subresource` (or `*\/subresource`,
 * `resource/*`); `resourceNames` only restrict requests that name an object (never list, watch,
 * create or deletecollection). Namespace scoping (Role vs ClusterRole) is up to the caller.
 */
export function rbacAllows(rules: PolicyRule[], access: AccessRecord): boolean {
  const res = access.subresource ? `${access.resource}/${access.subresource}` : access.resource;
  return rules.some((r) => {
    if (!r.verbs.includes('*') && !r.verbs.includes(access.verb)) return false;
    if (!(r.apiGroups ?? []).some((g) => g === '*' || g === access.group)) return false;
    const resOk = (r.resources ?? []).some(
      (x) =>
        x === '*' ||
        x === res ||
        (access.subresource !== undefined && (x === `*/${access.subresource}` || x === `${access.resource}/*`)),
    );
    if (!resOk) return false;
    if (r.resourceNames && r.resourceNames.length > 0) {
      return access.name !== undefined && r.resourceNames.includes(access.name);
    }
    return true;
  });
}
