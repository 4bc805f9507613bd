/**
 * The downscaler controller (spec §3): informers for Namespaces, HPAs (always, read-only unless
 * included) and the included kinds; an evaluation of every cached object each tick and of single
 * objects on informer events, through the pure {@link decide}; a write queue (the runtime's
 * {@link Controller}) that PATCHes only while leading, restores first; Events (at most once per hour per
 * object, reason and message, rate limited, never delaying writes); and the metrics of spec §5.
 */
import {
  type Clock,
  Controller,
  EventRecorder,
  type Informer,
  KubeClient,
  type Logger,
  type Manager,
  type ObjectReference,
  isConflict,
  isInvalid,
  isNotFound,
  realClock,
  ApiError,
} from '@kubeaws/runtime';
import { ANN, AnnotationParser } from './annotations';
import { type Decision, type Notice, decide } from './decide';
import { type DownscalerMetrics, downscalerMetrics } from './metrics';
import { type Resource, type Settings } from './settings';
import { LocalTimeCache } from './tz';
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

/** Options of {@link Downscaler}. */
export interface DownscalerOptions {
  manager: Manager;
  settings: Settings;
  /** Decision time ("now" of schedules, grace, exclude-until, Event dedup); default the real clock. */
  clock?: Clock;
  /** Drives the tick timer; default the real clock. */
  tickClock?: Clock;
  /** Write workers; default 4. */
  workers?: number;
  /** Events per second (and burst) before Events are dropped; default 10 / 100. */
  eventQps?: number;
  eventBurst?: number;
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
  /** Event recorder on a client of its own, so Events never take PATCH tokens. */
  readonly events: EventRecorder;
  readonly eventsClient: KubeClient;
  readonly parser: AnnotationParser;
  private readonly mgr: Manager;
  private readonly clock: Clock;
  private readonly tickClock: Clock;
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
  private tickTimer?: ReturnType<Clock['setTimeout']>;
  private nsPollTimer?: NodeJS.Timeout;
  private nsFirstPoll?: Promise<void>;
  private nsReady = false;
  private running = false;
  private lastTickAt = 0;
  private eventTokens: number;
  private eventRefillAt: number;
  /** Failed writes since start (for `--once`). */
  writeFailures = 0;

  constructor(private readonly opts: DownscalerOptions) {
    this.mgr = opts.manager;
    this.settings = opts.settings;
    this.clock = opts.clock ?? realClock;
    this.tickClock = opts.tickClock ?? realClock;
    this.log = this.mgr.logger;
    this.metrics = downscalerMetrics(this.mgr.metrics);
    this.parser = new AnnotationParser(opts.settings.specDefaults);
    this.eventTokens = opts.eventBurst ?? 100;
    this.eventRefillAt = realClock.now();
    this.eventsClient = new KubeClient({
      kubeConfig: this.mgr.client.kubeConfig,
      component: this.mgr.component,
      metrics: this.mgr.metrics,
      logger: this.log,
      qps: 50,
      burst: 100,
    });
    this.events = new EventRecorder({
      client: this.eventsClient,
      reportingController: 'kubeaws.io/downscaler',
      reportingInstance: this.mgr.identity,
      dryRun: opts.settings.dryRun,
      logger: this.log,
      metrics: this.mgr.metrics,
    });
    this.writer = this.mgr.controller({
      name: 'writes',
      workers: opts.workers ?? 4,
      maxImmediateConflictRetries: 0,
      reconcile: (key) => this.write(key),
    });
    this.setupInformers();
    this.mgr.addHealthzCheck('tick', () => {
      if (!this.running) return true;
      const age = this.tickClock.now() - this.lastTickAt;
      return age < 3 * this.settings.intervalMs ? true : `last evaluation tick ${Math.round(age / 1000)} s ago`;
    });
    this.mgr.onStartedLeading(() => {
      if (!this.running || !this.synced()) return;
      this.log.info('leading: evaluating every object');
      this.evaluateAll();
    });
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
            kind === 'HorizontalPodAutoscaler'
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
      cache: this.ltc,
    });
  }

  /** Starts the tick loop (and, with `--namespace`, the Namespace poll). Informers are started by the manager. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastTickAt = this.tickClock.now();
    this.metrics.buildInfo.set(
      { version: this.opts.version ?? '0.1.0', tzdata: (process.versions as Record<string, string>).tz ?? 'unknown' },
      1,
    );
    if (this.settings.namespaces.length) {
      this.nsFirstPoll = this.pollNamespaces().then(() => {
        this.nsReady = true;
      });
      this.nsPollTimer = setInterval(() => void this.pollNamespaces(), 60_000);
      this.nsPollTimer.unref();
    }
    this.scheduleTick();
    void this.firstEvaluation();
  }

  /** Waits for the caches, then evaluates every object once (without waiting for the first tick). */
  private async firstEvaluation(): Promise<void> {
    await this.waitForSync();
    if (this.running) this.evaluateAll();
  }

  /** Resolves once the required informers synced (and, with `--namespace`, the Namespaces were read once). */
  async waitForSync(): Promise<void> {
    for (const inf of this.allInformers()) {
      if (inf.name.startsWith('scaledobjects')) continue;
      await inf.waitForSync();
    }
    await this.nsFirstPoll;
  }

  /** Stops the tick loop. */
  stop(): void {
    this.running = false;
    this.tickClock.clearTimeout(this.tickTimer);
    if (this.nsPollTimer) clearInterval(this.nsPollTimer);
  }

  private scheduleTick(): void {
    if (!this.running) return;
    this.tickTimer = this.tickClock.setTimeout(() => {
      try {
        if (this.synced()) this.evaluateAll();
        else this.lastTickAt = this.tickClock.now();
      } catch (err) {
        this.log.error({ err }, 'evaluation tick failed');
      }
      this.scheduleTick();
    }, this.settings.intervalMs);
  }

  /** True once every required informer has synced. */
  synced(): boolean {
    if (this.settings.namespaces.length && !this.nsReady) return false;
    return this.allInformers().every((i) => i.hasSynced() || i.name.startsWith('scaledobjects'));
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
    this.lastTickAt = this.tickClock.now();
    const patches: Array<{ key: string; d: Decision; w: Workload }> = [];
    const seen = new Set<string>();
    for (const [kind, infs] of this.kinds) {
      for (const inf of infs) {
        for (const o of inf.cache.list()) {
          const key = workloadKey(kind, o.view.namespace, o.view.name);
          seen.add(key);
          const d = this.evaluate(o.view);
          if (d?.action === 'patch') patches.push({ key, d, w: o.view });
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

  private onObject(w: Workload): void {
    if (!this.running || !this.synced()) return;
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
    if (w.kind === 'HorizontalPodAutoscaler' && w.target) {
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
      this.mayEmit()
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
      w.kind === 'HorizontalPodAutoscaler' &&
      old.target &&
      (old.target.kind !== w.target?.kind || old.target.name !== w.target?.name)
    ) {
      const t = this.targetOf(old);
      if (t) this.onObject(t);
    }
  }

  private onDelete(w: Workload): void {
    const key = workloadKey(w.kind, w.namespace, w.name);
    this.statuses.delete(key);
    this.failedRv.delete(key);
    this.ownWrites.delete(key);
    this.patchedFrom.delete(key);
    this.planned.delete(key);
    if (w.kind === 'HorizontalPodAutoscaler') {
      const t = this.targetOf(w);
      if (t) this.onObject(t);
    }
  }

  private mayEmit(): boolean {
    return this.settings.dryRun || this.mgr.isLeader();
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
      if (this.mayEmit()) this.emit(w, n);
    }
    return d;
  }

  private nsRef(namespace: string): ObjectReference {
    const ns = this.nsInformer?.cache.getByName('', namespace) ?? this.nsPolled.get(namespace);
    return { apiVersion: 'v1', kind: 'Namespace', name: namespace, uid: ns?.metadata.uid };
  }

  /** Emits an Event at most once per hour per (object, reason, message), within the Event rate limit. */
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
    if (!this.takeEventToken()) {
      this.metrics.eventsDropped.inc({ reason: n.reason });
      return;
    }
    this.eventSent.set(k, now);
    if (this.eventSent.size > 200_000) this.eventSent.clear();
    const action = n.reason === 'ScaleDown' ? 'ScaleDown' : n.reason === 'ScaleUp' ? 'ScaleUp' : 'Evaluate';
    this.events.record({
      regarding,
      related: related ? refOf(related) : undefined,
      type: n.type,
      reason: n.reason,
      action,
      note: n.message,
    });
  }

  private takeEventToken(): boolean {
    const qps = this.opts.eventQps ?? 10;
    const burst = this.opts.eventBurst ?? 100;
    const now = realClock.now();
    this.eventTokens = Math.min(burst, this.eventTokens + ((now - this.eventRefillAt) / 1000) * qps);
    this.eventRefillAt = now;
    if (this.eventTokens < 1) return false;
    this.eventTokens -= 1;
    return true;
  }

  /** Queues a planned write (leader only), or logs it once in a dry run. */
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
    if (!this.mgr.isLeader()) return;
    this.writer.enqueue(key);
    this.metrics.pending.set(this.writer.queue.len());
  }

  /** Reconcile of the write queue: decide again from the cache and PATCH (spec §3.5). */
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

  /** Resolves when the write queue is empty and no write is in flight. */
  async drained(signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted && (this.writer.queue.len() > 0 || this.writer.queue.processingLen() > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function actionName(d: Decision): string {
  return d.direction === 'down' ? 'scale-down' : d.direction === 'up' ? 'scale-up' : 'clear';
}

function fmtReplicas(n: number | undefined): number | string | undefined {
  return n === undefined ? undefined : Number.isFinite(n) ? n : 'unpaused';
}
