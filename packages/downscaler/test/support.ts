/**
 * Helpers of the downscaler integration suites: an admin client for fixtures, the ServiceAccount and
 * RBAC of `manifests/downscaler` (the controller runs with a token of that ServiceAccount only),
 * workload builders, Event, metric, log and audit-log readers, and an in-process controller whose
 * decision clock the test sets freely (ticks run on real time, every second).
 */
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { type KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import {
  type AccessRecord,
  type Clock,
  KubeClient,
  type PolicyRule,
  type RunningComponent,
  type SharedConfig,
  type StartComponentOptions,
  rbacAllows,
  realClock,
  startComponent,
} from '@kubeaws/runtime';
import {
  TEST_ENV,
  createTestNamespace,
  deleteNamespace,
  serviceAccountKubeConfig,
  testKubeConfig,
  waitFor,
  LogCapture,
} from '@kubeaws/testenv';
import { type Downscaler, type DownscalerConfig, type Settings, downscaler } from '../src/index';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const MANIFESTS = path.join(REPO_ROOT, 'manifests/downscaler');
export const SA = { namespace: 'kube-system', name: 'kubeaws-downscaler' };
export const SA_USER = `system:serviceaccount:${SA.namespace}:${SA.name}`;
export const ORIG = 'downscaler/original-replicas';
const IMAGE = 'registry.k8s.io/pause:3.10';

export type Obj = Record<string, any>;

/** A clock whose "now" the test sets (forwards or backwards); timers run on real time. */
export class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  set(iso: string | number): void {
    this.t = typeof iso === 'number' ? iso : Date.parse(iso);
  }
  setTimeout = realClock.setTimeout;
  clearTimeout = realClock.clearTimeout;
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
};

/** Objects of one file of `manifests/downscaler`. */
export function manifest(file: string): Obj[] {
  return loadAllYaml(readFileSync(path.join(MANIFESTS, file), 'utf8')).filter(Boolean) as Obj[];
}

/** Accesses that the shipped RBAC does not allow (discovery documents excluded). */
export function deniedAccesses(accesses: AccessRecord[]): AccessRecord[] {
  const objs = manifest('rbac.yaml');
  const cluster = objs.filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules as PolicyRule[]);
  const namespaced: Record<string, PolicyRule[]> = {};
  for (const r of objs.filter((o) => o.kind === 'Role'))
    (namespaced[r.metadata.namespace] ??= []).push(...(r.rules as PolicyRule[]));
  return accesses.filter(
    (a) =>
      a.resource !== '' &&
      !rbacAllows(cluster, a) &&
      !(a.namespace !== undefined && rbacAllows(namespaced[a.namespace] ?? [], a)),
  );
}

/** Workload path. */
export function pathOf(
  kind: 'Deployment' | 'StatefulSet' | 'CronJob' | 'HorizontalPodAutoscaler',
  ns: string,
  name: string,
): string {
  switch (kind) {
    case 'Deployment':
      return `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
    case 'StatefulSet':
      return `/apis/apps/v1/namespaces/${ns}/statefulsets/${name}`;
    case 'CronJob':
      return `/apis/batch/v1/namespaces/${ns}/cronjobs/${name}`;
    case 'HorizontalPodAutoscaler':
      return `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers/${name}`;
  }
}

/** Admin access to the test cluster and cleanup of the namespaces a suite made. */
export class Cluster {
  readonly kc: KubeConfig;
  readonly api: KubeClient;
  private readonly namespaces: string[] = [];

  constructor() {
    this.kc = testKubeConfig();
    this.api = new KubeClient({
      kubeConfig: this.kc,
      component: 'downscaler-test',
      fieldManager: 'downscaler-test',
      qps: 200,
      burst: 400,
    });
  }

  /** A fresh namespace (with optional annotations), deleted by {@link cleanup}. */
  async namespace(prefix: string, annotations?: Record<string, string>): Promise<string> {
    const ns = await createTestNamespace(this.kc, prefix);
    this.namespaces.push(ns);
    if (annotations) await this.api.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { annotations } });
    return ns;
  }

  /** Deletes a namespace without waiting (its objects leave the controller's caches). */
  async drop(ns: string): Promise<void> {
    await deleteNamespace(this.kc, ns);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.namespaces.map((ns) => deleteNamespace(this.kc, ns, { wait: true, timeoutMs: 120_000 })));
  }

  /** Applies the ServiceAccount and RBAC exactly as shipped and returns a kubeconfig with only its token. */
  async controllerKubeConfig(): Promise<KubeConfig> {
    for (const o of [...manifest('serviceaccount.yaml'), ...manifest('rbac.yaml')]) {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      const p =
        (group ? `/apis/${group}/${version}` : `/api/${version}`) +
        (o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '') +
        `/${PLURALS[o.kind]}/${o.metadata.name}`;
      await this.api.apply(p, o, { force: true });
    }
    // RBAC is evaluated from informers in kube-apiserver: wait until the new rules are in effect.
    return serviceAccountKubeConfig(this.kc, SA.namespace, SA.name, {
      expirationSeconds: 3600,
      waitForList: ['/apis/apps/v1/deployments', '/apis/autoscaling/v2/horizontalpodautoscalers'],
    });
  }

  get<T = Obj>(p: string): Promise<T> {
    return this.api.get<T>(p);
  }

  patch(p: string, body: Obj): Promise<Obj> {
    return this.api.mergePatch<Obj>(p, body);
  }

  async deployment(
    ns: string,
    name: string,
    o: {
      replicas?: number;
      annotations?: Record<string, string>;
      labels?: Record<string, string>;
      kind?: 'Deployment' | 'StatefulSet';
    } = {},
  ): Promise<Obj> {
    const kind = o.kind ?? 'Deployment';
    const labels = { app: name, ...o.labels };
    const spec: Obj = {
      replicas: o.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'main', image: IMAGE, resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
          terminationGracePeriodSeconds: 0,
        },
      },
    };
    if (kind === 'StatefulSet') spec.serviceName = name;
    return this.api.create(`/apis/apps/v1/namespaces/${ns}/${kind === 'Deployment' ? 'deployments' : 'statefulsets'}`, {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name, labels, annotations: o.annotations ?? {} },
      spec,
    });
  }

  async cronJob(ns: string, name: string, annotations: Record<string, string> = {}): Promise<Obj> {
    return this.api.create(`/apis/batch/v1/namespaces/${ns}/cronjobs`, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name, annotations },
      spec: {
        schedule: '0 3 * * *',
        jobTemplate: {
          spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: IMAGE }] } } },
        },
      },
    });
  }

  async hpa(
    ns: string,
    name: string,
    target: string,
    o: { min?: number; max?: number; annotations?: Record<string, string> } = {},
  ): Promise<Obj> {
    return this.api.create(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, annotations: o.annotations ?? {} },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target },
        minReplicas: o.min ?? 2,
        maxReplicas: o.max ?? 5,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
        ],
      },
    });
  }

  /** Waits until `check` holds for the object at `p`; returns it. */
  waitObj(p: string, check: (o: Obj) => boolean, description: string, timeoutMs = 30_000): Promise<Obj> {
    return waitFor(
      async () => {
        const o = await this.get(p);
        return check(o) ? o : undefined;
      },
      { timeoutMs, intervalMs: 250, description: `${p}: ${description}` },
    );
  }

  async events(ns: string): Promise<Obj[]> {
    return (await this.api.list<Obj>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items;
  }

  /** Waits for an Event with `reason` about object `name` (note matching), returns all such. */
  waitEvent(ns: string, reason: string, name: string, note?: RegExp, timeoutMs = 30_000): Promise<Obj[]> {
    return waitFor(
      async () => {
        const evs = (await this.events(ns)).filter(
          (e) => e.reason === reason && e.regarding?.name === name && (!note || note.test(e.note ?? '')),
        );
        return evs.length ? evs : undefined;
      },
      { timeoutMs, intervalMs: 250, description: `Event ${reason} on ${ns}/${name}${note ? ` matching ${note}` : ''}` },
    );
  }
}

export { LogCapture };

/** A controller started in-process for a test. */
export interface TestController extends RunningComponent<DownscalerConfig, Downscaler> {
  /** The component's handle. */
  downscaler: Downscaler;
  logs: LogCapture;
  clock: SettableClock;
  /** Sum of a metric's samples whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Every API access of the controller (writes and Events). */
  accesses(): AccessRecord[];
}

export interface TestControllerOptions extends Pick<
  StartComponentOptions<DownscalerConfig>,
  'identity' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'
> {
  /** Settings over the defaults (and a 1 s interval). */
  settings?: Partial<Settings>;
  /** Shared runtime settings over the test's (leader election off, loopback ports, debug logs). */
  shared?: Partial<SharedConfig>;
  clock?: SettableClock;
}

/**
 * Starts the downscaler in-process: probes and metrics on free loopback ports, leader election off unless
 * asked, debug logs captured, a 1 s tick, and a settable decision clock. Waits for its caches.
 */
export async function startTestController(kc: KubeConfig, o: TestControllerOptions = {}): Promise<TestController> {
  const logs = new LogCapture();
  const { settings, shared, clock: given, ...rest } = o;
  const clock = given ?? new SettableClock(Date.now());
  const rc = await startComponent(downscaler, {
    ...rest,
    env: {},
    kubeConfig: kc,
    clock,
    config: {
      intervalMs: 1000,
      ...settings,
      leaderElect: false,
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      logLevel: 'debug',
      ...shared,
    },
    logDestination: logs,
    processMetrics: false,
  });
  await rc.synced();
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = rc.metrics.registry.getSingleMetric(name);
    if (!m) return 0;
    return (await m.get()).values
      .filter((x) => Object.entries(labels).every(([k, v]) => String((x.labels as Record<string, unknown>)[k]) === v))
      .reduce((s, x) => s + x.value, 0);
  };
  return {
    ...rc,
    downscaler: rc.handle,
    logs,
    clock,
    metric,
    accesses: () => [...rc.manager.client.accesses(), ...rc.manager.eventsClient.accesses()],
  };
}

/** A reader of the kube-apiserver audit log (write verbs) from the current end on. */
export class AuditLog {
  private readonly file = process.env[TEST_ENV.auditLog]!;
  private offset = 0;

  mark(): void {
    this.offset = statSync(this.file).size;
  }

  async since(): Promise<Obj[]> {
    const fh = await open(this.file, 'r');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      const text = buf.toString('utf8');
      // the API server may be in the middle of writing the last line: read complete lines only
      return text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l.trim())
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Obj];
          } catch {
            return []; // a line cut by mark() while it was being written
          }
        })
        .filter((e) => e.stage === 'ResponseComplete');
    } finally {
      await fh.close();
    }
  }

  /** Writes by the controller's ServiceAccount since {@link mark}, as `verb path` (query dropped). */
  async controllerWrites(filter = ''): Promise<string[]> {
    return (await this.since())
      .filter((e) => e.user?.username === SA_USER && e.requestURI.includes(filter))
      .map((e) => `${e.verb} ${e.requestURI.split('?')[0]}`);
  }
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

export { waitFor };
