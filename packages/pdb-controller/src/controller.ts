/**
 * The running pdb-controller: informers for Deployments, StatefulSets, PodDisruptionBudgets (and Argo
 * Rollouts with `--enable-rollouts`), event handlers that enqueue `<Kind>/<namespace>/<name>` keys
 * (spec §3.6), and a reconcile that reads the caches, calls {@link decide}, performs the writes through
 * the leader-only client, emits Events, and keeps the metrics and logs of spec §5.
 */
import type { V1Deployment, V1PodDisruptionBudget, V1StatefulSet } from '@kubernetes/client-node';
import {
  type Clock,
  type Controller,
  type Informer,
  type KubeClient,
  type KubeObject,
  type Logger,
  type Manager,
  type ObjectReference,
  type ReconcileResult,
  type TimerHandle,
  ApiError,
  NotLeaderError,
  isConflict,
  isForbidden,
  isInvalid,
  isNamespaceTerminating,
  isNotFound,
  realClock,
  resourcePath,
} from '@kubeaws/runtime';
import type { Settings } from './config';
import {
  type Action,
  type ControllerEvent,
  type Decision,
  type InvalidInput,
  type WorkloadState,
  REASON,
  decide,
  findOrphans,
} from './decide';
import { canonical } from './desired';
import { PdbMetrics, type WriteOperation } from './metrics';
import {
  ANN_DEFAULT_PDB,
  ANN_LEGACY_NON_READY_TTL,
  ANN_NON_READY_TTL,
  LABEL_WORKLOAD_KIND,
  controllerRef,
  isManaged,
  isTerminating,
  isUserOwned,
  pdbOwners,
} from './ownership';
import { overlaps } from './selectors';
import { trimPdb, trimWorkload } from './transform';
import { pdbEventTargets } from './triggers';
import {
  API_VERSION,
  type Rollout,
  WORKLOAD_KINDS,
  type Workload,
  type WorkloadKind,
  fromDeployment,
  fromRollout,
  fromStatefulSet,
  supportedKind,
  workloadKey,
} from './workload';

/** Collection paths of the watched resources (all namespaces). */
export const WATCH_PATHS = {
  Deployment: '/apis/apps/v1/deployments',
  StatefulSet: '/apis/apps/v1/statefulsets',
  Rollout: '/apis/argoproj.io/v1alpha1/rollouts',
  PodDisruptionBudget: '/apis/policy/v1/poddisruptionbudgets',
} as const;

/** Discovery document of the Argo Rollouts API group version. */
const ROLLOUTS_DISCOVERY_PATH = '/apis/argoproj.io/v1alpha1';
/** Work-queue key kind of an orphan check of one PDB (`PodDisruptionBudget/<ns>/<name>`). */
const PDB_KIND = 'PodDisruptionBudget';
/** Default interval of the Rollout API discovery retry (spec §3.6.4). */
export const ROLLOUTS_RETRY_MS = 5 * 60_000;
/** How long a reconcile waits for the PDB cache to reflect the controller's own last write. */
const EXPECTATION_TIMEOUT_MS = 30_000;
/** Re-check of an apparent orphan while the owner cache may still be behind the PDB. */
const ORPHAN_RECHECK_MS = 5_000;
const INFORMER_NAMES: Record<WorkloadKind, string> = {
  Deployment: 'deployments.apps',
  StatefulSet: 'statefulsets.apps',
  Rollout: 'rollouts.argoproj.io',
};

/** The controller's own Pod (downward API `POD_NAME`, `POD_NAMESPACE`, `POD_UID`): subject of Events about itself. */
export interface OwnPod {
  name: string;
  namespace: string;
  uid?: string;
}

/** Options of {@link PdbController}. */
export interface PdbControllerOptions {
  /** The runtime manager: client, informers, leader election, Events, metrics, logger. */
  manager: Manager;
  settings: Settings;
  /**
   * Time source of the decisions (`now` of {@link decide}, `kubeaws.io/non-ready-since`) and of the
   * TTL timers. Default: the real clock. Informers, the work queue, leader election and Events keep
   * the manager's clock.
   */
  clock?: Clock;
  /** The controller's own Pod, for `RolloutsUnavailable` Events; without it the condition is only logged. */
  pod?: OwnPod;
  /** Interval of the Rollout API discovery retry; default 5 min. */
  rolloutsRetryMs?: number;
  /** Concurrent reconcile workers; default 4. */
  workers?: number;
}

/** Per-workload memory that outlives one reconcile (reset when the workload's UID changes). */
interface KeyMemory {
  uid: string;
  /** Signatures of the condition Events last observed (spec §4: emit on first observation only). */
  conditions: Set<string>;
  /** Signatures of the bad inputs last observed (log line and metric on first observation). */
  inputs: Set<string>;
  /** The managed PDB was deleted by the non-ready TTL and the workload has not been fully ready since. */
  ttlExpired: boolean;
  /** Message of the last `PDBRejected` Event, until a reconcile succeeds. */
  rejected?: string;
}

/** A write of this controller that the PDB cache must reflect before the key is decided again. */
interface Expectation {
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  deleted: boolean;
  deadline: number;
}

/** Who a write is for, as logged (spec §5 log fields). */
interface WriteContext {
  key: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  state?: WorkloadState;
  regarding: ObjectReference;
}

/**
 * A cached PodDisruptionBudget. The runtime's `KubeObject` has an index signature on `metadata` that
 * the client-node model classes lack, so the model type is intersected with it.
 */
type CachedPdb = V1PodDisruptionBudget & KubeObject;

/** Splits a work-queue key `<Kind>/<namespace>/<name>`. */
export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const i = key.indexOf('/');
  const j = key.indexOf('/', i + 1);
  return { kind: key.slice(0, i), namespace: key.slice(i + 1, j), name: key.slice(j + 1) };
}

/** `a >= b` for resourceVersions: numerically when both are decimal (etcd revisions), else equality. */
export function resourceVersionAtLeast(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) return BigInt(a) >= BigInt(b);
  return a === b;
}

function pdbPath(namespace: string, name?: string): string {
  return resourcePath({ group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', namespace, name });
}

function workloadRef(w: Pick<Workload, 'kind' | 'namespace' | 'name' | 'uid'>): ObjectReference {
  return { apiVersion: API_VERSION[w.kind], kind: w.kind, namespace: w.namespace, name: w.name, uid: w.uid };
}

function pdbRef(p: V1PodDisruptionBudget): ObjectReference {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    namespace: p.metadata?.namespace,
    name: p.metadata?.name,
    uid: p.metadata?.uid,
  };
}

function eventSignature(ev: ControllerEvent): string {
  return JSON.stringify([ev.type, ev.reason, ev.note, ev.related?.kind, ev.related?.name]);
}

function syncFailed(p: V1PodDisruptionBudget): boolean {
  return p.status?.conditions?.some((c) => c.type === 'DisruptionAllowed' && c.reason === 'SyncFailed') ?? false;
}

const ACTION_VERB: Record<Action['type'], string> = {
  create: 'Create',
  apply: 'Update',
  patch: 'Update',
  delete: 'Delete',
};

/**
 * The pdb-controller wired onto a runtime {@link Manager}. Construct it before `manager.start()`, then
 * call {@link PdbController.start} once the manager runs.
 */
export class PdbController {
  readonly metrics: PdbMetrics;
  readonly controller: Controller;
  private readonly manager: Manager;
  private readonly settings: Settings;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly writer: KubeClient;
  private readonly pod?: OwnPod;
  private readonly rolloutsRetryMs: number;
  private readonly pdbs: Informer<CachedPdb>;
  private readonly workloads = new Map<WorkloadKind, Informer<KubeObject>>();
  private readonly normalized = new WeakMap<object, Workload>();
  private readonly memory = new Map<string, KeyMemory>();
  private readonly expectations = new Map<string, Expectation[]>();
  private readonly ttlTimers = new Map<string, TimerHandle>();
  private rolloutsTimer?: NodeJS.Timeout;
  private rolloutsProblem?: string;
  private rolloutsReported?: string;
  private stopped = false;

  constructor(opts: PdbControllerOptions) {
    this.manager = opts.manager;
    this.settings = opts.settings;
    this.clock = opts.clock ?? realClock;
    this.pod = opts.pod;
    this.rolloutsRetryMs = opts.rolloutsRetryMs ?? ROLLOUTS_RETRY_MS;
    this.log = opts.manager.logger;
    this.writer = opts.manager.leaderClient;
    this.metrics = new PdbMetrics(opts.manager.metrics);

    this.pdbs = opts.manager.informer<CachedPdb>({
      path: WATCH_PATHS.PodDisruptionBudget,
      name: 'poddisruptionbudgets.policy',
      transform: trimPdb,
      resyncPeriodMs: opts.settings.resyncPeriodMs,
    });
    this.pdbs.addEventHandler({
      onAdd: (p) => this.onPdb(undefined, p),
      onUpdate: (old, cur) => this.onPdb(old, cur),
      onDelete: (p) => this.onPdb(p, undefined),
    });
    for (const kind of ['Deployment', 'StatefulSet'] as const) this.addWorkloadInformer(kind, false);

    this.controller = opts.manager.controller({
      name: 'pdb-controller',
      workers: opts.workers ?? 4,
      reconcile: (key) => this.reconcile(key),
    });
    opts.manager.onStartedLeading(() => this.reportRolloutsProblem());
    opts.manager.onStoppedLeading(() => this.forgetObservations());
    opts.manager.onShutdown(() => this.stop());
  }

  /** Starts the Rollout API discovery when `--enable-rollouts` is set. Call after `manager.start()`. */
  start(): void {
    if (this.settings.enableRollouts) void this.checkRollouts();
  }

  /** Stops timers (TTL timers on an injected clock, the Rollout discovery retry). Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.rolloutsTimer) clearTimeout(this.rolloutsTimer);
    for (const t of this.ttlTimers.values()) this.clock.clearTimeout(t);
    this.ttlTimers.clear();
  }

  /** The informer of a workload kind, while it runs (Rollouts only when enabled and available). */
  informer(kind: WorkloadKind): Informer<KubeObject> | undefined {
    return this.workloads.get(kind);
  }

  /** The PodDisruptionBudget informer. */
  get pdbInformer(): Informer<CachedPdb> {
    return this.pdbs;
  }

  /** The state (spec §3.1) last decided for a workload key, if any. */
  stateOf(key: string): WorkloadState | undefined {
    return this.metrics.stateOf(key);
  }

  // ---------------------------------------------------------------------------------------------
  // Informers and event handlers (spec §3.6)

  private addWorkloadInformer(kind: WorkloadKind, optional: boolean): Informer<KubeObject> {
    const inf = this.manager.informer<KubeObject>({
      path: WATCH_PATHS[kind],
      name: INFORMER_NAMES[kind],
      transform: trimWorkload,
      resyncPeriodMs: this.settings.resyncPeriodMs,
      optional,
    });
    this.workloads.set(kind, inf);
    inf.addEventHandler({
      onAdd: (o, initial) => {
        this.enqueueWorkload(kind, o);
        if (!initial) this.enqueueOverlapping(kind, o);
      },
      onUpdate: (old, cur) => {
        this.enqueueWorkload(kind, cur);
        if (old !== cur && this.selectionChanged(kind, old, cur)) {
          this.enqueueOverlapping(kind, old);
          this.enqueueOverlapping(kind, cur);
        }
      },
      onDelete: (o) => {
        this.enqueueWorkload(kind, o);
        this.enqueueOverlapping(kind, o);
      },
    });
    return inf;
  }

  private toWorkload(kind: WorkloadKind, obj: KubeObject): Workload {
    let w = this.normalized.get(obj);
    if (!w) {
      w =
        kind === 'Deployment'
          ? fromDeployment(obj as V1Deployment)
          : kind === 'StatefulSet'
            ? fromStatefulSet(obj as V1StatefulSet)
            : fromRollout(obj as Rollout);
      this.normalized.set(obj, w);
    }
    return w;
  }

  private enqueueWorkload(kind: WorkloadKind, obj: KubeObject): void {
    this.controller.enqueue(
      workloadKey({ kind, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' }),
    );
  }

  /** Whether a workload change can change another workload's overlap state (spec §3.1 a–f inputs). */
  private selectionChanged(kind: WorkloadKind, old: KubeObject, cur: KubeObject): boolean {
    const view = (o: KubeObject) => {
      const w = this.toWorkload(kind, o);
      return canonical([w.selector, w.templateLabels, w.replicas, w.annotations[ANN_DEFAULT_PDB], w.deleting]);
    };
    return view(old) !== view(cur);
  }

  /** Enqueues the other workloads of the namespace whose selectors overlap this one's (spec §3.2.4). */
  private enqueueOverlapping(kind: WorkloadKind, obj: KubeObject): void {
    const w = this.toWorkload(kind, obj);
    for (const [k, inf] of this.workloads) {
      for (const o of inf.cache.byNamespace(w.namespace)) {
        const other = this.toWorkload(k, o);
        if (overlaps(w, other)) this.controller.enqueue(workloadKey(other));
      }
    }
  }

  private enqueueNamespace(namespace: string): void {
    for (const [kind, inf] of this.workloads) {
      for (const o of inf.cache.byNamespace(namespace)) this.enqueueWorkload(kind, o);
    }
  }

  private onPdb(old: V1PodDisruptionBudget | undefined, cur: V1PodDisruptionBudget | undefined): void {
    const p = (cur ?? old)!;
    const pdbKey = `${PDB_KIND}/${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    if (old && cur && old === cur) {
      // periodic resync: re-check managed and legacy PDBs for orphans (no API call)
      if (!isUserOwned(cur)) this.controller.enqueue(pdbKey);
      return;
    }
    this.trackPdb(p.metadata?.namespace ?? '', p.metadata?.name ?? '', cur);
    const targets = pdbEventTargets(old, cur);
    for (const key of targets.keys) {
      if (this.workloads.has(parseKey(key).kind as WorkloadKind)) this.controller.enqueue(key);
    }
    for (const ns of targets.namespaces) this.enqueueNamespace(ns);
    if (cur && !isUserOwned(cur)) {
      const ownersChanged =
        !old ||
        isUserOwned(old) ||
        canonical(old.metadata?.ownerReferences) !== canonical(cur.metadata?.ownerReferences);
      if (ownersChanged) this.controller.enqueue(pdbKey);
    }
  }

  private trackPdb(namespace: string, name: string, p: V1PodDisruptionBudget | undefined): void {
    let kind: WorkloadKind | 'unknown' | undefined;
    if (p && isManaged(p)) {
      const ref = controllerRef(p);
      kind =
        (ref && supportedKind(ref.apiVersion, ref.kind)) ??
        WORKLOAD_KINDS.find((k) => k === p.metadata?.labels?.[LABEL_WORKLOAD_KIND]) ??
        'unknown';
    }
    this.metrics.trackPdb(`${namespace}/${name}`, kind, p ? syncFailed(p) : false);
  }

  // ---------------------------------------------------------------------------------------------
  // Reconcile

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    const { kind, namespace, name } = parseKey(key);
    if (kind === PDB_KIND) return this.reconcileOrphan(key, namespace, name);
    const inf = this.workloads.get(kind as WorkloadKind);
    if (!inf) return; // kind not (or no longer) watched
    const obj = inf.cache.getByName(namespace, name);
    if (!obj) {
      this.forget(key);
      // its PDBs go to the garbage collector; check them for orphans as well
      for (const p of this.pdbs.cache.byNamespace(namespace)) {
        if (pdbOwners(p).some((o) => o.kind === kind && o.name === name)) {
          this.controller.enqueue(`${PDB_KIND}/${namespace}/${p.metadata?.name}`);
        }
      }
      return;
    }
    if (this.awaitingOwnWrites(key)) return { requeueAfter: 1000 };

    const t0 = performance.now();
    const w = this.toWorkload(kind as WorkloadKind, obj);
    const others: Workload[] = [];
    for (const [k, i] of this.workloads)
      for (const o of i.cache.byNamespace(namespace)) others.push(this.toWorkload(k, o));
    const d = decide({
      workload: w,
      pdbs: this.pdbs.cache.byNamespace(namespace),
      others,
      settings: this.settings,
      now: this.clock.now(),
    });

    const mem = this.memoryFor(key, w.uid);
    let state = d.state;
    if (state === 'not_ready' && d.managedPdb === undefined && mem.ttlExpired) state = 'ttl_expired';
    else if (state !== 'ttl_expired') mem.ttlExpired = false;
    this.metrics.setState(key, w.kind, state);

    const ctx: WriteContext = {
      key,
      kind: w.kind,
      namespace,
      name,
      uid: w.uid,
      state,
      regarding: workloadRef(w),
    };
    this.observeConditions(ctx, d, mem, w);

    for (const action of d.actions) {
      const r = await this.perform(ctx, action, mem);
      if (r) return r;
    }
    mem.rejected = undefined;
    if (d.actions.length === 0) {
      this.log.debug(
        {
          key,
          kind: w.kind,
          namespace,
          name,
          uid: w.uid,
          pdb: d.managedPdb,
          state,
          action: 'none',
          durationMs: ms(t0),
        },
        'reconciled; nothing to change',
      );
    }
    if (d.requeueAfterMs !== undefined && d.requeueAfterMs > 0) {
      this.armTtlTimer(key, d.requeueAfterMs);
      return { requeueAfter: d.requeueAfterMs };
    }
    this.clearTtlTimer(key);
  }

  /** Orphan check of one managed or legacy PDB (spec §3.5.6, §3.5.7). */
  private async reconcileOrphan(key: string, namespace: string, name: string): Promise<ReconcileResult | void> {
    const p = this.pdbs.cache.getByName(namespace, name);
    if (!p || isTerminating(p) || isUserOwned(p)) return;
    if (this.awaitingOwnWrites(key)) return { requeueAfter: 1000 };
    const live: Partial<Record<WorkloadKind, Set<string>>> = {};
    let cacheBehind = false;
    for (const o of pdbOwners(p)) {
      const inf = this.workloads.get(o.kind);
      if (!inf?.hasSynced()) continue;
      if (inf.cache.getByName(namespace, o.name)?.metadata?.uid === o.uid) (live[o.kind] ??= new Set()).add(o.uid);
      // The owner may have been created after the cache's last event: only trust its absence once the
      // owner cache has seen the PDB's resourceVersion.
      else if (!resourceVersionAtLeast(inf.resourceVersion, p.metadata?.resourceVersion)) cacheBehind = true;
    }
    const synced = new Set([...this.workloads].filter(([, i]) => i.hasSynced()).map(([k]) => k));
    const [del] = findOrphans([p], live, synced);
    if (!del) return;
    if (cacheBehind) return { requeueAfter: ORPHAN_RECHECK_MS };
    const owner = pdbOwners(p)[0];
    const ctx: WriteContext = {
      key,
      kind: owner?.kind ?? p.metadata?.labels?.[LABEL_WORKLOAD_KIND] ?? '',
      namespace,
      name: owner?.name ?? '',
      uid: owner?.uid,
      regarding: pdbRef(p),
    };
    return this.perform(ctx, del, undefined);
  }

  private memoryFor(key: string, uid: string): KeyMemory {
    let m = this.memory.get(key);
    if (!m || m.uid !== uid) {
      m = { uid, conditions: new Set(), inputs: new Set(), ttlExpired: false };
      this.memory.set(key, m);
    }
    return m;
  }

  /** The workload is gone: drop its memory, timers and gauge series. */
  private forget(key: string): void {
    this.memory.delete(key);
    this.expectations.delete(key);
    this.clearTtlTimer(key);
    this.metrics.removeState(key);
  }

  /** After a leadership change, condition Events are emitted again once (like after a restart). */
  private forgetObservations(): void {
    for (const m of this.memory.values()) {
      m.conditions.clear();
      m.inputs.clear();
      m.rejected = undefined;
    }
    this.expectations.clear();
    this.rolloutsReported = undefined;
  }

  /**
   * Condition Events (spec §4) and bad-input log lines and metrics, each on first observation only:
   * a condition that persists across reconciles and resyncs is reported once, and again once it
   * cleared and came back, or after a restart.
   */
  private observeConditions(ctx: WriteContext, d: Decision, mem: KeyMemory, w: Workload): void {
    const seen = new Set<string>();
    for (const ev of d.events) {
      const sig = eventSignature(ev);
      seen.add(sig);
      if (!mem.conditions.has(sig)) this.emit(ctx, ev, 'Reconcile');
    }
    mem.conditions = seen;

    const inputs: InvalidInput[] = [...d.invalidInputs];
    for (const ev of d.events) {
      if (ev.reason === REASON.nameConflict) {
        inputs.push({
          field: 'metadata.name',
          value: ev.related?.name ?? '',
          expected: 'a PodDisruptionBudget name not taken by a PodDisruptionBudget that pdb-controller does not manage',
          fallback: 'no managed PodDisruptionBudget',
        });
      } else if (ev.reason === REASON.conflictingAnnotations) {
        inputs.push({
          field: ANN_LEGACY_NON_READY_TTL,
          value: w.annotations[ANN_LEGACY_NON_READY_TTL] ?? '',
          expected: `absent, or the same duration as ${ANN_NON_READY_TTL}`,
          fallback: `${w.annotations[ANN_NON_READY_TTL]} from ${ANN_NON_READY_TTL}`,
        });
      } else if (ev.reason === REASON.overlapping) {
        inputs.push({
          field: 'spec.selector',
          value: canonical(w.selector),
          expected: `a selector that does not overlap ${ev.related?.kind} ${ev.related?.namespace}/${ev.related?.name}`,
          fallback: 'no managed PodDisruptionBudget for either workload',
        });
      }
    }
    const seenInputs = new Set<string>();
    for (const i of inputs) {
      const sig = JSON.stringify([i.field, i.value, i.expected]);
      seenInputs.add(sig);
      if (mem.inputs.has(sig)) continue;
      this.badInput(ctx, i);
    }
    mem.inputs = seenInputs;
  }

  private badInput(ctx: Pick<WriteContext, 'kind' | 'namespace' | 'name'>, i: InvalidInput): void {
    this.metrics.invalidInput.inc({ field: i.field });
    this.log.warn(
      {
        kind: ctx.kind,
        namespace: ctx.namespace,
        name: ctx.name,
        field: i.field,
        value: i.value,
        expected: i.expected,
        fallback: i.fallback,
      },
      'invalid input',
    );
  }

  private emit(ctx: WriteContext, ev: ControllerEvent, action: string): void {
    this.manager.events.record({
      regarding: ev.regarding ?? ctx.regarding,
      related: ev.related,
      type: ev.type,
      reason: ev.reason,
      action,
      note: ev.note,
    });
  }

  /**
   * Performs one write (spec §3.5). Returns a result that ends the reconcile (requeue after a
   * 404/409, nothing after 403 NamespaceTerminating), or undefined to go on. Other failures throw,
   * so the runtime backs off (422: after a `PDBRejected` Event).
   */
  private async perform(
    ctx: WriteContext,
    a: Action,
    mem: KeyMemory | undefined,
  ): Promise<ReconcileResult | undefined> {
    const operation: WriteOperation = a.type;
    const namespace = a.type === 'delete' ? a.namespace : ctx.namespace;
    const fields = {
      key: ctx.key,
      kind: ctx.kind,
      namespace: ctx.namespace,
      name: ctx.name,
      uid: ctx.uid,
      pdb: a.name,
      state: ctx.state,
      action: operation,
      reason: actionReason(a),
      fields: a.type === 'apply' || a.type === 'patch' ? a.changedFields : undefined,
    };
    if (this.settings.dryRun) {
      this.log.info({ ...fields, dryRun: true }, `dry run: would ${operation} PodDisruptionBudget`);
      return undefined;
    }
    const t0 = performance.now();
    let written: KubeObject | undefined;
    try {
      const fm = { fieldManager: this.settings.fieldManager };
      switch (a.type) {
        case 'create':
          written = await this.writer.create<KubeObject>(pdbPath(namespace), a.pdb, fm);
          break;
        case 'apply':
          written = await this.writer.apply<KubeObject>(pdbPath(namespace, a.name), a.body, { ...fm, force: true });
          break;
        case 'patch':
          written = await this.writer.mergePatch<KubeObject>(pdbPath(namespace, a.name), a.patch, fm);
          break;
        case 'delete':
          await this.writer.delete(pdbPath(namespace, a.name), {
            preconditions: { uid: a.uid, resourceVersion: a.resourceVersion },
          });
          break;
      }
    } catch (err) {
      return this.writeFailed(ctx, a, mem, err, { ...fields, durationMs: ms(t0) });
    }
    this.metrics.writes.inc({ operation, result: 'success' });
    this.log.info({ ...fields, durationMs: ms(t0) }, writeMessage(a));
    this.expect(ctx.key, {
      namespace,
      name: a.name,
      uid: a.type === 'delete' ? a.uid : written?.metadata?.uid,
      resourceVersion: written?.metadata?.resourceVersion,
      deleted: a.type === 'delete',
      deadline: this.manager.clock.now() + EXPECTATION_TIMEOUT_MS,
    });
    if (a.type === 'delete' && ctx.state === 'ttl_expired') {
      this.metrics.ttlExpirations.inc({ kind: ctx.kind });
      if (mem) mem.ttlExpired = true;
    }
    const verb = a.type === 'patch' && a.purpose === 'adopt' ? 'Adopt' : ACTION_VERB[a.type];
    for (const ev of a.events) this.emit(ctx, ev, verb);
    return undefined;
  }

  private writeFailed(
    ctx: WriteContext,
    a: Action,
    mem: KeyMemory | undefined,
    err: unknown,
    fields: Record<string, unknown>,
  ): ReconcileResult {
    const operation: WriteOperation = a.type;
    if (err instanceof NotLeaderError) throw err; // the runtime keeps the key for the next term
    const error = (err as Error)?.message ?? String(err);
    if (isNotFound(err) || isConflict(err)) {
      // stale cache or a concurrent change: decide again once the caches caught up (spec §3.5.2, §3.5.4)
      this.metrics.writes.inc({ operation, result: 'conflict' });
      this.log.info({ ...fields, error }, `${operation} of PodDisruptionBudget conflicted; requeued`);
      return { requeue: true };
    }
    this.metrics.writes.inc({ operation, result: 'error' });
    if (isNamespaceTerminating(err)) {
      // nothing can be written until the namespace is gone (spec §3.5.8)
      this.log.info({ ...fields, error }, `${operation} of PodDisruptionBudget refused: namespace is terminating`);
      return {};
    }
    this.log.error({ ...fields, error }, `${operation} of PodDisruptionBudget failed`);
    if (isInvalid(err) && mem) {
      const apiErr = err as ApiError;
      if (mem.rejected !== apiErr.message) {
        mem.rejected = apiErr.message;
        this.emit(
          ctx,
          {
            type: 'Warning',
            reason: 'PDBRejected',
            note: `The API server rejected PodDisruptionBudget ${a.name} (${operation}): ${apiErr.message}`,
          },
          ACTION_VERB[a.type],
        );
        const cause = apiErr.status?.details?.causes?.[0];
        this.badInput(ctx, {
          field: cause?.field ?? 'PodDisruptionBudget',
          value: a.name,
          expected: 'a PodDisruptionBudget the API server accepts',
          fallback: 'no change; retried with backoff',
        });
      }
    }
    throw err;
  }

  /** Remembers a write so the next reconcile of `key` waits until the PDB cache reflects it. */
  private expect(key: string, e: Expectation): void {
    const list = this.expectations.get(key) ?? [];
    list.push(e);
    this.expectations.set(key, list);
  }

  /** True while a write of this controller for `key` is not yet visible in the PDB cache. */
  private awaitingOwnWrites(key: string): boolean {
    const list = this.expectations.get(key);
    if (!list) return false;
    const now = this.manager.clock.now();
    const pending = list.filter((e) => {
      if (now >= e.deadline) return false;
      const p = this.pdbs.cache.getByName(e.namespace, e.name);
      if (e.deleted) return p !== undefined && p.metadata?.uid === e.uid;
      return !(
        p &&
        p.metadata?.uid === e.uid &&
        resourceVersionAtLeast(p.metadata?.resourceVersion, e.resourceVersion)
      );
    });
    if (pending.length) {
      this.expectations.set(key, pending);
      return true;
    }
    this.expectations.delete(key);
    return false;
  }

  /** A TTL timer on an injected clock (the runtime's `addAfter` runs on the manager's clock). */
  private armTtlTimer(key: string, delayMs: number): void {
    if (this.clock === this.manager.clock || this.stopped) return;
    this.clearTtlTimer(key);
    this.ttlTimers.set(
      key,
      this.clock.setTimeout(() => {
        this.ttlTimers.delete(key);
        this.controller.enqueue(key);
      }, delayMs),
    );
  }

  private clearTtlTimer(key: string): void {
    const t = this.ttlTimers.get(key);
    if (t) this.clock.clearTimeout(t);
    this.ttlTimers.delete(key);
  }

  // ---------------------------------------------------------------------------------------------
  // Argo Rollouts (spec §3.6.4)

  private async checkRollouts(): Promise<void> {
    if (this.stopped) return;
    try {
      const problem = await this.probeRollouts();
      if (problem === undefined) {
        this.rolloutsProblem = undefined;
        this.rolloutsReported = undefined;
        if (!this.workloads.has('Rollout')) this.startRolloutInformer();
      } else {
        await this.stopRolloutInformer();
        this.setRolloutsProblem(problem);
      }
    } catch (err) {
      this.log.warn({ err }, 'Rollout API discovery failed; retrying');
    } finally {
      if (!this.stopped) {
        this.rolloutsTimer = setTimeout(() => void this.checkRollouts(), this.rolloutsRetryMs);
        this.rolloutsTimer.unref();
      }
    }
  }

  /** Undefined when Rollouts can be watched, else why not (CRD missing or access forbidden). */
  private async probeRollouts(): Promise<string | undefined> {
    const client = this.manager.client;
    try {
      const doc = await client.get<{ resources?: Array<{ name?: string }> }>(ROLLOUTS_DISCOVERY_PATH);
      if (!doc.resources?.some((r) => r.name === 'rollouts')) {
        return 'argoproj.io/v1alpha1 does not serve rollouts (CRD rollouts.argoproj.io not installed)';
      }
    } catch (err) {
      if (isNotFound(err)) return 'the API argoproj.io/v1alpha1 is not served (CRD rollouts.argoproj.io not installed)';
      if (isForbidden(err)) return `discovery of argoproj.io/v1alpha1 is forbidden: ${(err as Error).message}`;
      throw err;
    }
    if (this.workloads.has('Rollout')) return undefined;
    try {
      await client.list(WATCH_PATHS.Rollout, { limit: 1 });
    } catch (err) {
      if (isForbidden(err)) return `listing rollouts.argoproj.io is forbidden: ${(err as Error).message}`;
      if (isNotFound(err)) return 'rollouts.argoproj.io is not served (CRD not installed)';
      throw err;
    }
    return undefined;
  }

  private startRolloutInformer(): void {
    const inf = this.addWorkloadInformer('Rollout', true);
    this.metrics.rolloutsEnabled.set(1);
    this.log.info({ resource: INFORMER_NAMES.Rollout }, 'Rollout informer started');
    void inf.waitForSync().then((synced) => {
      if (!synced || this.workloads.get('Rollout') !== inf) return;
      // Rollout-owned PDBs can be judged for orphans only now (spec §3.5.7)
      for (const p of this.pdbs.cache.list()) {
        if (
          !isUserOwned(p) &&
          (pdbOwners(p).some((o) => o.kind === 'Rollout') || p.metadata?.labels?.[LABEL_WORKLOAD_KIND] === 'Rollout')
        ) {
          this.controller.enqueue(`${PDB_KIND}/${p.metadata?.namespace}/${p.metadata?.name}`);
        }
      }
    });
  }

  private async stopRolloutInformer(): Promise<void> {
    const inf = this.workloads.get('Rollout');
    if (!inf) return;
    this.workloads.delete('Rollout');
    this.metrics.rolloutsEnabled.set(0);
    for (const key of [...this.memory.keys()]) if (key.startsWith('Rollout/')) this.forget(key);
    for (const [key] of this.metrics.allStates()) if (key.startsWith('Rollout/')) this.metrics.removeState(key);
    await this.manager.removeInformer(inf);
    this.log.warn({ resource: INFORMER_NAMES.Rollout }, 'Rollout informer stopped');
  }

  private setRolloutsProblem(problem: string): void {
    if (this.rolloutsProblem === problem) return;
    this.rolloutsProblem = problem;
    this.badInput(
      { kind: 'Pod', namespace: this.pod?.namespace ?? '', name: this.pod?.name ?? '' },
      {
        field: 'enable-rollouts',
        value: 'true',
        expected: 'argoproj.io/v1alpha1 rollouts served (CRD installed) and readable (list, watch)',
        fallback: `Rollouts skipped; retrying every ${Math.round(this.rolloutsRetryMs / 1000)}s`,
      },
    );
    this.reportRolloutsProblem();
  }

  /** `RolloutsUnavailable` Warning on the controller's own Pod, by the leader, once per condition. */
  private reportRolloutsProblem(): void {
    const problem = this.rolloutsProblem;
    if (!problem || problem === this.rolloutsReported || !this.manager.isLeader()) return;
    this.rolloutsReported = problem;
    if (!this.pod) {
      this.log.warn(
        { reason: problem },
        'Rollouts unavailable (no own Pod known for the Event: POD_NAME/POD_NAMESPACE unset)',
      );
      return;
    }
    this.manager.events.record({
      regarding: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: this.pod.namespace,
        name: this.pod.name,
        uid: this.pod.uid,
      },
      type: 'Warning',
      reason: 'RolloutsUnavailable',
      action: 'Discover',
      note: `Argo Rollouts are not managed: ${problem}. Deployments and StatefulSets are unaffected; retrying every ${Math.round(this.rolloutsRetryMs / 1000)}s`,
    });
  }
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

function actionReason(a: Action): string {
  switch (a.type) {
    case 'create':
      return 'workload fully ready without a PodDisruptionBudget';
    case 'apply':
      return 'managed fields differ from the desired PodDisruptionBudget';
    case 'patch':
      return a.purpose === 'adopt'
        ? 'legacy pdb-controller PodDisruptionBudget adopted'
        : 'fields to remove that apply cannot remove';
    case 'delete':
      return a.reason;
  }
}

function writeMessage(a: Action): string {
  switch (a.type) {
    case 'create':
      return 'created PodDisruptionBudget';
    case 'apply':
      return 'updated PodDisruptionBudget';
    case 'patch':
      return a.purpose === 'adopt' ? 'adopted PodDisruptionBudget' : 'repaired PodDisruptionBudget';
    case 'delete':
      return 'deleted PodDisruptionBudget';
  }
}
