/**
 * Helpers of the pdb-controller integration suites: an admin client for fixtures, the ServiceAccount
 * and RBAC of `manifests/pdb-controller`, workload builders, pod readiness switches (kwok pods keep a
 * status written through the status subresource), Event, metric, log and audit-log readers, and an
 * in-process controller with a fake clock. With `PDB_TEST_LOG_DIR` set, every controller's log lines
 * are appended to `$PDB_TEST_LOG_DIR/controller.log` when it stops (for debugging a failed run).
 */
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { type KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import {
  type AccessRecord,
  type Clock,
  FakeClock,
  type Informer,
  KubeClient,
  type KubeObject,
  type PolicyRule,
  type RunningComponent,
  type SharedConfig,
  type TimerHandle,
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
import {
  type OwnPod,
  type PdbConfig,
  type PdbControllerParts,
  type Settings,
  type WorkloadKind,
  type WorkloadState,
  pdbController,
} from '../src/index';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const MANIFESTS = path.join(REPO_ROOT, 'manifests/pdb-controller');
/** The controller's ServiceAccount, as shipped. */
export const SA = { namespace: 'kube-system', name: 'kubeaws-pdb-controller' };
export const SA_USER = `system:serviceaccount:${SA.namespace}:${SA.name}`;
/** Image of test pods; kwok never pulls it. */
const IMAGE = 'registry.k8s.io/pause:3.10';

export type Obj = Record<string, any>;

/** An admin client (system:masters) for fixtures, and namespaces to clean up. */
export class Cluster {
  readonly kc: KubeConfig;
  readonly api: KubeClient;
  private readonly namespaces: string[] = [];

  constructor() {
    this.kc = testKubeConfig();
    this.api = new KubeClient({
      kubeConfig: this.kc,
      component: 'pdb-controller-test',
      fieldManager: 'pdb-controller-test',
    });
  }

  /** A fresh namespace, deleted by {@link cleanup}. */
  async namespace(prefix: string): Promise<string> {
    const ns = await createTestNamespace(this.kc, prefix);
    this.namespaces.push(ns);
    return ns;
  }

  /** Deletes the namespaces and waits until they are gone, so the next suite starts from a clean cluster. */
  async cleanup(): Promise<void> {
    await Promise.all(this.namespaces.map((ns) => deleteNamespace(this.kc, ns, { wait: true, timeoutMs: 120_000 })));
  }

  /** Server-side applies objects (any kind) as the test's field manager. */
  async apply(objs: Obj[]): Promise<void> {
    for (const o of objs) {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      const resource = PLURALS[o.kind];
      if (!resource) throw new Error(`no plural known for ${o.kind}`);
      const p =
        (group ? `/apis/${group}/${version}` : `/api/${version}`) +
        (o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '') +
        `/${resource}/${o.metadata.name}`;
      await this.api.apply(p, o, { force: true });
    }
  }

  /**
   * Applies the ServiceAccount and RBAC of `manifests/pdb-controller` (exactly as shipped) and returns a
   * kubeconfig that authenticates as that ServiceAccount.
   */
  async controllerKubeConfig(): Promise<KubeConfig> {
    await this.apply([...manifest('serviceaccount.yaml'), ...manifest('rbac.yaml')]);
    // RBAC is evaluated from informers in kube-apiserver: wait until the new rules are in effect.
    return serviceAccountKubeConfig(this.kc, SA.namespace, SA.name, {
      expirationSeconds: 3600,
      waitForList: ['/apis/policy/v1/poddisruptionbudgets', '/apis/apps/v1/deployments'],
    });
  }

  get<T = Obj>(p: string): Promise<T> {
    return this.api.get<T>(p);
  }

  async tryGet<T = Obj>(p: string): Promise<T | undefined> {
    try {
      return await this.api.get<T>(p);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  create(collection: string, obj: Obj): Promise<Obj> {
    return this.api.create<Obj>(collection, obj);
  }

  patch(p: string, patch: Obj): Promise<Obj> {
    return this.api.mergePatch<Obj>(p, patch);
  }

  delete(p: string): Promise<unknown> {
    return this.api.delete(p, { propagationPolicy: 'Background' });
  }

  // -- workloads ----------------------------------------------------------------------------------

  async deployment(ns: string, name: string, o: WorkloadOptions = {}): Promise<Obj> {
    return this.create(`/apis/apps/v1/namespaces/${ns}/deployments`, workload('Deployment', ns, name, o));
  }

  async statefulSet(ns: string, name: string, o: WorkloadOptions = {}): Promise<Obj> {
    return this.create(`/apis/apps/v1/namespaces/${ns}/statefulsets`, workload('StatefulSet', ns, name, o));
  }

  async scale(kind: 'Deployment' | 'StatefulSet', ns: string, name: string, replicas: number): Promise<void> {
    await this.patch(`${workloadPath(kind, ns, name)}`, { spec: { replicas } });
  }

  /** Waits until a workload is fully ready (observedGeneration current, readyReplicas = spec.replicas). */
  async ready(kind: 'Deployment' | 'StatefulSet', ns: string, name: string, timeoutMs = 60_000): Promise<Obj> {
    return waitFor(
      async () => {
        const w = await this.get(workloadPath(kind, ns, name));
        const r = w.spec?.replicas ?? 1;
        return (w.status?.observedGeneration ?? 0) >= w.metadata.generation && (w.status?.readyReplicas ?? 0) === r
          ? w
          : undefined;
      },
      { timeoutMs, description: `${kind} ${ns}/${name} fully ready` },
    );
  }

  /** Running pods with the given labels. */
  async pods(ns: string, selector: Record<string, string>): Promise<Obj[]> {
    const ls = Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.api.list<Obj>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: ls });
    return list.items.filter((p) => !p.metadata.deletionTimestamp);
  }

  /** Sets a pod's Ready condition (kwok leaves a Running pod's status alone). */
  async setPodReady(ns: string, pod: string, ready: boolean): Promise<void> {
    const status = ready ? 'True' : 'False';
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.api.strategicMergePatch(`/api/v1/namespaces/${ns}/pods/${pod}/status`, {
      status: {
        conditions: [
          { type: 'Ready', status, lastTransitionTime: now },
          { type: 'ContainersReady', status, lastTransitionTime: now },
        ],
      },
    });
  }

  // -- PDBs and Events ----------------------------------------------------------------------------

  pdb(ns: string, name: string): Promise<Obj | undefined> {
    return this.tryGet(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${name}`);
  }

  async pdbs(ns: string): Promise<Obj[]> {
    return (await this.api.list<Obj>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`)).items;
  }

  /** Waits until PDB `ns/name` exists and `check` (if given) holds; returns it. */
  waitPdb(ns: string, name: string, check: (p: Obj) => boolean = () => true, timeoutMs = 30_000): Promise<Obj> {
    return waitFor(
      async () => {
        const p = await this.pdb(ns, name);
        return p && check(p) ? p : undefined;
      },
      {
        timeoutMs,
        description: `PodDisruptionBudget ${ns}/${name}${check.toString().length > 20 ? ` where ${check}` : ''}`,
      },
    );
  }

  async waitNoPdb(ns: string, name: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await this.pdb(ns, name)) === undefined, {
      timeoutMs,
      description: `PodDisruptionBudget ${ns}/${name} to be gone`,
    });
  }

  async createPdb(ns: string, name: string, spec: Obj, metadata: Obj = {}): Promise<Obj> {
    return this.create(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name, ...metadata },
      spec,
    });
  }

  /** events.k8s.io/v1 Events of a namespace. */
  async events(ns: string): Promise<Obj[]> {
    return (await this.api.list<Obj>(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items;
  }

  /** Waits for an Event with `reason` regarding object `name` (and whose note matches), returns all such. */
  waitEvent(ns: string, reason: string, name: string, note?: RegExp, timeoutMs = 30_000): Promise<Obj[]> {
    return waitFor(
      async () => {
        const evs = (await this.events(ns)).filter(
          (e) => e.reason === reason && e.regarding?.name === name && (!note || note.test(e.note ?? '')),
        );
        return evs.length ? evs : undefined;
      },
      { timeoutMs, description: `Event ${reason} on ${ns}/${name}${note ? ` matching ${note}` : ''}` },
    );
  }

  async evict(ns: string, pod: string): Promise<number> {
    try {
      await this.create(`/api/v1/namespaces/${ns}/pods/${pod}/eviction`, {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: pod, namespace: ns },
      });
      return 201;
    } catch (e) {
      return (e as { statusCode: number }).statusCode;
    }
  }
}

const PLURALS: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  CustomResourceDefinition: 'customresourcedefinitions',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
};

/** Objects of one file of `manifests/pdb-controller`. */
export function manifest(file: string): Obj[] {
  return loadAllYaml(readFileSync(path.join(MANIFESTS, file), 'utf8')).filter(Boolean) as Obj[];
}

/**
 * RBAC rules granted to the controller by `rbac.yaml` (+ extra files): cluster-wide ones and, per
 * namespace, the Role ones.
 */
export function shippedRules(files: string[] = ['rbac.yaml']): {
  cluster: PolicyRule[];
  namespaced: Record<string, PolicyRule[]>;
} {
  const objs = files.flatMap(manifest);
  const cluster = objs.filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules as PolicyRule[]);
  const namespaced: Record<string, PolicyRule[]> = {};
  for (const r of objs.filter((o) => o.kind === 'Role')) {
    (namespaced[r.metadata.namespace] ??= []).push(...(r.rules as PolicyRule[]));
  }
  return { cluster, namespaced };
}

/** Accesses (of resources; discovery documents are open to every user) that the shipped RBAC does not allow. */
export function deniedAccesses(accesses: AccessRecord[], files?: string[]): AccessRecord[] {
  const { cluster, namespaced } = shippedRules(files);
  return accesses.filter(
    (a) =>
      a.resource !== '' &&
      !rbacAllows(cluster, a) &&
      !(a.namespace !== undefined && rbacAllows(namespaced[a.namespace] ?? [], a)),
  );
}

export interface WorkloadOptions {
  replicas?: number;
  labels?: Record<string, string>;
  /** Pod-template labels; default = `labels` (default `{app: <name>}`). */
  templateLabels?: Record<string, string>;
  /** `spec.selector`; default matchLabels = template labels. */
  selector?: Obj;
  annotations?: Record<string, string>;
  /** Pods never schedule (stay Pending, never ready). */
  unschedulable?: boolean;
}

export function workloadPath(kind: 'Deployment' | 'StatefulSet', ns: string, name: string): string {
  return `/apis/apps/v1/namespaces/${ns}/${kind === 'Deployment' ? 'deployments' : 'statefulsets'}/${name}`;
}

function workload(kind: 'Deployment' | 'StatefulSet', ns: string, name: string, o: WorkloadOptions): Obj {
  const labels = o.labels ?? { app: name };
  const tpl = o.templateLabels ?? labels;
  const spec: Obj = {
    replicas: o.replicas ?? 2,
    selector: o.selector ?? { matchLabels: tpl },
    template: {
      metadata: { labels: tpl },
      spec: {
        containers: [{ name: 'main', image: IMAGE }],
        terminationGracePeriodSeconds: 0,
        ...(o.unschedulable ? { nodeSelector: { 'kubeaws.io/no-such-node': 'true' } } : {}),
      },
    },
  };
  if (kind === 'StatefulSet') {
    spec.serviceName = name;
    spec.podManagementPolicy = 'Parallel';
  }
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: ns, labels, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec,
  };
}

// -- logs, metrics, audit --------------------------------------------------------------------------

export { LogCapture };

/**
 * The test's FakeClock as the Manager's one clock: `now()` moves only when the test moves it, so the
 * decision instants (`kubeaws.io/non-ready-since`, TTL expiry) are exact; every timer fires after its
 * delay in real time, as in production (work-queue backoff, write-visibility rechecks, resyncs, the
 * Rollout discovery), or as soon as the test moves the fake time past its due instant (TTL expiries
 * hours away), whichever comes first. What measures elapsed time on this clock sees none until the test
 * moves it: the work queue's overall retry bucket (burst 100) refills only then, and Events repeated
 * within the series window stay one series.
 */
class HeldClock implements Clock {
  constructor(private readonly fake: FakeClock) {}

  now(): number {
    return this.fake.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = new HeldTimer();
    const fire = () => {
      if (t.done) return;
      this.clearTimeout(t);
      fn();
    };
    t.fake = this.fake.setTimeout(fire, ms);
    t.real = realClock.setTimeout(fire, ms);
    return t;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!(handle instanceof HeldTimer)) return;
    handle.done = true;
    this.fake.clearTimeout(handle.fake);
    realClock.clearTimeout(handle.real);
  }
}

class HeldTimer implements TimerHandle {
  readonly __timer = true as const;
  done = false;
  fake?: TimerHandle;
  real?: TimerHandle;
}

/** What tests read of the running controller's parts. */
export interface TestControllerParts extends PdbControllerParts {
  /** The state last decided for a workload key, if any. */
  stateOf(key: string): WorkloadState | undefined;
  /** The informer of a workload kind, while it runs. */
  informer(kind: WorkloadKind): Informer<KubeObject> | undefined;
}

/** A controller started in-process for a test. */
export interface TestController extends RunningComponent<PdbConfig, PdbControllerParts> {
  controller: TestControllerParts;
  logs: LogCapture;
  clock: FakeClock;
  /** Current value of a metric series (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Waits until the work queue is empty and idle. */
  idle(timeoutMs?: number): Promise<void>;
}

export interface TestControllerOptions {
  settings?: Partial<Settings>;
  shared?: Partial<SharedConfig>;
  /** Decision time; default a FakeClock at the current time (see {@link HeldClock}). */
  clock?: FakeClock;
  /** Lease identity and Events' reportingInstance. */
  identity?: string;
  /** The controller's own Pod, given to the component as `POD_NAME`, `POD_NAMESPACE`, `POD_UID`. */
  pod?: OwnPod;
}

/**
 * Starts the controller in-process with `startComponent` (probes and metrics on free loopback ports,
 * no leader election unless asked, debug logs captured, the test's fake clock as the Manager's clock,
 * no environment but the own Pod's) and waits for its caches to sync.
 */
export async function startTestController(kc: KubeConfig, o: TestControllerOptions = {}): Promise<TestController> {
  const logs = new LogCapture();
  const clock = o.clock ?? new FakeClock(Date.now());
  const env: NodeJS.ProcessEnv = o.pod
    ? { POD_NAME: o.pod.name, POD_NAMESPACE: o.pod.namespace, POD_UID: o.pod.uid ?? '' }
    : {};
  const h = await startComponent(pdbController, {
    kubeConfig: kc,
    env,
    identity: o.identity,
    clock: new HeldClock(clock),
    config: {
      leaderElect: false,
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      logLevel: 'debug',
      ...o.shared,
      resyncPeriodMs: 60_000,
      rolloutsDiscoveryPeriodMs: 1_000,
      ...o.settings,
    },
    logDestination: logs,
    processMetrics: false,
  });
  await h.synced();
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = h.metrics.registry.getSingleMetric(name);
    if (!m) return 0;
    const v = (await m.get()).values.find((x) =>
      Object.entries(labels).every(([k, val]) => String((x.labels as Record<string, unknown>)[k]) === val),
    );
    return v?.value ?? 0;
  };
  const idle = async (timeoutMs = 30_000) => {
    const q = h.handle.controller.queue;
    await waitFor(() => q.len() === 0 && q.processingLen() === 0, {
      timeoutMs,
      intervalMs: 50,
      description: 'work queue idle',
    });
  };
  const stop = async () => {
    await h.stop();
    if (process.env.PDB_TEST_LOG_DIR) {
      const { appendFileSync } = await import('node:fs');
      appendFileSync(
        path.join(process.env.PDB_TEST_LOG_DIR, 'controller.log'),
        logs.lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
      );
    }
  };
  const controller: TestControllerParts = {
    ...h.handle,
    stateOf: (key) => h.handle.metrics.stateOf(key),
    informer: (kind) => h.handle.caches.informer(kind),
  };
  return { ...h, controller, stop, logs, clock, metric, idle };
}

/** Sum of `kubeaws_pdb_controller_pdb_writes_total` over all series. */
export async function totalWrites(c: TestController): Promise<number> {
  const m = c.metrics.registry.getSingleMetric('kubeaws_pdb_controller_pdb_writes_total');
  return m ? (await m.get()).values.reduce((s, v) => s + v.value, 0) : 0;
}

/** A reader of the kube-apiserver audit log from the current end on. */
export class AuditLog {
  private readonly file = process.env[TEST_ENV.auditLog]!;
  private offset = 0;

  /** Skips everything logged so far. */
  mark(): void {
    this.offset = statSync(this.file).size;
  }

  /** Audit events logged since {@link mark}. */
  async since(): Promise<Obj[]> {
    const fh = await open(this.file, 'r');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      return buf
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Obj);
    } finally {
      await fh.close();
    }
  }
}

/** Fetches a probe or metrics URL of a running controller. */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

export { waitFor };
