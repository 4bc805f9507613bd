/**
 * Wiring of the metrics-adapter: informers (HPAs; pods, Deployments and StatefulSets once a json-path or
 * per-replica metric needs them; the authentication ConfigMap), the registry of sources, Events and metrics,
 * and the HTTPS API server as a Runnable on every replica (docs/metrics-adapter.md#ma-behaviour).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  type Informer,
  KubeClient,
  type KubeObject,
  type LabelSelector,
  type Manager,
  labelRequirements,
  matchesLabels,
  realClock,
  sleep,
  ConnectionDrain,
} from '@kubeaws/runtime';
import { CUSTOM, EXTERNAL, createApiHandler } from './api';
import {
  type AccessAttributes,
  type AuthConfig,
  AuthorizationCache,
  type UserInfo,
  applyAuthOverrides,
  authConfigFromConfigMap,
  authenticate,
  tokenKey,
} from './auth';
import { createCollect, type PodTarget } from './collectors';
import { type ConfigError, formatConfigError, type GrammarSettings, type ObjectRef, parseHpa } from './grammar';
import { CollectError, Registry, sourceHash, type SourceState } from './registry';
import { type ApiResourceListDoc, KindIndex } from './kinds';
import { type ApiServiceObject, OUR_APISERVICES, apiServiceOwnership, ownershipText } from './preflight';
import { canonicalRequirements } from './selector';
import { selfSignedServing } from './tls';

/** The parsed configuration of the metrics-adapter (flags; durations in ms). */
export interface AdapterConfig {
  secureBindAddress: string;
  securePort: number;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  service: string;
  authenticationConfigMap: string;
  requestheaderClientCaFile: string;
  requestheaderAllowedNames: string[];
  clientCaFile: string;
  tokenCacheTtlMs: number;
  authorizedTtlMs: number;
  unauthorizedTtlMs: number;
  alwaysAllowPaths: string[];
  enableCustom: boolean;
  enableExternal: boolean;
  watchNamespaces: string[];
  defaultIntervalMs: number;
  minIntervalMs: number;
  jitter: number;
  stalenessFactor: number;
  maxBackoffMs: number;
  readinessCollectionTimeoutMs: number;
  failureEventThreshold: number;
  eventDedupeWindowMs: number;
  prometheusServer: string;
  additionalPrometheusServers: Record<string, string>;
  prometheusTokenFile: string;
  prometheusTimeoutMs: number;
  prometheusMaxConcurrency: number;
  awsRegions: string[];
  sqsMaxRps: number;
  podScrapeConcurrency: number;
  podScrapeMaxBytes: number;
  shutdownDelayMs: number;
  shutdownGracePeriodMs: number;
}

/** What tests reach through `startComponent(...).handle`. */
export interface AdapterHandle {
  registry: Registry;
  authz: AuthorizationCache;
  /** The HTTPS API's address once listening. */
  address(): AddressInfo | undefined;
  /** The serving certificate (PEM), e.g. for an APIService caBundle. */
  servingCert(): string | undefined;
}

interface HpaObject extends KubeObject {
  spec?: { scaleTargetRef?: ObjectRef; metrics?: unknown[] };
}
interface PodObject extends KubeObject {
  status?: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> };
}
interface WorkloadObject extends KubeObject {
  spec?: { selector?: LabelSelector };
  status?: { replicas?: number };
}

/** The SQS endpoint host the SDK resolves for a region (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`, else the public one). */
export function sqsEndpointHost(env: NodeJS.ProcessEnv, region: string): string {
  const configured = env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL;
  if (configured) {
    try {
      return new URL(configured).host;
    } catch {
      // fall through to the public endpoint
    }
  }
  return `sqs.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** Projection of an HPA: only the inputs of reconcile (docs/metrics-adapter.md#ma-behaviour). */
export function projectHpa(h: HpaObject): HpaObject {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(h.metadata?.annotations ?? {})) if (k.startsWith('metric-config.')) annotations[k] = v;
  return {
    apiVersion: h.apiVersion,
    kind: h.kind,
    metadata: {
      name: h.metadata?.name,
      namespace: h.metadata?.namespace,
      uid: h.metadata?.uid,
      resourceVersion: h.metadata?.resourceVersion,
      creationTimestamp: h.metadata?.creationTimestamp,
      annotations,
    },
    spec: { scaleTargetRef: h.spec?.scaleTargetRef, metrics: h.spec?.metrics ?? [] },
  } as HpaObject;
}

/** Hash of an HPA's reconcile inputs; status writes never change it. */
export function hpaInputHash(h: HpaObject): string {
  return createHash('sha256')
    .update(JSON.stringify([h.metadata?.uid, h.spec?.metrics, h.spec?.scaleTargetRef, Object.entries(h.metadata?.annotations ?? {}).sort()]))
    .digest('hex');
}

function projectPod(p: PodObject): PodObject {
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    metadata: {
      name: p.metadata?.name,
      namespace: p.metadata?.namespace,
      labels: p.metadata?.labels,
      resourceVersion: p.metadata?.resourceVersion,
      ...(p.metadata?.deletionTimestamp ? { deletionTimestamp: p.metadata.deletionTimestamp } : {}),
    },
    status: { podIP: p.status?.podIP, phase: p.status?.phase, conditions: ready ? [ready] : [] },
  } as PodObject;
}

function projectApiService(a: KubeObject & ApiServiceObject): KubeObject & ApiServiceObject {
  return {
    metadata: { name: a.metadata?.name, labels: a.metadata?.labels, resourceVersion: a.metadata?.resourceVersion },
    spec: { service: a.spec?.service ? { namespace: a.spec.service.namespace, name: a.spec.service.name } : null },
  } as KubeObject & ApiServiceObject;
}

function projectWorkload(w: WorkloadObject): WorkloadObject {
  return {
    metadata: { name: w.metadata?.name, namespace: w.metadata?.namespace, resourceVersion: w.metadata?.resourceVersion },
    spec: { selector: w.spec?.selector },
    status: { replicas: w.status?.replicas ?? 0 },
  } as WorkloadObject;
}

/** Sets up the adapter on the Manager. */
export async function setupAdapter(mgr: Manager, cfg: AdapterConfig, env: NodeJS.ProcessEnv): Promise<AdapterHandle> {
  const log = mgr.logger;
  const m = mgr.metrics;
  const metrics = {
    hpas: m.gauge('hpas', 'HPAs seen, by state', ['state']),
    subscriptions: m.gauge('subscriptions', 'HPA metrics being collected', ['collector']),
    collectors: m.gauge('collectors', 'Distinct backend sources after deduplication', ['collector']),
    collections: m.counter('collections_total', 'Logical polls', ['collector', 'result']),
    collectionDuration: m.histogram('collection_duration_seconds', 'Poll latency', ['collector']),
    collectorErrors: m.counter('collector_errors_total', 'Failed polls', ['collector', 'reason']),
    backendRequests: m.counter('backend_requests_total', 'Physical backend calls', ['backend', 'operation', 'code']),
    backendDuration: m.histogram('backend_request_duration_seconds', 'Backend call latency', ['backend', 'operation']),
    storeSeries: m.gauge('store_series', 'Series held', ['api']),
    apiDuration: m.histogram('served_request_duration_seconds', 'Metric API latency (the runtime owns api_request_duration_seconds for its client)', ['group', 'version', 'kind', 'code'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
    configErrors: m.gauge('config_errors', 'Metric configurations rejected right now', ['cause']),
    events: m.counter('events_total', 'Events', ['reason', 'result']),
    authn: m.counter('authentication_total', 'Authentications', ['method', 'result']),
    authz: m.counter('authorization_total', 'Authorizations', ['result', 'cache']),
    servedAge: m.histogram('served_value_age_seconds', 'now - timestamp of every item served', ['api'], [1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600]),
    oldest: m.gauge('oldest_value_age_seconds', 'The oldest value held', ['collector']),
    apiserviceOwned: m.gauge('apiservice_owned', '1 if the APIService is ours (docs/metrics-adapter.md#ma-preflight)', ['apiservice']),
  };
  const [svcNs, svcName] = cfg.service.split('/') as [string, string];
  const settings: Omit<GrammarSettings, 'kinds'> = {
    enableCustom: cfg.enableCustom,
    enableExternal: cfg.enableExternal,
    ...(cfg.prometheusServer ? { prometheusServer: cfg.prometheusServer } : {}),
    prometheusAliases: cfg.additionalPrometheusServers,
    awsRegions: cfg.awsRegions,
    sqsEndpointHost: (r) => sqsEndpointHost(env, r),
    defaultIntervalMs: cfg.defaultIntervalMs,
    minIntervalMs: cfg.minIntervalMs,
  };

  // Workload and pod informers, created on first need.
  let workloads: { deployments: Informer<WorkloadObject>; statefulsets: Informer<WorkloadObject> } | undefined;
  let rollouts: Informer<WorkloadObject> | undefined;
  let pods: Informer<PodObject> | undefined;
  const needRollouts = () => {
    rollouts ??= mgr.informer<WorkloadObject>({ path: '/apis/argoproj.io/v1alpha1/rollouts', transform: projectWorkload, optional: true });
    return rollouts;
  };
  const needWorkloads = () => {
    workloads ??= {
      deployments: mgr.informer<WorkloadObject>({ path: '/apis/apps/v1/deployments', transform: projectWorkload, optional: true }),
      statefulsets: mgr.informer<WorkloadObject>({ path: '/apis/apps/v1/statefulsets', transform: projectWorkload, optional: true }),
    };
    return workloads;
  };
  const needPods = () => {
    pods ??= mgr.informer<PodObject>({ path: '/api/v1/pods', transform: projectPod, optional: true });
    return pods;
  };
  const workloadOf = (ns: string, t: ObjectRef): WorkloadObject | undefined => {
    const w = needWorkloads();
    const inf = t.kind === 'Deployment' ? w.deployments : t.kind === 'StatefulSet' ? w.statefulsets : t.kind === 'Rollout' ? needRollouts() : undefined;
    return inf?.cache.get(`${ns}/${t.name}`);
  };
  const podsOf = (ns: string, t: ObjectRef, minReadyAgeMs: number): PodTarget => {
    const w = workloadOf(ns, t);
    if (!w?.spec?.selector)
      throw new CollectError('ScaleTargetNotFound', `scale target ${t.kind} ${ns}/${t.name} not found`, 'not_found', true);
    const sel = w.spec.selector;
    const now = mgr.clock.now();
    const eligible = needPods()
      .cache.byNamespace(ns)
      .filter((p) => {
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
        return (
          p.status?.phase === 'Running' && ready?.status === 'True' && !p.metadata?.deletionTimestamp && !!p.status.podIP &&
          now - Date.parse(ready.lastTransitionTime ?? '1970-01-01T00:00:00Z') >= minReadyAgeMs &&
          matchesLabels(sel, p.metadata?.labels ?? {})
        );
      });
    return {
      selector: canonicalRequirements(labelRequirements(sel)),
      pods: eligible.map((p) => ({ name: p.metadata!.name!, ip: p.status!.podIP!, labels: p.metadata?.labels ?? {} })),
    };
  };
  const tokenFile = cfg.prometheusTokenFile;
  const collect = createCollect({
    podsOf,
    podScrapeConcurrency: cfg.podScrapeConcurrency,
    podScrapeMaxBytes: cfg.podScrapeMaxBytes,
    prometheusTimeoutMs: cfg.prometheusTimeoutMs,
    prometheusMaxConcurrency: cfg.prometheusMaxConcurrency,
    prometheusToken: (server) => (tokenFile && server === cfg.prometheusServer ? fs.readFileSync(tokenFile, 'utf8').trim() : undefined),
    sqsMaxRps: cfg.sqsMaxRps,
    clock: mgr.clock,
    onBackendRequest: (backend, operation, code, ms) => {
      metrics.backendRequests.inc({ backend, operation, code });
      metrics.backendDuration.observe({ backend, operation }, ms / 1000);
    },
  });

  // Events: deterministic keys, at most one write per key per window (docs/metrics-adapter.md#ma-events).
  const eventWrites = new Map<string, number>();
  const hpaObjects = new Map<string, HpaObject>();
  const warn = (hpaKey: string, reason: 'InvalidMetricConfig' | 'CollectMetricsFailed', keyParts: string, note: string, fields: Record<string, unknown>) => {
    const key = `${hpaKey}|${reason}|${keyParts}`;
    const now = mgr.clock.now();
    const last = eventWrites.get(key);
    if (last !== undefined && now - last < cfg.eventDedupeWindowMs) {
      metrics.events.inc({ reason, result: 'suppressed' });
      return;
    }
    eventWrites.set(key, now);
    log.warn({ hpa: hpaKey, reason, ...fields }, note);
    const h = hpaObjects.get(hpaKey);
    if (!h) return;
    const ok = mgr.events.record({
      regarding: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: h.metadata?.namespace, name: h.metadata?.name, uid: h.metadata?.uid },
      type: 'Warning',
      reason,
      action: 'Collect',
      note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
    });
    metrics.events.inc({ reason, result: ok ? 'created' : 'failed' });
  };
  const reportConfigErrors = (hpaKey: string, errors: ConfigError[]) => {
    for (const e of errors)
      warn(hpaKey, 'InvalidMetricConfig', `${e.metric}|${e.cause}|${e.field}`, formatConfigError(e), {
        metric: e.metric, cause: e.cause, field: e.field, value: e.value,
      });
  };

  const registry = new Registry({
    clock: mgr.clock,
    collect,
    stalenessFactor: cfg.stalenessFactor,
    jitter: cfg.jitter,
    maxBackoffMs: cfg.maxBackoffMs,
    replicasOf: (ns, t) => workloadOf(ns, t)?.status?.replicas,
    onRebuild: (before, after) => {
      for (const k of new Set([...before.keys(), ...after.keys()])) reportConfigErrors(k, after.get(k) ?? []);
      refreshGauges();
    },
    onPoll: (st: SourceState, err: CollectError | undefined, ms: number) => {
      const collector = st.info.spec.config.collector;
      metrics.collections.inc({ collector, result: err ? 'error' : 'success' });
      metrics.collectionDuration.observe({ collector }, ms / 1000);
      if (!err) {
        if (st.polls > 1 && st.lastError === undefined && wasFailing.delete(st.info.key))
          log.info({ collector, source: sourceHash(st.info.key) }, 'source recovered');
        return;
      }
      metrics.collectorErrors.inc({ collector, reason: err.reason });
      const first = !wasFailing.has(st.info.key);
      wasFailing.add(st.info.key);
      if (first) log.warn({ collector, source: sourceHash(st.info.key), cause: err.cause, err: { message: err.message } }, 'collection failed');
      else log.debug({ collector, source: sourceHash(st.info.key), cause: err.cause, attempt: st.consecutiveFailures }, 'collection failed again');
      if (err.transient && st.consecutiveFailures < cfg.failureEventThreshold) return;
      for (const s of registry.subscribersOf(st.info.key))
        warn(s.hpaKey, 'CollectMetricsFailed', `${s.spec.type}/${s.spec.name}|${err.cause}`,
          `${s.spec.type}/${s.spec.name}: ${err.message} (cause ${err.cause}; field spec.metrics[${s.spec.index}])`,
          { metric: `${s.spec.type}/${s.spec.name}`, cause: err.cause, collector });
    },
  });
  const wasFailing = new Set<string>();

  const refreshGauges = () => {
    const entries = registry.hpaEntries();
    metrics.hpas.reset();
    for (const e of entries) {
      const bad = e.errors.filter((x) => !x.warning).length;
      metrics.hpas.inc({ state: e.specs === 0 ? (bad ? 'invalid' : 'ignored') : bad ? 'partial' : 'ok' });
    }
    metrics.configErrors.reset();
    for (const e of entries) for (const x of e.errors) if (!x.warning) metrics.configErrors.inc({ cause: x.cause });
    metrics.collectors.reset();
    metrics.subscriptions.reset();
    for (const st of registry.sources.values()) {
      metrics.collectors.inc({ collector: st.info.spec.config.collector });
      metrics.subscriptions.inc({ collector: st.info.spec.config.collector }, st.subscribers.size);
    }
  };

  // API discovery (docs/metrics-adapter.md#ma-kinds): kinds of described objects and scale targets map to resources
  // as the API server names them. Loaded before any HPA is parsed, refreshed every 10 minutes and, at most every
  // 30 s, when an HPA names a kind the index does not know. Read through a client of its own, as client-go's
  // discovery client: non-resource reads, not resource accesses of the adapter.
  const discoveryClient = new KubeClient({ kubeConfig: mgr.client.kubeConfig, component: 'metrics-adapter', logger: log });
  let kinds: KindIndex | undefined;
  let discoveryMiss = false;
  const loadDiscovery = async (signal: AbortSignal): Promise<KindIndex> => {
    const lists: ApiResourceListDoc[] = [await discoveryClient.get<ApiResourceListDoc>('/api/v1', { signal })];
    const groups = await discoveryClient.get<{ groups?: Array<{ name: string; preferredVersion?: { groupVersion: string } }> }>('/apis', { signal });
    for (const g of groups.groups ?? []) {
      // the metrics APIs (ours among them) serve no kinds; an unavailable aggregated API is skipped until the next refresh
      if (g.name === CUSTOM || g.name === EXTERNAL || g.name === 'metrics.k8s.io' || !g.preferredVersion) continue;
      try {
        lists.push(await discoveryClient.get<ApiResourceListDoc>(`/apis/${g.preferredVersion.groupVersion}`, { signal }));
      } catch (e) {
        log.debug({ group: g.name, err: { message: (e as Error).message } }, 'API discovery of a group failed');
      }
    }
    return new KindIndex(lists);
  };
  mgr.probes.addReadyzCheck('api-discovery', () => (kinds ? true : 'API discovery not loaded yet'));
  mgr.add({
    name: 'api-discovery',
    leaderOnly: false,
    async start(signal) {
      let last = -Infinity;
      let failures = 0;
      while (!signal.aborted) {
        const now = mgr.clock.now();
        const due = !kinds ? now - last >= Math.min(30_000, 1000 * 2 ** failures) : (discoveryMiss && now - last >= 30_000) || now - last >= 600_000;
        if (due) {
          last = now;
          discoveryMiss = false;
          try {
            const next = await loadDiscovery(signal);
            failures = 0;
            const changed = next.signature !== kinds?.signature;
            kinds = next;
            if (changed) {
              log.info({ kinds: next.size }, 'API discovery loaded');
              for (const h of hpas.cache.list()) reconcileHpa(h);
            }
          } catch (e) {
            failures++;
            if (!signal.aborted) log.warn({ err: { message: (e as Error).message }, attempt: failures }, 'API discovery failed');
          }
        }
        await sleep(mgr.clock, 1000, signal);
      }
    },
  });

  // HPAs (watch-driven; level-triggered on the projected inputs and the discovery index).
  const hashes = new Map<string, string>();
  const parsedWith = new Map<string, string>();
  const reconcileHpa = (h: HpaObject) => {
    const key = `${h.metadata?.namespace}/${h.metadata?.name}`;
    try {
      if (cfg.watchNamespaces.length && !cfg.watchNamespaces.includes(h.metadata?.namespace ?? '')) return;
      const hash = hpaInputHash(h);
      hpaObjects.set(key, h);
      if (!kinds) return; // parsed once discovery is loaded
      if (hashes.get(key) === hash && parsedWith.get(key) === kinds.signature) return;
      if (hashes.get(key) !== hash)
        for (const k of [...eventWrites.keys()]) if (k.startsWith(`${key}|`)) eventWrites.delete(k); // inputs changed: reset keys
      hashes.set(key, hash);
      parsedWith.set(key, kinds.signature);
      const parsed = parseHpa(h as Parameters<typeof parseHpa>[0], { ...settings, kinds });
      if (parsed.errors.some((e) => e.cause === 'UnknownObjectKind' || (e.cause === 'UnsupportedScaleTarget' && e.message.includes('not served'))))
        discoveryMiss = true;
      if (parsed.specs.some((s) => s.config.collector === 'json-path')) {
        needWorkloads();
        needPods();
      }
      if (parsed.specs.some((s) => s.config.collector === 'prometheus' && s.config.perReplica)) needWorkloads();
      if (parsed.specs.some((s) => s.scaleTarget.kind === 'Rollout')) needRollouts();
      registry.setHpa(key, { namespace: h.metadata!.namespace!, name: h.metadata!.name!, uid: h.metadata?.uid, creationTimestamp: h.metadata?.creationTimestamp as string | undefined }, parsed);
      reportConfigErrors(key, parsed.errors);
    } catch (e) {
      log.error({ hpa: key, reason: 'internal', err: { message: (e as Error).message, stack: (e as Error).stack } }, 'reconcile failed');
    }
  };
  const hpaPath = '/apis/autoscaling/v2/horizontalpodautoscalers';
  const hpas = mgr.informer<HpaObject>({ path: hpaPath, transform: projectHpa });
  hpas.addEventHandler({
    onAdd: (h) => reconcileHpa(h),
    onUpdate: (_o, h) => reconcileHpa(h),
    onDelete: (h) => {
      const key = `${h.metadata?.namespace}/${h.metadata?.name}`;
      hashes.delete(key);
      parsedWith.delete(key);
      hpaObjects.delete(key);
      registry.deleteHpa(key);
    },
  });

  // APIService ownership, read only (docs/metrics-adapter.md#ma-preflight): a gauge per APIService of an enabled
  // group, and a warning when another adapter or the kube-apiserver owns one.
  const apiservices = mgr.informer<KubeObject & ApiServiceObject>({
    path: '/apis/apiregistration.k8s.io/v1/apiservices',
    name: 'apiservices',
    optional: true,
    transform: projectApiService,
  });
  const ownershipSeen = new Map<string, string>();
  const checkOwnership = () => {
    for (const a of OUR_APISERVICES) {
      if (!(a.group === 'external.metrics.k8s.io' ? cfg.enableExternal : cfg.enableCustom)) continue;
      const o = apiServiceOwnership(apiservices.cache.get(a.name), cfg.service);
      metrics.apiserviceOwned.set({ apiservice: a.name }, o.state === 'ours' ? 1 : 0);
      const text = ownershipText(o);
      if (ownershipSeen.get(a.name) === text) continue;
      ownershipSeen.set(a.name, text);
      if (o.state === 'foreign' || o.state === 'local')
        log.warn({ apiservice: a.name, owner: text, file: `manifests/metrics-adapter/${a.file}` },
          `APIService ${a.name} is not ours (${text}): requests for it do not reach this adapter`);
    }
  };
  apiservices.addEventHandler({ onAdd: checkOwnership, onUpdate: checkOwnership, onDelete: checkOwnership });

  // Authentication config (watched ConfigMap).
  const [cmNs, cmName] = cfg.authenticationConfigMap.split('/') as [string, string];
  let authConfig: AuthConfig | undefined;
  let server: https.Server | undefined;
  let serving: { cert: string; key: string } | undefined;
  const secureContext = () => ({
    cert: serving!.cert,
    key: serving!.key,
    ...(authConfig ? { ca: [authConfig.requestheaderCAPem, authConfig.clientCAPem].filter(Boolean) } : {}),
  });
  const cms = mgr.informer<KubeObject & { data?: Record<string, string> }>({
    path: `/api/v1/namespaces/${cmNs}/configmaps`,
    fieldSelector: `metadata.name=${cmName}`,
    name: 'authentication-configmap',
  });
  let authData: Record<string, string> | undefined;
  const overrideFiles = [cfg.requestheaderClientCaFile, cfg.clientCaFile].filter(Boolean);
  const loadAuth = (cm?: KubeObject & { data?: Record<string, string> }) => {
    if (cm) authData = cm.data ?? {};
    if (!authData) return;
    try {
      authConfig = applyAuthOverrides(authConfigFromConfigMap(authData), {
        ...(cfg.requestheaderClientCaFile ? { requestheaderCAPem: fs.readFileSync(cfg.requestheaderClientCaFile, 'utf8') } : {}),
        allowedNames: cfg.requestheaderAllowedNames,
        ...(cfg.clientCaFile ? { clientCAPem: fs.readFileSync(cfg.clientCaFile, 'utf8') } : {}),
      });
      server?.setSecureContext(secureContext());
      log.info({ allowedNames: authConfig.allowedNames, requestheaderCAs: authConfig.requestheaderCA.length }, 'authentication config loaded');
    } catch (e) {
      log.error({ err: { message: (e as Error).message } }, `invalid authentication config (ConfigMap ${cfg.authenticationConfigMap}${overrideFiles.length ? ` or ${overrideFiles.join(', ')}` : ''})`);
    }
  };
  // --requestheader-client-ca-file and --client-ca-file are re-read when they change (docs/metrics-adapter.md#ma-authn)
  for (const file of overrideFiles) fs.watchFile(file, { interval: 5000 }, () => loadAuth());
  cms.addEventHandler({ onAdd: (cm) => loadAuth(cm), onUpdate: (_o, n) => loadAuth(n) });

  // TokenReview with a cache keyed by the token's SHA-256.
  const tokens = new Map<string, { user?: UserInfo; expires: number }>();
  const reviewToken = async (token: string): Promise<UserInfo | undefined> => {
    const k = tokenKey(token);
    const c = tokens.get(k);
    if (c && c.expires > Date.now()) return c.user;
    const r = await mgr.client.create<{ status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } } }>(
      '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const u = r.status?.authenticated && r.status.user?.username
      ? { name: r.status.user.username, groups: r.status.user.groups ?? [], extra: r.status.user.extra ?? {}, method: 'token' as const, ...(r.status.user.uid ? { uid: r.status.user.uid } : {}) }
      : undefined;
    if (tokens.size > 10_000) tokens.clear();
    tokens.set(k, { user: u, expires: Date.now() + cfg.tokenCacheTtlMs });
    return u;
  };
  const authz = new AuthorizationCache({
    allowedTtlMs: cfg.authorizedTtlMs,
    deniedTtlMs: cfg.unauthorizedTtlMs,
    review: async (user: UserInfo, a: AccessAttributes, signal: AbortSignal) => {
      const spec: Record<string, unknown> = { user: user.name, groups: user.groups, extra: user.extra, ...(user.uid ? { uid: user.uid } : {}) };
      if (a.kind === 'nonResource') spec.nonResourceAttributes = { path: a.path, verb: a.verb };
      else
        spec.resourceAttributes = {
          group: a.group, version: a.version, resource: a.resource, verb: a.verb,
          ...(a.subresource ? { subresource: a.subresource } : {}), ...(a.name ? { name: a.name } : {}), ...(a.namespace ? { namespace: a.namespace } : {}),
        };
      const r = await mgr.client.create<{ status?: { allowed?: boolean; reason?: string } }>(
        '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec }, { signal });
      return { allowed: r.status?.allowed === true, ...(r.status?.reason ? { reason: r.status.reason } : {}) };
    },
  });

  let stopping = false;
  const startedAt = Date.now();
  const collectionsDone = () => registry.allPolledOnce() || Date.now() - startedAt > cfg.readinessCollectionTimeoutMs;
  mgr.probes.addReadyzCheck('authentication-config', () =>
    authConfig ? true : `ConfigMap ${cfg.authenticationConfigMap} not read yet (needs the RoleBinding to extension-apiserver-authentication-reader)`);
  mgr.probes.addReadyzCheck('first-collection', () => (collectionsDone() ? true : 'first collection round not finished'));

  const handler = createApiHandler({
    registry,
    enableCustom: cfg.enableCustom,
    enableExternal: cfg.enableExternal,
    authenticate: (req) => authenticate(req, authConfig, reviewToken),
    authorize: (u, a) => authz.authorize(u, a),
    alwaysAllowPaths: cfg.alwaysAllowPaths,
    ready: () => !stopping && !!authConfig && hpas.hasSynced(),
    logger: log,
    observe: (l, s) => metrics.apiDuration.observe({ group: l.group, version: l.version, kind: l.kind, code: String(l.code) }, s),
    countAuthn: (method, result) => metrics.authn.inc({ method, result }),
    countAuthz: (result, cache) => metrics.authz.inc({ result, cache }),
    observeServed: (api, items) => {
      const now = mgr.clock.now();
      for (const i of items) metrics.servedAge.observe({ api }, Math.max(0, now - i.timestamp) / 1000);
    },
  });

  mgr.add({
    name: 'metrics-api',
    leaderOnly: false,
    async start(signal) {
      if (cfg.tlsCertFile && cfg.tlsPrivateKeyFile) {
        serving = { cert: fs.readFileSync(cfg.tlsCertFile, 'utf8'), key: fs.readFileSync(cfg.tlsPrivateKeyFile, 'utf8') };
        for (const file of [cfg.tlsCertFile, cfg.tlsPrivateKeyFile])
          fs.watchFile(file, { interval: 5000 }, () => {
            try {
              serving = { cert: fs.readFileSync(cfg.tlsCertFile, 'utf8'), key: fs.readFileSync(cfg.tlsPrivateKeyFile, 'utf8') };
              server?.setSecureContext(secureContext());
              log.info({}, 'serving certificate reloaded');
            } catch (e) {
              log.warn({ err: { message: (e as Error).message } }, 'serving certificate reload failed');
            }
          });
      } else serving = await selfSignedServing({ namespace: svcNs, name: svcName });
      server = https.createServer(
        { ...secureContext(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', keepAliveTimeout: 120_000, headersTimeout: 125_000 },
      );
      const drain = new ConnectionDrain(server, handler);
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(cfg.securePort, cfg.secureBindAddress, () => resolve());
      });
      log.info({ address: server.address() }, 'metrics API listening');
      const gaugeTimer = setInterval(() => {
        if (apiservices.hasSynced()) checkOwnership();
        const c = registry.seriesCount();
        metrics.storeSeries.set({ api: 'custom' }, c.custom);
        metrics.storeSeries.set({ api: 'external' }, c.external);
        metrics.oldest.reset();
        const now = mgr.clock.now();
        const oldest = new Map<string, number>();
        for (const st of registry.sources.values())
          if (st.collectedAt !== undefined) {
            const collector = st.info.spec.config.collector;
            oldest.set(collector, Math.max(oldest.get(collector) ?? 0, (now - st.collectedAt) / 1000));
          }
        for (const [collector, age] of oldest) metrics.oldest.set({ collector }, age);
      }, 5000);
      gaugeTimer.unref();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      // SIGTERM (docs/metrics-adapter.md#ma-shutdown): /readyz already fails; keep serving (and collecting) for
      // --shutdown-delay so the aggregator and the Service stop sending, then drain, then abort the polls.
      stopping = true;
      // Answers carry `Connection: close` from now on, so no keep-alive connection is cut when the listener closes.
      drain.beginDrain();
      log.info({ delayMs: cfg.shutdownDelayMs }, 'shutdown: readiness failing, serving until the delay passes');
      if (cfg.shutdownDelayMs > 0) await sleep(realClock, cfg.shutdownDelayMs);
      clearInterval(gaugeTimer);
      if (cfg.tlsCertFile) for (const file of [cfg.tlsCertFile, cfg.tlsPrivateKeyFile]) fs.unwatchFile(file);
      for (const file of overrideFiles) fs.unwatchFile(file);
      await drain.close(Math.max(1000, cfg.shutdownGracePeriodMs - cfg.shutdownDelayMs - 2000));
      registry.stop();
    },
  });

  return {
    registry,
    authz,
    address: () => (server?.listening ? (server.address() as AddressInfo) : undefined),
    servingCert: () => serving?.cert,
  };
}
