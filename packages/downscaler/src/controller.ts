/**
 * The downscaler controller (docs/downscaler.md#ds-evaluation): informers for Namespaces, HPAs (always,
 * read-only unless included) and the included kinds; while this replica leads, an evaluation of every
 * cached object at once and then every `--interval` (the leader-only Runnable `evaluation`; with `--once`
 * the Runnable `once` evaluates once, waits for the writes and ends the component) and of single objects
 * on informer events, through the pure {@link decide}; a write queue (the runtime's {@link Controller})
 * that PATCHes, restores first; Events through the Manager's recorder (at most once per hour per object,
 * reason and message, within the recorder's budget, never delaying writes); and the metrics
 * (docs/downscaler.md#ds-metrics). With `--namespace` the watched Namespaces are read every minute by
 * the Runnable `namespace-poll`, on every replica. Each object's next schedule transition
 * ({@link nextTransition}) is an entry of {@link TransitionTimers} (one clock timer for all objects) that queues it
 * into the controller `transitions` at that instant, whose reconcile evaluates the object then instead of at the next
 * tick (docs/downscaler.md#ds-boundaries). All time is the Manager's one clock.
 */
import {
  type Clock,
  Controller,
  type Informer,
  type Logger,
  type Manager,
  type ObjectReference,
  isConflict,
  isInvalid,
  isNotFound,
  sleep,
  ApiError,
} from '@kubeaws/runtime';
import { ANN, AnnotationParser } from './annotations';
import { type Decision, type Notice, decide } from './decide';
import { type DownscalerMetrics, downscalerMetrics } from './metrics';
import { type Resource, type Settings } from './settings';
import { TransitionTimers } from './timers';
import { nextTransition } from './transitions';
import { LocalTimeCache, runtimeTzdataVersion } from './tz';
import {
  KINDS,
  type Kind,
  type NamespaceView,
  type Projected,
  type Workload,
  collectionPath,
  currentReplicas,
  kindOfResource,
  objectPath,
  projectNamespace,
  projector,
  toWorkload,
} from './workload';
import { PINNED_TZDATA_VERSION, dropUnevaluableZones } from './zones';

/** Options of {@link Downscaler}. */
export interface DownscalerOptions {
  /**
   * The component's Manager: its clock is the decision time ("now" of schedules, grace, exclude-until,
   * Event dedup) and drives the evaluation interval; its recorder writes the Events.
   */
  manager: Manager;
  settings: Settings;
  /** Write workers; default 4. */
  workers?: number;
  /** Component version for `build_info`. */
  version?: string;
}

/** Status of one object after its last evaluation, for the gauges. */
interface Status {
  kind: Kind;
  namespace: string;
  category?: 'excluded' | 'skipped';
  reason: string;
  downscaled: boolean;
  savedCpu: number;
  savedMemory: number;
}

const HOUR = 3_600_000;
/** How often the Runnable `namespace-poll` reads the `--namespace` Namespaces (docs/downscaler.md#ds-flags). */
const NAMESPACE_POLL_MS = 60_000;
const TARGET_INDEX = 'scaleTarget';

/** Queue key of an object: `<Kind>/<namespace>/<name>`. */
export function workloadKey(kind: Kind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function refOf(w: Workload): ObjectReference {
  return { apiVersion: KINDS[w.kind].apiVersion, kind: w.kind, namespace: w.namespace, name: w.name, uid: w.uid };
}

/** The downscaler controller; see the module docs. */
export class Downscaler {
  readonly settings: Settings;
  readonly metrics: DownscalerMetrics;
  /** The write queue and its workers (started by the manager while leading). */
  readonly writer: Controller;
  /**
   * The schedule transitions (docs/downscaler.md#ds-boundaries): {@link timers} queues an object's key here at its
   * next transition; the reconcile evaluates the object (and the HPA or target it affects) and arms its next
   * transition. Runs while leading, like the writer.
   */
  readonly transitions: Controller;
  /** The instant each object's transition is due (ms since the epoch, Manager's clock); one clock timer for all. */
  readonly timers: TransitionTimers;
  readonly parser: AnnotationParser;
  private readonly mgr: Manager;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly kinds = new Map<Kind, Informer<Projected>[]>();
  private readonly hpaInformers: Informer<Projected>[] = [];
  private nsInformer?: Informer<NamespaceView>;
  private readonly nsPolled = new Map<string, NamespaceView>();
  private readonly statuses = new Map<string, Status>();
  private readonly eventSent = new Map<string, number>();
  private readonly seenProblems = new Set<string>();
  private readonly failedRv = new Map<string, string>();
  private readonly ownWrites = new Map<string, string>();
  /** resourceVersion each object had when we last patched it: a cache still at it has not seen our write yet. */
  private readonly patchedFrom = new Map<string, string>();
  private readonly planned = new Map<string, string>();
  private readonly ltc = new LocalTimeCache();
  /** With `--namespace`: resolves after the first read of the watched Namespaces. */
  private readonly nsRead?: Promise<void>;
  /** ScaledObject informers whose 403 was logged. */
  private readonly scaledObjectsForbidden = new Set<string>();
  private resolveNsRead?: () => void;
  /** True while an evaluation Runnable runs (this replica leads, caches synced): evaluate, plan, emit. */
  private evaluating = false;
  private onceDone = false;
  private lastTickAt = 0;
  /** Failed writes since start (for `--once`). */
  writeFailures = 0;

  /**
   * Declares the downscaler on the Manager (component setup; no API call): informers, the write queue,
   * the Runnables `evaluation` (or `once`) and, with `--namespace`, `namespace-poll`, and the `/healthz`
   * check `tick` (docs/downscaler.md#ds-health). Logs allow-listed zones the runtime cannot evaluate and
   * settings shadowed by a more specific scope.
   */
  constructor(opts: DownscalerOptions) {
    this.mgr = opts.manager;
    this.settings = opts.settings;
    this.clock = this.mgr.clock;
    this.log = this.mgr.logger;
    this.metrics = downscalerMetrics(this.mgr.metrics);
    this.parser = new AnnotationParser(opts.settings.specDefaults);
    const dropped = dropUnevaluableZones();
    if (dropped.length) {
      this.log.warn(
        { zones: dropped, pinned: PINNED_TZDATA_VERSION, runtime: runtimeTzdataVersion() },
        `the runtime's tz database cannot evaluate ${dropped.length} allowed zone name(s); they are rejected as unknown`,
      );
    }
    for (const note of opts.settings.shadowed) this.log.info({ reason: 'Shadowed' }, note);
    this.metrics.buildInfo.set({ version: opts.version ?? '0.1.0', tzdata: runtimeTzdataVersion() }, 1);
    this.writer = this.mgr.controller({
      name: 'writes',
      workers: opts.workers ?? 4,
      maxImmediateConflictRetries: 0,
      reconcile: (key) => this.write(key),
    });
    this.transitions = this.mgr.controller({
      name: 'transitions',
      workers: 1,
      reconcile: (key) => this.atTransition(key),
    });
    this.timers = new TransitionTimers(this.clock, (key) => this.transitions.enqueue(key));
    this.setupInformers();
    if (this.settings.namespaces.length) {
      this.nsRead = new Promise((resolve) => (this.resolveNsRead = resolve));
      this.mgr.add({ name: 'namespace-poll', leaderOnly: false, start: (signal) => this.pollNamespacesEvery(signal) });
    }
    if (this.settings.once) {
      this.mgr.add({ name: 'once', start: (signal) => this.runOnce(signal) });
    } else {
      this.mgr.add({ name: 'evaluation', start: (signal) => this.runEvaluation(signal) });
      this.mgr.addHealthzCheck('tick', () => {
        if (!this.evaluating) return true;
        const age = this.clock.now() - this.lastTickAt;
        return age < 3 * this.settings.intervalMs ? true : `last evaluation tick ${Math.round(age / 1000)} s ago`;
      });
    }
  }

  private watched(kind: Kind): boolean {
    return kind === 'HorizontalPodAutoscaler' || this.settings.includeResources.has(KINDS[kind].resource);
  }

  private setupInformers(): void {
    const s = this.settings;
    const scopes = s.namespaces.length ? s.namespaces : [undefined];
    const kinds = new Set<Kind>(['HorizontalPodAutoscaler']);
    for (const r of s.includeResources) kinds.add(kindOfResource(r as Resource));
    for (const kind of kinds) {
      const list: Informer<Projected>[] = [];
      for (const ns of scopes) {
        const inf = this.mgr.informer<Projected>({
          path: collectionPath(kind, ns),
          name: `${KINDS[kind].resource}${ns ? `/${ns}` : ''}`,
          transform: projector(kind, s.deploymentTimeAnnotation) as unknown as (o: Projected) => Projected,
          indexers:
            kind === 'HorizontalPodAutoscaler' || kind === 'ScaledObject'
              ? {
                  [TARGET_INDEX]: (o) =>
                    o.view.target ? [`${o.view.namespace}/${o.view.target.kind}/${o.view.target.name}`] : [],
                }
              : undefined,
          optional: kind === 'ScaledObject',
        });
        inf.addEventHandler({
          onAdd: (o) => this.onObject(o.view),
          onUpdate: (old, o) => this.onObjectUpdate(old.view, o.view),
          onDelete: (o) => this.onDelete(o.view),
        });
        list.push(inf);
        if (kind === 'HorizontalPodAutoscaler') this.hpaInformers.push(inf);
      }
      this.kinds.set(kind, list);
    }
    if (!s.namespaces.length) {
      this.nsInformer = this.mgr.informer<NamespaceView>({
        path: '/api/v1/namespaces',
        transform: projectNamespace as unknown as (o: NamespaceView) => NamespaceView,
      });
      this.nsInformer.addEventHandler({
        onUpdate: (old, ns) => {
          if (JSON.stringify(old.metadata.annotations) !== JSON.stringify(ns.metadata.annotations))
            this.evaluateNamespace(ns.metadata.name);
        },
        onAdd: (ns) => this.evaluateNamespace(ns.metadata.name),
      });
    }
  }

  /** Informers of a kind (one per watched namespace, or one for all). */
  informers(kind: Kind): Informer<Projected>[] {
    return this.kinds.get(kind) ?? [];
  }

  /** Every informer this controller created. */
  allInformers(): Array<Informer<Projected> | Informer<NamespaceView>> {
    return [...[...this.kinds.values()].flat(), ...(this.nsInformer ? [this.nsInformer] : [])];
  }

  /** The cached view of an object, if watched. */
  get(kind: Kind, namespace: string, name: string): Workload | undefined {
    for (const inf of this.informers(kind)) {
      const o = inf.cache.getByName(namespace, name);
      if (o) return o.view;
    }
    return undefined;
  }

  private namespaceAnnotations(ns: string): Record<string, string> | undefined {
    if (this.nsInformer) return this.nsInformer.cache.getByName('', ns)?.metadata.annotations;
    return this.nsPolled.get(ns)?.metadata.annotations;
  }

  private hpasFor = (w: Workload): Workload[] => {
    const out: Workload[] = [];
    for (const inf of this.hpaInformers)
      for (const h of inf.cache.byIndex(TARGET_INDEX, `${w.namespace}/${w.kind}/${w.name}`)) out.push(h.view);
    return out;
  };

  /** ScaledObjects naming `w` in `spec.scaleTargetRef` (docs/downscaler.md#ds-keda). */
  private scaledObjectsFor = (w: Workload): Workload[] =>
    this.informers('ScaledObject').flatMap((inf) =>
      inf.cache.byIndex(TARGET_INDEX, `${w.namespace}/${w.kind}/${w.name}`).map((o) => o.view),
    );

  private targetOf = (h: Workload): Workload | undefined => {
    if (!h.target) return undefined;
    const k = h.target.kind as Kind;
    if (!(k in KINDS) || !this.watched(k)) return undefined;
    return this.get(k, h.namespace, h.target.name);
  };

  /** Runs the pure decision for one object at the current decision time. */
  decideFor(w: Workload): Decision {
    return decide({
      obj: w,
      namespaceAnnotations: this.namespaceAnnotations(w.namespace),
      settings: this.settings,
      parser: this.parser,
      now: this.clock.now(),
      hpasFor: this.hpasFor,
      targetOf: this.targetOf,
      scaledObjectsFor: this.scaledObjectsFor,
      cache: this.ltc,
    });
  }

  /**
   * The leader-only Runnable `evaluation` (docs/downscaler.md#ds-evaluation): started by the Manager
   * with leadership once the required caches synced; waits for the first Namespace read (with
   * `--namespace`), evaluates every object at once, then every `--interval` on the Manager's clock,
   * until leadership ends or the component stops.
   */
  private async runEvaluation(signal: AbortSignal): Promise<void> {
    if (!(await this.startEvaluating(signal))) return;
    this.log.info('leading: evaluating every object');
    this.tick();
    while (await sleep(this.clock, this.settings.intervalMs, signal)) this.tick();
  }

  /**
   * The leader-only Runnable `once` of `--once` (docs/downscaler.md#ds-flags): one evaluation of every
   * object, then it waits until the write queue is idle and ends the component with exit code 0, or 1 if
   * a write failed ({@link Manager.requestExit}); the Manager's shutdown then flushes the Events and
   * releases the Lease. Leadership lost before the writes drained: it runs again with the next term.
   */
  private async runOnce(signal: AbortSignal): Promise<void> {
    if (this.onceDone || !(await this.startEvaluating(signal))) return;
    this.tick();
    if (!(await this.drained(signal))) return;
    this.onceDone = true;
    this.stopEvaluating();
    this.mgr.requestExit(this.writeFailures > 0 ? 1 : 0);
  }

  /** Waits for the first Namespace read (with `--namespace`); then evaluation is on until `signal` aborts. */
  private async startEvaluating(signal: AbortSignal): Promise<boolean> {
    if (this.nsRead) {
      const read = await new Promise<boolean>((resolve) => {
        const onAbort = () => resolve(false);
        signal.addEventListener('abort', onAbort, { once: true });
        void this.nsRead!.then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        });
      });
      if (!read) return false;
    }
    if (!(await this.scaledObjectsKnown(signal))) return false;
    if (signal.aborted) return false;
    this.evaluating = true;
    this.lastTickAt = this.clock.now();
    signal.addEventListener('abort', () => this.stopEvaluating(), { once: true });
    return true;
  }

  /**
   * Resolves true once every ScaledObject informer has either listed (its cache is complete) or been refused with
   * 404 (the CRD is not installed: there are no ScaledObjects) or 403 (not granted: logged as a warning with the
   * missing permission), and false when `signal` aborts first. The ScaledObject informers are optional, so the
   * Manager does not wait for them; without this wait a KEDA target could be decided on before its ScaledObject is
   * cached and be scaled once (docs/downscaler.md#ds-keda). Other list errors (5xx, network) keep the wait going,
   * logged once, as the informer retries with backoff. Checked every 250 ms of real time.
   */
  private async scaledObjectsKnown(signal: AbortSignal): Promise<boolean> {
    let logged = false;
    for (;;) {
      const pending = this.informers('ScaledObject').filter((i) => {
        if (i.hasSynced()) return false;
        const status = i.lastError instanceof ApiError ? i.lastError.statusCode : undefined;
        if (status === 403 && !this.scaledObjectsForbidden.has(i.name)) {
          this.scaledObjectsForbidden.add(i.name);
          this.log.warn(
            { err: i.lastError, informer: i.name },
            'listing ScaledObjects is forbidden: KEDA targets cannot be recognised from their ScaledObjects; grant list and watch on scaledobjects.keda.sh or remove scaledobjects from --include-resources',
          );
        }
        return status !== 404 && status !== 403;
      });
      if (!pending.length) return true;
      if (!logged) {
        logged = true;
        this.log.info(
          { informers: pending.map((i) => i.name), err: pending.find((i) => i.lastError)?.lastError },
          'waiting for the first list of ScaledObjects before evaluating, so that no KEDA target is written',
        );
      }
      if (!(await pending[0]!.waitForSync(signal, 250)) && signal.aborted) return false;
    }
  }

  /**
   * Evaluation off (leadership lost, shutdown, `--once` done): informer events are ignored and the
   * state gauges are removed, so that only the leader reports them (docs/downscaler.md#ds-metrics).
   */
  private stopEvaluating(): void {
    this.evaluating = false;
    this.statuses.clear();
    this.timers.clear();
    for (const g of [
      this.metrics.downscaled,
      this.metrics.excluded,
      this.metrics.skipped,
      this.metrics.savedCpu,
      this.metrics.savedMemory,
    ])
      g.reset();
  }

  /** One evaluation tick; a failure is logged and the loop goes on. */
  private tick(): void {
    try {
      this.evaluateAll();
    } catch (err) {
      this.log.error({ err }, 'evaluation tick failed');
    }
  }

  /**
   * The Runnable `namespace-poll` (every replica, only with `--namespace`): reads each watched
   * Namespace now and every minute on the Manager's clock; a changed annotation re-evaluates its
   * objects (while leading).
   */
  private async pollNamespacesEvery(signal: AbortSignal): Promise<void> {
    do {
      await this.pollNamespaces();
      this.resolveNsRead?.();
    } while (await sleep(this.clock, NAMESPACE_POLL_MS, signal));
  }

  private async pollNamespaces(): Promise<void> {
    for (const ns of this.settings.namespaces) {
      try {
        const o = await this.mgr.client.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`);
        const view = projectNamespace(o);
        const old = this.nsPolled.get(ns);
        this.nsPolled.set(ns, view);
        if (!old || JSON.stringify(old.metadata.annotations) !== JSON.stringify(view.metadata.annotations))
          this.evaluateNamespace(ns);
      } catch (err) {
        this.log.warn({ err, namespace: ns }, 'reading Namespace failed');
      }
    }
  }

  /**
   * One tick: evaluates every cached object, queues the patches (restores first, then by
   * namespace/name), emits due Events and refreshes the gauges.
   */
  evaluateAll(): void {
    const t0 = performance.now();
    const now = this.clock.now();
    this.lastTickAt = now;
    const patches: Array<{ key: string; d: Decision; w: Workload }> = [];
    const seen = new Set<string>();
    for (const [kind, infs] of this.kinds) {
      for (const inf of infs) {
        for (const o of inf.cache.list()) {
          const key = workloadKey(kind, o.view.namespace, o.view.name);
          seen.add(key);
          const d = this.evaluate(o.view);
          if (d?.action === 'patch') patches.push({ key, d, w: o.view });
          // objects whose timer is not pending (first tick while leading, or no transition yet)
          if (!((this.timers.due(key) ?? 0) > now)) this.arm(o.view, key);
        }
      }
    }
    for (const k of this.statuses.keys()) if (!seen.has(k)) this.statuses.delete(k);
    patches.sort((a, b) => {
      const ra = a.d.direction === 'down' ? 1 : 0;
      const rb = b.d.direction === 'down' ? 1 : 0;
      if (ra !== rb) return ra - rb;
      return a.key.slice(a.key.indexOf('/') + 1).localeCompare(b.key.slice(b.key.indexOf('/') + 1));
    });
    for (const p of patches) this.plan(p.key, p.w, p.d);
    this.refreshGauges();
    this.metrics.cycles.inc();
    this.metrics.cycleDuration.observe((performance.now() - t0) / 1000);
  }

  private evaluateNamespace(ns: string): void {
    for (const [, infs] of this.kinds)
      for (const inf of infs) for (const o of inf.cache.byNamespace(ns)) this.onObject(o.view);
  }

  /** An object or its Namespace changed (or appeared): evaluate it and what it affects, and re-arm its timer. */
  private onObject(w: Workload): void {
    if (!this.evaluating) return;
    this.evaluateWithRelated(w);
    this.arm(w, workloadKey(w.kind, w.namespace, w.name));
  }

  /** Evaluates an object and the HPA or target whose decision depends on it; plans the patches. */
  private evaluateWithRelated(w: Workload): void {
    const d = this.evaluate(w);
    if (d?.action === 'patch') this.plan(workloadKey(w.kind, w.namespace, w.name), w, d);
    if (
      (w.kind === 'Deployment' || w.kind === 'StatefulSet') &&
      this.settings.includeResources.has('horizontalpodautoscalers')
    ) {
      for (const h of this.hpasFor(w)) {
        const dh = this.evaluate(h);
        if (dh?.action === 'patch') this.plan(workloadKey(h.kind, h.namespace, h.name), h, dh);
      }
    }
    if ((w.kind === 'HorizontalPodAutoscaler' || w.kind === 'ScaledObject') && w.target) {
      const t = this.targetOf(w);
      if (t) {
        const dt = this.evaluate(t);
        if (dt?.action === 'patch') this.plan(workloadKey(t.kind, t.namespace, t.name), t, dt);
      }
    }
  }

  private onObjectUpdate(old: Workload, w: Workload): void {
    const key = workloadKey(w.kind, w.namespace, w.name);
    if (
      old.annotations[ANN.originalReplicas] !== undefined &&
      w.annotations[ANN.originalReplicas] === undefined &&
      this.ownWrites.get(key) !== w.resourceVersion &&
      currentReplicas(w) <= currentReplicas(old) &&
      this.evaluating
    ) {
      this.emit(w, {
        type: 'Warning',
        reason: 'OriginalReplicasRemoved',
        message: `${ANN.originalReplicas} (${old.annotations[ANN.originalReplicas]}) was removed by another writer while the object is at ${currentReplicas(w)}: it will not be restored automatically; scale it by hand`,
        on: 'object',
      });
    }
    this.onObject(w);
    if (
      (w.kind === 'HorizontalPodAutoscaler' || w.kind === 'ScaledObject') &&
      old.target &&
      (old.target.kind !== w.target?.kind || old.target.name !== w.target?.name)
    ) {
      const t = this.targetOf(old);
      if (t) this.onObject(t);
    }
  }

  private onDelete(w: Workload): void {
    const key = workloadKey(w.kind, w.namespace, w.name);
    this.timers.delete(key);
    this.statuses.delete(key);
    this.failedRv.delete(key);
    this.ownWrites.delete(key);
    this.patchedFrom.delete(key);
    this.planned.delete(key);
    if (w.kind === 'HorizontalPodAutoscaler' || w.kind === 'ScaledObject') {
      const t = this.targetOf(w);
      if (t) this.onObject(t);
    }
  }

  /**
   * The object's next schedule transition ({@link nextTransition}) on the Manager's clock, or undefined when none is
   * within the look-ahead or it cannot be computed (logged; the ticks still evaluate the object).
   */
  private nextTransitionOf(w: Workload): number | undefined {
    try {
      return nextTransition({
        obj: w,
        namespaceAnnotations: this.namespaceAnnotations(w.namespace),
        settings: this.settings,
        parser: this.parser,
        now: this.clock.now(),
      });
    } catch (err) {
      this.log.error({ err, kind: w.kind, namespace: w.namespace, name: w.name }, 'next transition failed');
      return undefined;
    }
  }

  /**
   * Arms the object's transition timer (docs/downscaler.md#ds-boundaries) unless one is already due at or before its
   * next transition (that one re-arms when it fires). Not with `--once`.
   */
  private arm(w: Workload, key: string): void {
    if (this.settings.once) return;
    const next = this.nextTransitionOf(w);
    if (next === undefined) return;
    const now = this.clock.now();
    const armed = this.timers.due(key);
    if (armed !== undefined && armed > now && armed <= next) return;
    this.timers.set(key, next);
  }

  /**
   * Reconcile of `transitions`: the object's transition is due. Evaluates it (and the HPA or target it affects) as an
   * informer event would, and arms its next transition.
   */
  private atTransition(key: string): void {
    if (!this.evaluating) return;
    const [kind, namespace, name] = key.split('/') as [Kind, string, string];
    const w = this.get(kind, namespace, name);
    if (!w) return;
    this.log.debug({ kind, namespace, name }, 'schedule transition: evaluating');
    this.evaluateWithRelated(w);
    const next = this.nextTransitionOf(w);
    if (next === undefined) return;
    this.timers.set(key, next);
  }

  /** Evaluates one object: records its status, counts new problems, emits due notices. */
  private evaluate(w: Workload): Decision | undefined {
    const key = workloadKey(w.kind, w.namespace, w.name);
    let d: Decision;
    try {
      d = this.decideFor(w);
    } catch (err) {
      this.log.error({ err, kind: w.kind, namespace: w.namespace, name: w.name }, 'decision failed');
      return undefined;
    }
    let savedCpu = 0;
    let savedMemory = 0;
    if (d.downscaled && w.podRequests && (w.kind === 'Deployment' || w.kind === 'StatefulSet')) {
      const orig = Number(w.annotations[ANN.originalReplicas]);
      const diff = Math.max(0, orig - currentReplicas(w));
      savedCpu = diff * w.podRequests.cpu;
      savedMemory = diff * w.podRequests.memory;
    }
    this.statuses.set(key, {
      kind: w.kind,
      namespace: w.namespace,
      category: d.category,
      reason: d.reason,
      downscaled: d.downscaled,
      savedCpu,
      savedMemory,
    });
    for (const n of d.notices) {
      if (n.problem) {
        const subject = n.on === 'namespace' ? `Namespace/${w.namespace}` : key;
        const pk = `${subject}|${n.problem.key}|${n.problem.value}`;
        if (!this.seenProblems.has(pk)) {
          this.seenProblems.add(pk);
          this.metrics.invalid.inc({ kind: n.on === 'namespace' ? 'Namespace' : w.kind, reason: n.problem.reason });
          this.log.warn(
            {
              kind: n.on === 'namespace' ? 'Namespace' : w.kind,
              namespace: w.namespace,
              name: n.on === 'namespace' ? w.namespace : w.name,
              uid: n.on === 'namespace' ? undefined : w.uid,
              annotation: n.problem.key,
              value: n.problem.value,
              item: n.problem.item,
              token: n.problem.token,
              code: n.problem.code,
              reason: n.problem.reason,
            },
            n.message,
          );
        }
      }
      if (this.evaluating) this.emit(w, n);
    }
    return d;
  }

  private nsRef(namespace: string): ObjectReference {
    const ns = this.nsInformer?.cache.getByName('', namespace) ?? this.nsPolled.get(namespace);
    return { apiVersion: 'v1', kind: 'Namespace', name: namespace, uid: ns?.metadata.uid };
  }

  /**
   * Emits an Event at most once per hour of the Manager's clock per (object, reason, message)
   * (docs/downscaler.md#ds-events). The Manager's recorder may drop it (its budget, its per-object spam
   * filter): then it counts in `events_dropped_total{reason}` and is not remembered as sent, so a later
   * evaluation tries again.
   */
  private emit(w: Workload, n: Notice, related?: Workload): void {
    let regarding: ObjectReference;
    if (n.on === 'namespace') regarding = this.nsRef(w.namespace);
    else if (n.on === 'target') {
      const t = this.targetOf(w);
      if (!t) return;
      regarding = refOf(t);
      related = w;
    } else regarding = refOf(w);
    const k = `${regarding.kind}/${regarding.namespace ?? ''}/${regarding.name}|${regarding.uid ?? ''}|${n.reason}|${n.message}`;
    const now = this.clock.now();
    const last = this.eventSent.get(k);
    if (last !== undefined && now - last < HOUR && now >= last) return;
    const action = n.reason === 'ScaleDown' ? 'ScaleDown' : n.reason === 'ScaleUp' ? 'ScaleUp' : 'Evaluate';
    const accepted = this.mgr.events.record({
      regarding,
      related: related ? refOf(related) : undefined,
      type: n.type,
      reason: n.reason,
      action,
      note: n.message,
    });
    if (!accepted) {
      this.metrics.eventsDropped.inc({ reason: n.reason });
      return;
    }
    this.eventSent.set(k, now);
    if (this.eventSent.size > 200_000) this.eventSent.clear();
  }

  /** Queues a planned write (evaluation runs only while leading), or logs it once in a dry run. */
  private plan(key: string, w: Workload, d: Decision): void {
    if (this.failedRv.get(key) === w.resourceVersion || this.patchedFrom.get(key) === w.resourceVersion) return;
    if (this.settings.dryRun) {
      const sig = `${w.resourceVersion}|${d.direction}`;
      if (this.planned.get(key) === sig) return;
      this.planned.set(key, sig);
      this.metrics.potential.inc({ kind: w.kind, direction: d.direction! });
      this.log.info(
        {
          action: `would-${actionName(d)}`,
          kind: w.kind,
          namespace: w.namespace,
          name: w.name,
          uid: w.uid,
          resourceVersion: w.resourceVersion,
          from: fmtReplicas(d.from),
          to: fmtReplicas(d.to),
          mode: d.mode,
          scope: d.scope,
          reason: d.reason,
          patch: d.patch,
        },
        `dry run: would ${actionName(d)} ${w.kind} ${w.namespace}/${w.name}: ${d.why}`,
      );
      return;
    }
    this.writer.enqueue(key);
    this.metrics.pending.set(this.writer.queue.len());
  }

  /** Reconcile of the write queue: decide again from the cache and PATCH (docs/downscaler.md#ds-writes). */
  private async write(key: string): Promise<void> {
    const [kind, namespace, name] = key.split('/') as [Kind, string, string];
    let w = this.get(kind, namespace, name);
    try {
      if (!w || this.patchedFrom.get(key) === w.resourceVersion) return; // the watch event of our write re-evaluates
      let d = this.decideFor(w);
      for (let attempt = 0; ; attempt++) {
        if (d.action !== 'patch' || this.failedRv.get(key) === w.resourceVersion) return;
        const body = { ...d.patch, metadata: { ...d.patch!.metadata, resourceVersion: w.resourceVersion } };
        try {
          const res = await this.mgr.leaderClient.mergePatch<{ metadata?: { resourceVersion?: string } }>(
            objectPath(kind, namespace, name),
            body,
            { fieldManager: this.settings.fieldManager },
          );
          this.ownWrites.set(key, res.metadata?.resourceVersion ?? '');
          this.patchedFrom.set(key, w.resourceVersion);
          this.failedRv.delete(key);
          this.metrics.scaled.inc({ kind, direction: d.direction! });
          if (d.overwritesOriginal) this.metrics.overwritten.inc({ kind });
          this.log.info(
            {
              action: actionName(d),
              kind,
              namespace,
              name,
              uid: w.uid,
              resourceVersion: res.metadata?.resourceVersion,
              from: fmtReplicas(d.from),
              to: fmtReplicas(d.to),
              mode: d.mode,
              scope: d.scope,
              reason: d.reason,
            },
            `${actionName(d)} ${kind} ${namespace}/${name}: ${d.why}`,
          );
          for (const n of d.onWrite) this.emit(w, n);
          return;
        } catch (err) {
          if (isNotFound(err)) return;
          const code = err instanceof ApiError ? String(err.statusCode) : 'error';
          if (isConflict(err)) {
            if (attempt >= this.settings.maxRetriesOnConflict) {
              this.metrics.writeErrors.inc({ kind, code });
              throw err;
            }
            const fresh = await this.mgr.client.get(objectPath(kind, namespace, name));
            w = toWorkload(kind, fresh, this.settings.deploymentTimeAnnotation);
            d = this.decideFor(w);
            continue;
          }
          this.metrics.writeErrors.inc({ kind, code });
          this.writeFailures++;
          if (isInvalid(err)) {
            this.failedRv.set(key, w.resourceVersion);
            this.log.warn(
              { err, kind, namespace, name, uid: w.uid, action: 'skip', reason: 'ScaleFailed' },
              'PATCH rejected; not retried until the object changes',
            );
            this.emit(w, {
              type: 'Warning',
              reason: 'ScaleFailed',
              message: `PATCH rejected: ${(err as Error).message}`,
              on: 'object',
            });
            return;
          }
          throw err;
        }
      }
    } finally {
      this.metrics.pending.set(this.writer.queue.len());
    }
  }

  /** Refreshes the gauges from the last evaluation of every object. */
  refreshGauges(): void {
    const m = this.metrics;
    m.downscaled.reset();
    m.excluded.reset();
    m.skipped.reset();
    m.savedCpu.reset();
    m.savedMemory.reset();
    const down = new Map<string, number>();
    const exc = new Map<string, number>();
    const skip = new Map<string, number>();
    const cpu = new Map<string, number>();
    const mem = new Map<string, number>();
    const add = (map: Map<string, number>, k: string, v = 1) => map.set(k, (map.get(k) ?? 0) + v);
    for (const s of this.statuses.values()) {
      if (s.downscaled) add(down, s.kind);
      if (s.category === 'excluded') add(exc, `${s.kind}\u0000${s.reason}`);
      if (s.category === 'skipped') add(skip, `${s.kind}\u0000${s.reason}`);
      if (s.savedCpu || s.savedMemory) {
        add(cpu, `${s.namespace}\u0000${s.kind}`, s.savedCpu);
        add(mem, `${s.namespace}\u0000${s.kind}`, s.savedMemory);
      }
    }
    for (const k of this.kinds.keys()) m.downscaled.set({ kind: k }, down.get(k) ?? 0);
    for (const [k, v] of exc) {
      const [kind, reason] = k.split('\u0000');
      m.excluded.set({ kind, reason }, v);
    }
    for (const [k, v] of skip) {
      const [kind, reason] = k.split('\u0000');
      m.skipped.set({ kind, reason }, v);
    }
    for (const [k, v] of cpu) {
      const [namespace, kind] = k.split('\u0000');
      m.savedCpu.set({ namespace, kind }, v);
      m.savedMemory.set({ namespace, kind }, mem.get(k) ?? 0);
    }
    m.pending.set(this.writer.queue.len());
  }

  /**
   * Resolves true once the write queue is idle: nothing queued, no write in flight (a write waiting for
   * its backoff retry does not count); false when `signal` aborted first.
   */
  drained(signal?: AbortSignal): Promise<boolean> {
    return this.writer.queue.waitIdle(signal);
  }
}

function actionName(d: Decision): string {
  return d.direction === 'down' ? 'scale-down' : d.direction === 'up' ? 'scale-up' : 'clear';
}

function fmtReplicas(n: number | undefined): number | string | undefined {
  return n === undefined ? undefined : Number.isFinite(n) ? n : 'unpaused';
}
