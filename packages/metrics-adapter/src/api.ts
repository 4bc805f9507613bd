/**
 * The aggregated API's HTTP surface (docs/metrics-adapter.md#ma-routes, #ma-bodies, #ma-errors): discovery
 * documents, custom metrics (v1beta1, v1beta2), external metrics (v1beta1) and Status bodies. JSON only,
 * GET only, answered from the registry's memory. Wire format: k8s.io/metrics pkg/apis/custom_metrics and
 * external_metrics types.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LabelRequirement, Logger } from '@kubeaws/runtime';
import type { AccessAttributes, AuthConfig, AuthnResult, CacheOutcome, UserInfo } from './auth';
import type { Registry, ServeResult, ServedItem } from './registry';
import { parseSelector, SelectorError } from './selector';

export const CUSTOM = 'custom.metrics.k8s.io';
export const EXTERNAL = 'external.metrics.k8s.io';

/** What the handler needs. */
export interface ApiOptions {
  registry: Pick<Registry, 'external' | 'pods' | 'object' | 'discovery'>;
  enableCustom: boolean;
  enableExternal: boolean;
  authenticate(req: IncomingMessage): Promise<AuthnResult>;
  authorize(user: UserInfo, attrs: AccessAttributes): Promise<{ allowed: boolean; reason?: string; cache: CacheOutcome }>;
  alwaysAllowPaths: readonly string[];
  /** Readiness for `/readyz` on the secure port. */
  ready(): boolean;
  logger: Logger;
  observe?(labels: { group: string; version: string; kind: string; code: number }, seconds: number): void;
  countAuthn?(method: string, result: string): void;
  countAuthz?(result: string, cache: string): void;
  /** Every item served with 200, by API (`served_value_age_seconds`, docs/metrics-adapter.md#ma-metrics). */
  observeServed?(api: 'custom' | 'external', items: readonly ServedItem[]): void;
}

/** A `metav1.Status` failure body. */
export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code, message, ...(details ? { details } : {}) };
}

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Serialises custom metric items for `version` (docs/metrics-adapter.md#ma-bodies). */
export function customList(version: string, metric: string, ns: string, items: ServedItem[]): Record<string, unknown> {
  return {
    kind: 'MetricValueList',
    apiVersion: `${CUSTOM}/${version}`,
    metadata: {},
    items: items.map((i) => {
      const describedObject = i.pod !== undefined
        ? { kind: 'Pod', namespace: ns, name: i.pod, apiVersion: 'v1' }
        : i.describedObject?.kind === 'Namespace'
          ? { kind: 'Namespace', name: i.describedObject.name, apiVersion: 'v1' }
          : { kind: i.describedObject!.kind, namespace: ns, name: i.describedObject!.name, apiVersion: i.describedObject!.apiVersion ?? '' };
      const selector = i.selector ?? null;
      return version === 'v1beta1'
        ? { describedObject, metricName: metric, timestamp: iso(i.timestamp), value: i.value, selector }
        : { describedObject, metric: { name: metric, selector }, timestamp: iso(i.timestamp), value: i.value };
    }),
  };
}

/** Serialises external metric items. */
export function externalList(metric: string, items: ServedItem[]): Record<string, unknown> {
  return {
    kind: 'ExternalMetricValueList',
    apiVersion: `${EXTERNAL}/v1beta1`,
    metadata: {},
    items: items.map((i) => ({ metricName: metric, metricLabels: i.labels, timestamp: iso(i.timestamp), value: i.value })),
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME = /^[a-zA-Z0-9]([-a-zA-Z0-9_.:]*[a-zA-Z0-9])?$/;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * Whether `Accept` admits JSON. Profile parameters are ignored: a request for aggregated discovery v2
 * (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) gets the plain APIGroupList, whose
 * Content-Type makes the aggregator fall back to per-version discovery (kube-aggregator handler_discovery.go).
 */
export function acceptable(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) return false;
    return type === 'application/json' || type === 'application/*' || type === '*/*';
  });
}

/** Builds the request listener of the HTTPS server. */
export function createApiHandler(o: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const send = (res: ServerResponse, code: number, body: unknown) => {
    const s = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
    res.end(s);
  };
  const groups = () => [
    ...(o.enableCustom ? [{ name: CUSTOM, versions: ['v1beta2', 'v1beta1'], preferred: 'v1beta2' }] : []),
    ...(o.enableExternal ? [{ name: EXTERNAL, versions: ['v1beta1'], preferred: 'v1beta1' }] : []),
  ];
  const apiGroup = (g: { name: string; versions: string[]; preferred: string }) => ({
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.name}/${g.preferred}`, version: g.preferred },
  });

  const params = (url: URL, name: string): LabelRequirement[] => {
    const all = url.searchParams.getAll(name);
    if (all.length > 1) throw new HttpError(400, 'BadRequest', `query parameter ${name} is repeated`);
    try {
      return parseSelector(all[0] ?? '');
    } catch (e) {
      if (e instanceof SelectorError) throw new HttpError(400, 'BadRequest', `query parameter ${name}: ${e.message}`);
      throw e;
    }
  };

  const served = (group: string, items: readonly ServedItem[]) => o.observeServed?.(group === EXTERNAL ? 'external' : 'custom', items);
  const answer = (r: ServeResult, ok: (items: ServedItem[]) => unknown, details: { name: string; group: string; kind: string }): [number, unknown] => {
    if (r.ok) {
      served(details.group, r.items);
      return [200, ok(r.items)];
    }
    if (r.code === 400) return [400, status(400, 'BadRequest', r.message)];
    return [404, status(404, 'NotFound', r.message, { ...details, causes: [{ reason: r.cause, message: r.message }] })];
  };

  /** Routes an authenticated GET; returns [code, body, kind, authz attributes]. */
  const route = (url: URL, segs: string[]): { kind: string; group: string; version: string; attrs: AccessAttributes; run: () => [number, unknown] } | undefined => {
    const [, group, version, ...rest] = segs;
    const nonResource = (body: unknown) => ({
      kind: 'discovery', group: group ?? '', version: version ?? '',
      attrs: { kind: 'nonResource' as const, path: url.pathname, verb: 'get' },
      run: (): [number, unknown] => [200, body],
    });
    if (segs.length === 1) return nonResource({ kind: 'APIGroupList', apiVersion: 'v1', groups: groups().map(apiGroup) });
    const g = groups().find((x) => x.name === group);
    if (!g) return undefined;
    if (segs.length === 2) return nonResource({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) });
    if (!g.versions.includes(version!)) return undefined;
    if (segs.length === 3) {
      const d = o.registry.discovery();
      const resources = group === CUSTOM
        ? d.custom.map((e) => ({ name: e.name, singularName: '', namespaced: e.namespaced, kind: 'MetricValueList', verbs: ['get'] }))
        : d.external.map((n) => ({ name: n, singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] }));
      return nonResource({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/${version}`, resources });
    }
    const check = (what: string, v: string, re: RegExp) => {
      if (!re.test(v) || v.length > 253) throw new HttpError(400, 'BadRequest', `invalid ${what} "${v}"`);
    };
    if (group === EXTERNAL) {
      if (rest.length !== 3 || rest[0] !== 'namespaces') return undefined;
      const [, ns, metric] = rest as [string, string, string];
      check('namespace', ns, DNS_LABEL);
      check('metric name', metric, NAME);
      return {
        kind: 'external', group: group!, version: version!,
        attrs: { kind: 'resource', group: EXTERNAL, version: version!, resource: metric, namespace: ns, verb: 'list' },
        run: () => answer(o.registry.external(ns, metric, params(url, 'labelSelector')), (items) => externalList(metric, items),
          { name: metric, group: EXTERNAL, kind: 'externalmetrics' }),
      };
    }
    // custom: /namespaces/{ns}/{resource}/{name}/{metric} (5), /namespaces/{ns}/metrics/{metric} (4), /{resource}/{name}/{metric} (3)
    if (rest.length === 3) {
      return {
        kind: 'other', group: group!, version: version!,
        attrs: { kind: 'resource', group: CUSTOM, version: version!, resource: rest[0]!, subresource: rest[2]!, name: rest[1]!, verb: 'get' },
        run: () => [404, status(404, 'NotFound', 'root-scoped objects are not supported', { name: rest[2], group: CUSTOM, kind: rest[0], causes: [{ reason: 'UnsupportedScope', message: 'root-scoped objects are not supported' }] })],
      };
    }
    if (rest[0] !== 'namespaces') return undefined;
    if (rest.length === 4 && rest[2] === 'metrics') {
      const [, ns, , metric] = rest as [string, string, string, string];
      check('namespace', ns, DNS_LABEL);
      check('metric name', metric, NAME);
      return {
        kind: 'namespace', group: group!, version: version!,
        attrs: { kind: 'resource', group: CUSTOM, version: version!, resource: 'metrics', name: metric, namespace: ns, verb: 'get' },
        run: () => answer(o.registry.object(ns, 'namespaces', ns, metric, params(url, 'metricLabelSelector')),
          (items) => customList(version!, metric, ns, items), { name: metric, group: CUSTOM, kind: 'namespaces' }),
      };
    }
    if (rest.length !== 5) return undefined;
    const [, ns, resource, name, metric] = rest as [string, string, string, string, string];
    check('namespace', ns, DNS_LABEL);
    check('metric name', metric, NAME);
    if (name !== '*') check('name', name, NAME);
    const all = name === '*';
    if (resource === 'pods')
      return {
        kind: 'pods', group: group!, version: version!,
        attrs: { kind: 'resource', group: CUSTOM, version: version!, resource, subresource: metric, name, namespace: ns, verb: 'get' },
        run: () => {
          const labelSel = params(url, 'labelSelector');
          const r = o.registry.pods(ns, metric, params(url, 'metricLabelSelector'), labelSel);
          if (r.ok && !all) {
            const one = r.items.filter((i) => i.pod === name);
            if (!one.length) return [404, status(404, 'NotFound', `the server could not find the metric ${metric} for pods ${name}`, { name: metric, group: CUSTOM, kind: 'pods', causes: [{ reason: 'NoPodsMatched', message: `pod ${name} has no value` }] })];
            served(CUSTOM, one);
            return [200, customList(version!, metric, ns, one)];
          }
          return answer(r, (items) => customList(version!, metric, ns, items), { name: metric, group: CUSTOM, kind: 'pods' });
        },
      };
    return {
      kind: 'object', group: group!, version: version!,
      attrs: { kind: 'resource', group: CUSTOM, version: version!, resource, subresource: metric, name, namespace: ns, verb: 'get' },
      run: () => {
        if (all && url.searchParams.get('labelSelector')) throw new HttpError(400, 'BadRequest', `wildcard requests for ${resource} accept only an empty labelSelector`);
        return answer(o.registry.object(ns, resource, name, metric, params(url, 'metricLabelSelector')),
          (items) => customList(version!, metric, ns, items), { name: metric, group: CUSTOM, kind: resource });
      },
    };
  };

  return (req, res) => {
    const t0 = process.hrtime.bigint();
    let id: string | undefined;
    const requestId = () => (id ??= randomUUID()); // only errors and the debug log name it
    let labels = { group: '', version: '', kind: 'other', code: 500 };
    let user: string | undefined;
    const finish = (code: number, body: unknown) => {
      if (res.headersSent) return;
      labels.code = code;
      send(res, code, body);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      try {
        o.observe?.(labels, seconds);
        if (o.logger.isLevelEnabled('debug'))
          o.logger.debug({ requestId: requestId(), user, verb: req.method, path: req.url, code, latencyMs: Math.round(seconds * 1e4) / 10 }, 'request');
      } catch (e) {
        o.logger.error({ requestId: requestId(), err: { message: (e as Error).message } }, 'request accounting failed');
      }
    };
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'https://adapter.invalid');
        const path = url.pathname;
        if (['/healthz', '/livez', '/readyz'].includes(path)) {
          const ok = path !== '/readyz' || o.ready();
          res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
          res.end(ok ? 'ok' : 'not ready');
          return;
        }
        if (req.method !== 'GET') return finish(405, status(405, 'MethodNotAllowed', `${req.method} is not allowed; only GET`));
        if (!acceptable(req.headers.accept)) return finish(406, status(406, 'NotAcceptable', 'only application/json is served'));
        const authn = await o.authenticate(req);
        o.countAuthn?.(authn.ok ? authn.user.method : authn.method, authn.ok ? 'success' : 'failure');
        if (!authn.ok) {
          o.logger.debug({ requestId: requestId(), reason: authn.reason }, 'authentication failed');
          return finish(401, status(401, 'Unauthorized', 'Unauthorized'));
        }
        user = authn.user.name;
        if (path === '/openapi/v2' || path === '/openapi/v3' || path.startsWith('/openapi/'))
          return finish(404, status(404, 'NotFound', 'no OpenAPI document is served'));
        const segs = path.split('/').filter((s) => s !== '').map((s) => {
          try {
            return decodeURIComponent(s);
          } catch {
            throw new HttpError(400, 'BadRequest', `invalid percent-encoding in path segment "${s}"`);
          }
        });
        if (segs[0] !== 'apis') return finish(404, status(404, 'NotFound', `the server could not find the requested resource ${path}`));
        const r = route(url, segs);
        if (!r) return finish(404, status(404, 'NotFound', `the server could not find the requested resource ${path}`));
        labels = { group: r.group, version: r.version, kind: r.kind, code: 0 };
        if (!o.alwaysAllowPaths.includes(path)) {
          let decision: Awaited<ReturnType<ApiOptions['authorize']>>;
          try {
            decision = await o.authorize(authn.user, r.attrs);
          } catch (e) {
            o.countAuthz?.('error', 'miss');
            o.logger.warn({ requestId: requestId(), err: { message: (e as Error).message } }, 'authorization review failed');
            return finish(500, status(500, 'InternalError', `internal error (request ${requestId()})`));
          }
          o.countAuthz?.(decision.allowed ? 'allowed' : 'denied', decision.cache);
          if (!decision.allowed) {
            const a = r.attrs;
            const what = a.kind === 'nonResource' ? `path "${a.path}"` : `resource "${a.resource}" in API group "${a.group}"${a.namespace ? ` in the namespace "${a.namespace}"` : ''}`;
            return finish(403, status(403, 'Forbidden', `user "${authn.user.name}" cannot ${a.verb} ${what}${decision.reason ? `: ${decision.reason}` : ''}`));
          }
        }
        const [code, body] = r.run();
        finish(code, body);
      } catch (e) {
        if (e instanceof HttpError) return finish(e.code, status(e.code, e.reason, e.message, e.details));
        o.logger.error({ requestId: requestId(), err: { message: (e as Error).message, stack: (e as Error).stack } }, 'internal error');
        finish(500, status(500, 'InternalError', `internal error (request ${requestId()})`));
      }
    })();
  };
}

/** The AuthConfig type re-exported for wiring. */
export type { AuthConfig };
