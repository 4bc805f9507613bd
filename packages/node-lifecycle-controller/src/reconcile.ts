/**
 * The node reconciler: performs the one step {@link nextStep} decides for a Node
 * (docs/node-lifecycle-controller.md#nlc-states) with caches as the only read path. Every state change
 * is one Node merge PATCH carrying `metadata.resourceVersion` (a 409 is retried by the framework on
 * fresh caches); every irreversible call is preceded by a write-ahead PATCH
 * (docs/node-lifecycle-controller.md#nlc-restarts); the only timer is `requeueAfter`.
 */
import {
  ApiError,
  NAMESPACE_INDEX,
  type Informer,
  type KubeClient,
  type Logger,
  type Manager,
  type ReconcileResult,
  awsErrorCode,
  objectReference,
} from '@kubeaws/runtime';
import type { AsgInfo, AwsApi, InstanceInfo } from './aws';
import type { NlcConfig } from './config';
import {
  ALIAS_PENDING_TAINT,
  ALIAS_STATE_LABEL,
  CAPACITY_TYPE_TAG,
  CLM_DRAIN_START,
  DRAIN_START,
  EXCLUDE_LB_LABEL,
  EXCLUDE_LB_VALUE,
  FENCED,
  INTERRUPTION,
  LAST_FORCE,
  type NodeMarkers,
  type NodeState,
  type NodeView,
  OUT_OF_SERVICE_TAINT,
  PENDING_TAINT,
  type PodView,
  REPLACEMENT,
  STATE_LABEL,
  STATES,
  type Taint,
  TERMINATION_REQUESTED,
  awsTerminates,
  classifyEviction,
  formatTime,
  holdsSlot,
  instanceIdOf,
  isInvoluntary,
  newReplacement,
  nextStep,
  nodeBlocked,
  nodeInputProblems,
  podInputProblem,
  type InputProblem,
  parseReplacement,
  parseTime,
  pdbSelects,
  planRound,
  readMarkers,
  replacementStep,
  startOrder,
  STOP_OVERDUE_MS,
  stopOnlyFollowUp,
  terminateRetryDelay,
  terminationFollowUp,
} from './decide';
import type { NlcMetrics } from './metrics';
import type { OwnPod } from './setup';
import { INSTANCE_INDEX } from './sqs';
import { type NodeObject, type PdbObject, type PodObject, nodeView, pdbView, podView } from './views';

/** Index of the pod cache by `spec.nodeName`. */
export const NODE_INDEX = 'node';

/** The caches the reconciler reads. */
export interface NlcCaches {
  nodes: Informer<NodeObject>;
  pods: Informer<PodObject>;
  pdbs: Informer<PdbObject>;
  /** The block ConfigMap (field selector on its name). */
  block: Pick<Informer<{ metadata?: { name?: string } }>, 'cache' | 'hasSynced' | 'lastError'>;
}

/** Memory-only state (docs/node-lifecycle-controller.md#nlc-restarts): losing it costs at most one early retry. */
interface Memory {
  lastEviction: Map<string, number>;
  /** Pods whose Eviction or deadline DELETE was accepted, by uid, until the pod is deleted ({@link RoundInput.accepted}). */
  accepted: Set<string>;
  pdbBlocked: Map<string, number>;
  heartbeats: Map<string, number>;
  paused: Set<string>;
  evented: Map<string, number>;
  /** Nodes whose last terminate call failed: consecutive failures and when to call again (10 s -> 5 min). */
  terminateFailures: Map<string, { failures: number; retryAt: number }>;
  /** PDB-blocked pods of each draining node by first failing gate, from its last round (the `blocked_pods` gauge sums them). */
  blockedPods: Map<string, Map<string, number>>;
  /**
   * Nodes given a voluntary slot by this process, by name, with the resourceVersion they were fenced from: while the
   * informer cache still shows that version, the fence (or replacement write-ahead) is on its way and the node counts
   * as running, so that a reconcile reading the cache between the PATCH and its watch event cannot hand the same
   * slot to a second node. Any newer version in the cache ends the entry (the cache then tells the truth).
   */
  granted: Map<string, string | undefined>;
}

/** Annotations the controller owns on a Node (cleared by an abort). */
const OUR_ANNOTATIONS = [DRAIN_START, LAST_FORCE, INTERRUPTION, TERMINATION_REQUESTED, FENCED, 'kubeaws.io/replacement'];

/** The node reconciler (see the module docs). */
export class NodeReconciler {
  private readonly mem: Memory = {
    lastEviction: new Map(),
    accepted: new Set(),
    pdbBlocked: new Map(),
    heartbeats: new Map(),
    paused: new Set(),
    granted: new Map(),
    evented: new Map(),
    terminateFailures: new Map(),
    blockedPods: new Map(),
  };
  private inflight = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly hookCache = new Map<string, { at: number; hb: number; global: number }>();
  /** The last batched EC2 state check (docs/node-lifecycle-controller.md#nlc-termination): shared by all nodes for one poll. */
  private ec2Batch?: { at: number; ids: Set<string>; result: Promise<Map<string, InstanceInfo>> };

  constructor(
    private readonly o: {
      mgr: Manager;
      cfg: NlcConfig;
      aws: AwsApi;
      caches: NlcCaches;
      metrics: NlcMetrics;
      ownPod?: OwnPod;
      /** Namespace of the block ConfigMap. */
      blockNamespace?: string;
    },
  ) {}

  private get ownPodUid(): string | undefined {
    return this.o.ownPod?.uid;
  }

  private get client(): KubeClient {
    return this.o.mgr.leaderClient;
  }

  /**
   * Whether the cluster block is in effect (docs/node-lifecycle-controller.md#nlc-blocks): the block
   * ConfigMap exists, or it cannot be read (informer not synced or its last list/watch failed, e.g. 403),
   * which fails closed with Warning `UpdateBlockUnreadable` on the controller's Pod.
   */
  clusterBlocked(): boolean {
    const unreadable = this.blockUnreadable();
    if (unreadable !== undefined) {
      this.reportUnreadableBlock(unreadable);
      return true;
    }
    return this.o.caches.block.cache.list().some((c) => c.metadata?.name === this.o.cfg.updateBlockConfigmap);
  }

  /** Why the block ConfigMap cannot be read, or undefined when its informer is synced and healthy. */
  blockUnreadable(): string | undefined {
    const b = this.o.caches.block;
    const err = b.lastError;
    if (err !== undefined) return err instanceof ApiError ? `${err.statusCode} ${err.message}` : String(err);
    return b.hasSynced() ? undefined : 'not listed yet';
  }

  private reportUnreadableBlock(why: string): void {
    if (!this.mark('block-unreadable')) return;
    const object = `configmap/${this.o.blockNamespace ?? ''}/${this.o.cfg.updateBlockConfigmap}`;
    const field = 'update-block-configmap';
    const expected = `readable: get/list/watch on configmaps named ${this.o.cfg.updateBlockConfigmap} in ${this.o.blockNamespace ?? 'the controller namespace'}`;
    this.o.metrics.invalidInput.inc({ source: 'configmap', field });
    this.o.mgr.logger.warn({ object, field, value: why, expected, fallback: 'blocked' }, 'UpdateBlockUnreadable');
    if (this.o.ownPod)
      this.o.mgr.events.warning(
        { apiVersion: 'v1', kind: 'Pod', ...this.o.ownPod },
        'UpdateBlockUnreadable',
        'Validate',
        `${object} (--${field}) cannot be read: ${why}; expected it ${expected}. Voluntary work counts as blocked`,
      );
  }

  /** Forgets memory-only state (on losing leadership). */
  forget(): void {
    for (const m of [this.mem.lastEviction, this.mem.pdbBlocked, this.mem.heartbeats, this.mem.evented, this.mem.terminateFailures, this.mem.blockedPods]) m.clear();
    this.mem.accepted.clear();
    this.mem.paused.clear();
    this.mem.granted.clear();
    this.publishBlockedPods();
  }

  /** Forgets what memory holds of a deleted pod (its uid), so that memory holds only pods that still exist. */
  forgetPod(uid: string): void {
    this.mem.lastEviction.delete(uid);
    this.mem.accepted.delete(uid);
    this.mem.pdbBlocked.delete(uid);
  }

  /** Pods on a node, as decision views. */
  podsOn(node: string): PodView[] {
    return this.o.caches.pods.cache.byIndex(NODE_INDEX, node).map(cachedPodView);
  }

  /** Reconciles one Node by name. */
  async reconcile(name: string, log: Logger): Promise<ReconcileResult | void> {
    const obj = this.o.caches.nodes.cache.get(name);
    if (!obj) return;
    const now = this.o.mgr.clock.now();
    const n = nodeView(obj);
    const m = readMarkers(n, now);
    this.updateGauges();
    const nb = nodeBlocked(n.annotations);
    for (const problem of nodeInputProblems(n, m)) this.reportInvalid(objectReference(obj, 'v1', 'Node'), problem);
    const blocked = this.clusterBlocked() || nb.blocked;
    const step = nextStep(n, m, {
      now,
      blocked,
      // Only a pending request asks for a slot; counting them walks every node, so only then.
      slotFree: m.state === 'decommission-pending' && !blocked ? this.slotFree(obj, n, m) : false,
      terminateInstances: this.o.cfg.terminateInstances,
    });
    const ref = objectReference(obj, 'v1', 'Node');
    const ev = this.o.mgr.events;
    switch (step.kind) {
      case 'none':
        // An unreadable block clears without an informer event: look again every poll interval.
        if (step.reason === 'blocked' && this.blockUnreadable() !== undefined) return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
        return;
      case 'invalid-state':
        return; // reported above (nodeInputProblems)
      case 'wait-slot':
        return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
      case 'abort': {
        await this.patch(obj, this.abortPatch(n, m));
        ev.normal(ref, 'DecommissionAborted', 'Abort', 'Decommission aborted: taint, cordon and markers removed');
        log.info({ node: name }, 'decommission aborted');
        return;
      }
      case 'abort-too-late': {
        const state = m.state as NodeState;
        if (this.mark(`abort-too-late/${name}`)) {
          ev.warning(ref, 'AbortTooLate', 'Abort', `The node is already ${state}; the abort is refused`);
          await this.patch(obj, { metadata: { labels: { [STATE_LABEL]: state } } });
        }
        return;
      }
      case 'accept': {
        const reason = n.taints.find((t) => t.key === PENDING_TAINT)?.value ?? 'requested';
        await this.patch(obj, {
          metadata: { labels: { [STATE_LABEL]: 'decommission-pending' } },
          spec: { taints: this.withPending(n.taints, reason, this.o.cfg.decommissionNoScheduleTaint ? 'NoSchedule' : 'PreferNoSchedule') },
        });
        ev.normal(ref, 'DecommissionRequested', 'Request', `Decommission requested (${reason})`);
        return { requeueAfter: 0 };
      }
      case 'fence': {
        // The slot is this node's from now on, before the cache shows it (Memory.granted).
        this.mem.granted.set(name, obj.metadata?.resourceVersion);
        // An unparsable replacement record (reported above) fences without a replacement.
        if (!m.replacementInvalid && this.o.cfg.nodeReplacementPrepare && !this.o.cfg.dryRun) {
          const waiting = await this.prepareReplacement(obj, n, m, now, log);
          if (waiting) return waiting;
        }
        await this.patch(obj, this.fencePatch(n, m, m.pendingTaint?.value ?? 'requested', 'draining', now));
        ev.normal(ref, 'DrainStarted', 'Fence', 'Node fenced (tainted, cordoned, excluded from load balancers); drain started');
        return { requeueAfter: 0 };
      }
      case 'round':
        return this.round(obj, n, m, step.paused, now, log);
      case 'drained':
        return;
      case 'complete-hook':
        return this.completeHook(obj, n, m, now, log);
      case 'await-aws':
        await this.patch(obj, { metadata: { labels: this.stateLabels(n, 'terminating') } });
        return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
      case 'await-restart':
        return this.awaitRestart(obj, n, m, now, log);
      case 'terminate':
        return this.terminate(obj, n, now, log);
      case 'confirm':
        return this.confirm(obj, n, m, now, log);
      case 'done':
        return this.deleteTerminated(obj, log);
    }
  }

  /**
   * Prepared replacement capacity (docs/node-lifecycle-controller.md#nlc-replacement) before fencing a
   * voluntary node of an ASG tagged `kubeaws.io/capacity-type=on-demand`: write-ahead the
   * `kubeaws.io/replacement` record, `SetDesiredCapacity(targetDesired)` only while the ASG's desired is
   * below it, then fence once the ASG has one more Ready, unmarked node than before, or after
   * `--replacement-timeout`. Returns the requeue while waiting, undefined when the node may be fenced.
   */
  private async prepareReplacement(obj: NodeObject, n: NodeView, m: NodeMarkers, now: number, log: Logger): Promise<ReconcileResult | undefined> {
    const rec = m.replacement;
    if (rec?.skipped) return undefined;
    const iid = instanceIdOf(n.providerID);
    if (!rec && !iid) return undefined;
    const ref = objectReference(obj, 'v1', 'Node');
    const poll = this.o.cfg.sla.pollIntervalMs;
    let asg: AsgInfo | undefined;
    try {
      const asgs = await this.o.aws.describeClusterAsgs(this.o.cfg.clusterName);
      asg = rec ? asgs.find((a) => a.name === rec.asg) : asgs.find((a) => a.instances.some((i) => i.id === iid));
    } catch (err) {
      log.info({ node: n.name, error: String(err) }, 'DescribeAutoScalingGroups failed');
      if (!rec || now < Date.parse(rec.requestedAt) + this.o.cfg.replacementTimeout) return { requeueAfter: poll };
    }
    if (!rec) {
      if (!asg || asg.tags[CAPACITY_TYPE_TAG] !== 'on-demand') return undefined;
      const r = newReplacement(asg, this.readyUnmarked(asg), now);
      // Write-ahead: a restart sees the target and never adds a second instance.
      await this.patch(obj, { metadata: { annotations: { [REPLACEMENT]: JSON.stringify(r) } } });
      log.info({ node: n.name, asg: asg.name, targetDesired: r.targetDesired, skipped: r.skipped }, 'replacement prepared');
      if (r.skipped) {
        this.o.metrics.replacements.inc({ result: 'skipped' });
        this.o.mgr.events.normal(ref, 'ReplacementSkipped', 'Replace', `${asg.name} is at its maximum size ${asg.max}: draining without a replacement`);
      }
      return { requeueAfter: 0 };
    }
    const step = replacementStep(rec, asg?.desired, asg ? this.readyUnmarked(asg) : 0, now, this.o.cfg.replacementTimeout);
    const untilTimeout = Date.parse(rec.requestedAt) + this.o.cfg.replacementTimeout - now;
    switch (step) {
      case 'set-desired':
        await this.o.aws.setDesiredCapacity(rec.asg, rec.targetDesired);
        this.o.mgr.events.normal(ref, 'ReplacementRequested', 'Replace', `${rec.asg}: desired capacity ${asg?.desired} -> ${rec.targetDesired} before draining`);
        return { requeueAfter: Math.max(1000, Math.min(poll, untilTimeout)) };
      case 'wait':
        return { requeueAfter: Math.max(1000, Math.min(poll, untilTimeout)) };
      case 'ready':
        this.o.metrics.replacements.inc({ result: 'ready' });
        return undefined;
      case 'timeout':
        this.o.metrics.replacements.inc({ result: 'timeout' });
        this.o.mgr.events.warning(ref, 'ReplacementTimeout', 'Replace', `No new Ready node in ${rec.asg} within ${Math.round(this.o.cfg.replacementTimeout / 1000)}s: draining anyway`);
        return undefined;
    }
  }

  /** Ready, unmarked (state `ready` or none, no pending taint) Nodes of an ASG's instances. */
  private readyUnmarked(asg: AsgInfo): number {
    let count = 0;
    for (const i of asg.instances) {
      const node = this.o.caches.nodes.cache.byIndex(INSTANCE_INDEX, i.id)[0];
      if (!node) continue;
      const v = nodeView(node);
      const state = v.labels[STATE_LABEL];
      if (v.ready && (state === undefined || state === 'ready') && !v.taints.some((t) => t.key === PENDING_TAINT)) count++;
    }
    return count;
  }

  /** Fences a node for an involuntary workflow or a voluntary start (one PATCH): exported for the SQS consumer. */
  fencePatch(n: NodeView, m: NodeMarkers, reason: string, state: 'draining' | 'fenced', now: number, extraAnnotations: Record<string, string> = {}): object {
    const fenced = new Set(m.fenced);
    const labels: Record<string, string | null> = this.stateLabels(n, state);
    if (n.labels[EXCLUDE_LB_LABEL] === undefined) {
      labels[EXCLUDE_LB_LABEL] = EXCLUDE_LB_VALUE;
      fenced.add('exclude-lb');
    }
    if (!n.unschedulable) fenced.add('cordon');
    const annotations: Record<string, string> = { ...extraAnnotations, [FENCED]: [...fenced].sort().join(',') };
    if (n.annotations[DRAIN_START] === undefined) annotations[DRAIN_START] = n.annotations[CLM_DRAIN_START] && m.drainStart !== undefined ? formatTime(m.drainStart) : formatTime(now);
    return {
      metadata: { labels, annotations },
      spec: { unschedulable: true, taints: this.withPending(n.taints, reason, 'NoSchedule') },
    };
  }

  /** The state label, mirrored into the Zalando alias when that label exists. */
  stateLabels(n: NodeView, state: NodeState): Record<string, string | null> {
    const l: Record<string, string | null> = { [STATE_LABEL]: state };
    if (n.labels[ALIAS_STATE_LABEL] !== undefined && state === 'draining') l[ALIAS_STATE_LABEL] = 'draining';
    return l;
  }

  private withPending(taints: Taint[], reason: string, effect: string): Taint[] {
    return [...taints.filter((t) => t.key !== PENDING_TAINT), { key: PENDING_TAINT, value: reason, effect }];
  }

  private abortPatch(n: NodeView, m: NodeMarkers): object {
    const annotations: Record<string, null> = {};
    for (const k of OUR_ANNOTATIONS) if (n.annotations[k] !== undefined) annotations[k] = null;
    const labels: Record<string, string | null> = { [STATE_LABEL]: 'ready' };
    if (n.labels[ALIAS_STATE_LABEL] !== undefined) labels[ALIAS_STATE_LABEL] = 'ready';
    if (m.fenced.includes('exclude-lb') && n.labels[EXCLUDE_LB_LABEL] === EXCLUDE_LB_VALUE) labels[EXCLUDE_LB_LABEL] = null;
    const spec: Record<string, unknown> = { taints: n.taints.filter((t) => t.key !== PENDING_TAINT && t.key !== ALIAS_PENDING_TAINT) };
    if (m.fenced.includes('cordon')) spec.unschedulable = null;
    return { metadata: { labels, annotations }, spec };
  }

  /** Merge PATCH with `metadata.resourceVersion` (optimistic concurrency: 409 on a stale view). */
  async patch(obj: NodeObject, patch: object): Promise<NodeObject> {
    const p = patch as { metadata?: Record<string, unknown> };
    const body = { ...p, metadata: { ...(p.metadata ?? {}), resourceVersion: obj.metadata?.resourceVersion } };
    return this.client.mergePatch<NodeObject>(`/api/v1/nodes/${obj.metadata!.name}`, body);
  }

  private slotFree(obj: NodeObject, n: NodeView, m: NodeMarkers): boolean {
    if (holdsSlot(m) || this.stillGranted(obj)) return true;
    const now = this.o.mgr.clock.now();
    let running = 0;
    const pending: { name: string; createdAt: number; priority: number }[] = [];
    for (const o of this.o.caches.nodes.cache.list()) {
      const v = nodeView(o);
      const mm = readMarkers(v, now);
      if (holdsSlot(mm) || this.stillGranted(o)) running++;
      else if (mm.state === 'decommission-pending' && mm.pendingTaint && !nodeBlocked(v.annotations).blocked)
        pending.push({ name: v.name, createdAt: v.createdAt, priority: mm.priority });
    }
    for (const g of this.mem.granted.keys()) if (!this.o.caches.nodes.cache.get(g)) this.mem.granted.delete(g);
    const free = this.o.cfg.maxConcurrentDrains - running;
    if (free <= 0) return false;
    return startOrder(pending).slice(0, free).includes(n.name);
  }

  /** Whether this process fenced `obj` from the version the cache still shows (Memory.granted); ends stale entries. */
  private stillGranted(obj: NodeObject): boolean {
    const name = obj.metadata?.name ?? '';
    if (!this.mem.granted.has(name)) return false;
    if (this.mem.granted.get(name) === obj.metadata?.resourceVersion) return true;
    this.mem.granted.delete(name);
    return false;
  }

  private async round(obj: NodeObject, n: NodeView, m: NodeMarkers, paused: boolean, now: number, log: Logger): Promise<ReconcileResult> {
    const ref = objectReference(obj, 'v1', 'Node');
    const cfg = this.o.cfg;
    if (paused !== this.mem.paused.has(n.name)) {
      if (paused) this.mem.paused.add(n.name);
      else this.mem.paused.delete(n.name);
      this.o.mgr.events.normal(ref, paused ? 'DrainPaused' : 'DrainResumed', 'Drain', paused ? 'Voluntary work is blocked' : 'Block lifted');
    }
    if (isInvoluntary(m.interruption) && (this.clusterBlocked() || nodeBlocked(n.annotations).blocked) && this.mark(`block-ignored/${n.name}`))
      this.o.mgr.events.normal(ref, 'BlockIgnored', 'Drain', 'Involuntary workflow: blocks do not apply');
    // Never holds up the round: the SDK's retries of a failing heartbeat can take a minute.
    void this.heartbeat(n, m, now, log);
    const pods = this.o.caches.pods.cache;
    const pdbs = this.o.caches.pdbs.cache;
    const deadline = m.interruption?.deadline ? Date.parse(m.interruption.deadline) : undefined;
    const onNode = this.podsOn(n.name);
    const plan = planRound({
      now,
      sla: cfg.sla,
      podsOnNode: onNode,
      podsInNamespace: (ns) => pods.byIndex(NAMESPACE_INDEX, ns).map(cachedPodView),
      pdbsInNamespace: (ns) => pdbs.byIndex(NAMESPACE_INDEX, ns).map(pdbView),
      pdbBlocked: this.mem.pdbBlocked,
      lastEviction: this.mem.lastEviction,
      accepted: this.mem.accepted,
      drainStart: m.drainStart ?? now,
      lastForce: m.lastForce,
      deadline,
      marginMs: cfg.deadlineMargin,
      headroomMs: cfg.podTerminationHeadroom,
      voluntary: !isInvoluntary(m.interruption),
      ownUid: this.ownPodUid,
      paused,
    });
    for (const p of onNode) {
      const problem = podInputProblem(p, now);
      if (problem) this.reportInvalid(podRef(p), problem, ref);
    }
    const gates = new Map<string, number>();
    for (const b of plan.blocked) gates.set(b.gate, (gates.get(b.gate) ?? 0) + 1);
    this.mem.blockedPods.set(n.name, gates);
    this.publishBlockedPods();
    for (const p of plan.stuck)
      if (this.mark(`stuck/${p.uid}`)) this.o.mgr.events.warning(podRef(p), 'PodStuckTerminating', 'Drain', `Terminating longer than its grace period plus ${cfg.podTerminationHeadroom / 1000}s`, ref);
    if (plan.drained) {
      const started = m.drainStart ?? now;
      await this.patch(obj, { metadata: { labels: { [STATE_LABEL]: 'drained' } } });
      this.o.metrics.drainDuration.observe({ class: isInvoluntary(m.interruption) ? 'involuntary' : 'voluntary', result: 'completed' }, (now - started) / 1000);
      this.o.mgr.events.normal(ref, 'DrainCompleted', 'Drain', `Drained in ${Math.round((now - started) / 1000)}s`);
      return { requeueAfter: 0 };
    }
    for (const d of plan.deadlineDeletes) {
      try {
        await this.client.delete(`/api/v1/namespaces/${d.pod.namespace}/pods/${d.pod.name}`, { preconditions: { uid: d.pod.uid }, gracePeriodSeconds: d.graceSeconds });
        this.mem.accepted.add(d.pod.uid);
        this.o.metrics.forced.inc({ reason: 'deadline' });
        this.o.mgr.events.warning(podRef(d.pod), 'DeadlineTerminated', 'Delete', `Deleted with ${d.graceSeconds}s grace before the node's deadline ${m.interruption?.deadline}`, ref);
      } catch (err) {
        log.info({ pod: `${d.pod.namespace}/${d.pod.name}`, error: String(err) }, 'deadline delete failed');
      }
    }
    await Promise.all(plan.evict.map((p) => this.evict(p, ref, log, now)));
    if (plan.force) {
      const p = plan.force;
      // Write-ahead: the force interval counts from here even if the process dies before the DELETE.
      await this.patch(obj, { metadata: { annotations: { [LAST_FORCE]: formatTime(now) } } });
      try {
        await this.client.delete(`/api/v1/namespaces/${p.namespace}/pods/${p.name}`, { preconditions: { uid: p.uid }, gracePeriodSeconds: p.tgpSeconds });
        this.o.metrics.forced.inc({ reason: 'sla' });
        const note = `Forced by the disruption SLA: drain-start ${formatTime(m.drainStart ?? now)}, pod created ${formatTime(p.createdAt)}`;
        this.o.mgr.events.warning(podRef(p), 'ForceTerminated', 'Delete', note, ref);
        this.o.mgr.events.warning(ref, 'ForceTerminated', 'Delete', `${p.namespace}/${p.name}: ${note}`);
      } catch (err) {
        if (!(err instanceof ApiError && (err.statusCode === 404 || err.statusCode === 409))) throw err;
      }
      return { requeueAfter: Math.min(cfg.sla.pollIntervalMs, cfg.sla.forceEvictIntervalMs) };
    }
    return { requeueAfter: Math.max(1000, plan.nextAt - now) };
  }

  private async evict(p: PodView, nodeRef: ReturnType<typeof objectReference>, log: Logger, now: number): Promise<void> {
    await this.acquire();
    this.mem.lastEviction.set(p.uid, now);
    let status = 201;
    let body: { message?: string; details?: { causes?: { reason?: string; type?: string }[] } } | undefined;
    try {
      await this.client.create(`/api/v1/namespaces/${p.namespace}/pods/${p.name}/eviction`, {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: p.name, namespace: p.namespace },
        deleteOptions: { preconditions: { uid: p.uid } },
      });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status = err.statusCode;
      const st = err.status as { message?: string; details?: { causes?: { reason?: string; type?: string }[] } } | undefined;
      body = { message: st?.message ?? err.message, details: st?.details };
    } finally {
      this.release();
    }
    const result = classifyEviction(status, body);
    this.o.metrics.evictions.inc({ result });
    if (result === 'pdb_blocked' || result === 'multiple_pdbs') {
      this.mem.pdbBlocked.set(p.uid, now);
      if (this.mark(`blocked/${p.uid}`)) {
        if (result === 'multiple_pdbs') {
          // The API server does not name them (docs/node-lifecycle-controller.md#nlc-drain): the PDB cache does.
          const names = this.pdbsSelecting(p);
          this.o.mgr.events.warning(podRef(p), 'MultiplePDBs', 'Evict', `${body?.message ?? 'more than one PodDisruptionBudget'} PodDisruptionBudgets selecting the pod: ${names.join(', ') || '(none cached)'}`, nodeRef);
          log.info({ pod: `${p.namespace}/${p.name}`, podUid: p.uid, pdb: names.join(',') }, 'eviction refused: more than one PodDisruptionBudget');
        } else this.o.mgr.events.warning(podRef(p), 'EvictionBlocked', 'Evict', body?.message ?? 'blocked by a PodDisruptionBudget', nodeRef);
      }
    } else if (result === 'accepted') {
      this.mem.accepted.add(p.uid);
      this.mem.pdbBlocked.delete(p.uid);
      if (!p.controllerKind && this.mark(`unmanaged/${p.uid}`)) this.o.mgr.events.warning(podRef(p), 'EvictingUnmanagedPod', 'Evict', 'No controller recreates this pod', nodeRef);
    }
    log.info({ pod: `${p.namespace}/${p.name}`, podUid: p.uid, result }, 'eviction');
  }

  /** Names of the cached policy/v1 PDBs of the pod's namespace that select it, sorted. */
  private pdbsSelecting(p: PodView): string[] {
    return this.o.caches.pdbs.cache
      .byIndex(NAMESPACE_INDEX, p.namespace)
      .map(pdbView)
      .filter((b) => pdbSelects(b, p))
      .map((b) => b.name)
      .sort();
  }

  private async acquire(): Promise<void> {
    if (this.inflight < this.o.cfg.evictionConcurrency) {
      this.inflight++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
    this.inflight++;
  }

  private release(): void {
    this.inflight--;
    this.waiters.shift()?.();
  }

  private async hookTimeouts(asg: string, hook: string): Promise<{ hb: number; global: number }> {
    const key = `${asg}/${hook}`;
    const now = this.o.mgr.clock.now();
    const c = this.hookCache.get(key);
    if (c && now - c.at < 10 * 60_000) return c;
    try {
      const h = await this.o.aws.describeHook(asg, hook);
      const v = { at: now, hb: (h?.heartbeatTimeout ?? this.o.cfg.lifecycleHookHeartbeatTimeout / 1000) * 1000, global: (h?.globalTimeout ?? 172_800) * 1000 };
      this.hookCache.set(key, v);
      return v;
    } catch {
      return { hb: this.o.cfg.lifecycleHookHeartbeatTimeout, global: 172_800_000 };
    }
  }

  /** holdUntil of an ASG hook (docs/node-lifecycle-controller.md#nlc-hooks): event time + min(GlobalTimeout, --lifecycle-hold-max). */
  async holdUntil(asg: string, hook: string, eventTime: number): Promise<{ holdUntil: number; heartbeatSeconds: number }> {
    const t = await this.hookTimeouts(asg, hook);
    return { holdUntil: eventTime + Math.min(t.global, this.o.cfg.lifecycleHoldMax), heartbeatSeconds: Math.round(t.hb / 1000) };
  }

  private async heartbeat(n: NodeView, m: NodeMarkers, now: number, log: Logger): Promise<void> {
    const lc = m.interruption?.lifecycle;
    const iid = instanceIdOf(n.providerID);
    if (!lc || lc.completedAt || !iid || this.o.cfg.dryRun) return;
    if (now >= Date.parse(lc.holdUntil)) return;
    const every = Math.max(30_000, (lc.heartbeatTimeoutSeconds * 1000) / 2);
    const last = this.mem.heartbeats.get(n.name);
    if (last !== undefined && now < last + every) return;
    this.mem.heartbeats.set(n.name, now);
    try {
      await this.o.aws.recordHeartbeat({ asg: lc.asg, hook: lc.hook, token: lc.token, instanceId: iid });
      this.o.metrics.lifecycle.inc({ action: 'heartbeat', result: 'ok' });
    } catch (err) {
      this.o.metrics.lifecycle.inc({ action: 'heartbeat', result: awsErrorCode(err) });
      log.info({ node: n.name, error: String(err) }, 'lifecycle heartbeat failed');
      if (this.mark(`hb/${n.name}`)) this.o.mgr.events.warning({ apiVersion: 'v1', kind: 'Node', name: n.name }, 'LifecycleHeartbeatFailed', 'Heartbeat', String(err));
    }
  }

  private async completeHook(obj: NodeObject, n: NodeView, m: NodeMarkers, now: number, log: Logger): Promise<ReconcileResult> {
    const lc = m.interruption!.lifecycle!;
    const iid = instanceIdOf(n.providerID);
    let done = !iid;
    if (iid && !this.o.cfg.dryRun) {
      try {
        await this.o.aws.completeLifecycleAction({ asg: lc.asg, hook: lc.hook, token: lc.token, instanceId: iid });
        this.o.metrics.lifecycle.inc({ action: 'complete', result: 'ok' });
        done = true;
      } catch (err) {
        const code = awsErrorCode(err);
        this.o.metrics.lifecycle.inc({ action: 'complete', result: code });
        log.info({ node: n.name, instanceId: iid, error: String(err) }, 'CompleteLifecycleAction failed');
        if (code === 'ValidationError') done = true;
        else if (now < Date.parse(lc.holdUntil)) return { requeueAfter: 10_000 };
        else done = true;
      }
    }
    if (!done) return { requeueAfter: 10_000 };
    const record = { ...m.interruption!, lifecycle: { ...lc, completedAt: formatTime(now) } };
    await this.patch(obj, { metadata: { labels: { [STATE_LABEL]: 'terminating' }, annotations: { [INTERRUPTION]: JSON.stringify(record) } } });
    this.o.mgr.events.normal(objectReference(obj, 'v1', 'Node'), 'LifecycleActionCompleted', 'CompleteLifecycleAction', `CONTINUE for ${lc.asg}/${lc.hook}`);
    return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
  }

  private async terminate(obj: NodeObject, n: NodeView, now: number, log: Logger): Promise<ReconcileResult | void> {
    const ref = objectReference(obj, 'v1', 'Node');
    const iid = instanceIdOf(n.providerID);
    if (!iid) {
      this.reportInvalid(ref, {
        reason: 'NoProviderID',
        field: 'spec.providerID',
        value: n.providerID ?? '',
        expected: 'aws:///<az>/<instance-id>',
        fallback: 'drained, not terminated',
      });
      return;
    }
    // Write-ahead: a restart sees `terminating` and calls again only 5 min later if EC2 still says running.
    const fresh = await this.patch(obj, { metadata: { labels: { [STATE_LABEL]: 'terminating' }, annotations: { [TERMINATION_REQUESTED]: formatTime(now) } } });
    this.o.mgr.events.normal(ref, 'InstanceTerminationRequested', 'Terminate', `Terminating ${iid}`);
    await this.callTerminate(fresh, n, iid, log);
    return { requeueAfter: this.confirmDelay(n.name) };
  }

  /** Next confirmation: every poll interval, earlier when a failed terminate call is due again. */
  private confirmDelay(node: string): number {
    const f = this.mem.terminateFailures.get(node);
    const poll = this.o.cfg.sla.pollIntervalMs;
    return f ? Math.max(1000, Math.min(poll, f.retryAt - this.o.mgr.clock.now())) : poll;
  }

  /**
   * Describes and terminates the instance (docs/node-lifecycle-controller.md#nlc-termination). A failure
   * schedules the next call 10 s later, doubling up to 5 min (memory only: after a restart the
   * termination-requested 5 min rule applies), with Warning `InstanceTerminationFailed`.
   */
  private async callTerminate(obj: NodeObject, n: NodeView, iid: string, log: Logger): Promise<void> {
    if (this.o.cfg.dryRun) return;
    try {
      await this.describeAndTerminate(n, iid);
      this.mem.terminateFailures.delete(n.name);
    } catch (err) {
      const failures = (this.mem.terminateFailures.get(n.name)?.failures ?? 0) + 1;
      const delay = terminateRetryDelay(failures);
      this.mem.terminateFailures.set(n.name, { failures, retryAt: this.o.mgr.clock.now() + delay });
      this.o.metrics.terminations.inc({ api: 'any', result: awsErrorCode(err) });
      log.info({ node: n.name, instanceId: iid, error: String(err), failures, retryInMs: delay }, 'instance termination failed');
      this.o.mgr.events.warning(
        objectReference(obj, 'v1', 'Node'),
        'InstanceTerminationFailed',
        'Terminate',
        `${String(err)} (failure ${failures}; next attempt in ${Math.round(delay / 1000)}s)`,
      );
    }
  }

  private async describeAndTerminate(n: NodeView, iid: string): Promise<void> {
    const info = (await this.o.aws.describeInstances([iid])).get(iid);
    if (!info || info.state === 'terminated' || info.state === 'stopping' || info.state === 'shutting-down') return;
    const asg = info.tags['aws:autoscaling:groupName'];
    if (asg) {
      // Shrink the ASG iff a replacement was prepared (not skipped) or the node asks for it, and desired > min.
      const rep = n.annotations[REPLACEMENT] === undefined ? undefined : parseReplacement(n.annotations[REPLACEMENT]);
      let decrement = (rep !== undefined && !rep.skipped) || n.annotations['kubeaws.io/decrement-desired-capacity'] === 'true';
      if (decrement) {
        const g = (await this.o.aws.describeClusterAsgs(this.o.cfg.clusterName)).find((a) => a.name === asg);
        if (g && g.desired <= g.min) decrement = false;
      }
      await this.o.aws.terminateInAsg(iid, decrement);
      this.o.metrics.terminations.inc({ api: 'autoscaling', result: 'ok' });
    } else {
      await this.o.aws.terminateInstance(iid);
      this.o.metrics.terminations.inc({ api: 'ec2', result: 'ok' });
    }
  }

  private async confirm(obj: NodeObject, n: NodeView, m: NodeMarkers, now: number, log: Logger): Promise<ReconcileResult | void> {
    const iid = instanceIdOf(n.providerID);
    if (!iid) return;
    let info;
    try {
      info = await this.instanceState(iid);
    } catch (err) {
      log.info({ node: n.name, error: String(err) }, 'DescribeInstances failed');
      return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
    }
    const own = !awsTerminates(m.interruption) || m.interruption?.kinds.includes('scheduled-change') === true;
    const next = terminationFollowUp(info?.state, m.terminationRequested, now, own, this.mem.terminateFailures.get(n.name)?.retryAt);
    if (next === 'terminated') {
      this.mem.terminateFailures.delete(n.name);
      return this.markTerminated(obj, n, iid);
    }
    if (next === 'call') {
      const fresh = await this.patch(obj, { metadata: { annotations: { [TERMINATION_REQUESTED]: formatTime(now) } } });
      await this.callTerminate(fresh, n, iid, log);
    }
    return { requeueAfter: this.confirmDelay(n.name) };
  }

  /**
   * A drained node with a stop-only record (docs/node-lifecycle-controller.md#nlc-stop-only) stays fenced;
   * the first sight of `stopping`/`stopped` is recorded, and once EC2 says `running` again (after a stop, or
   * still, well past the deadline: `stopOnlyFollowUp`) and the Node is Ready, one PATCH undoes the fence and
   * clears the record (Normal `InterruptionCleared`).
   */
  private async awaitRestart(obj: NodeObject, n: NodeView, m: NodeMarkers, now: number, log: Logger): Promise<ReconcileResult | void> {
    const iid = instanceIdOf(n.providerID);
    if (!iid) return;
    let info;
    try {
      info = await this.instanceState(iid);
    } catch (err) {
      log.info({ node: n.name, error: String(err) }, 'DescribeInstances failed');
      return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
    }
    const record = m.interruption!;
    switch (stopOnlyFollowUp(info?.state, record, n.ready, now)) {
      case 'terminated':
        return this.markTerminated(obj, n, iid);
      case 'mark-stopped':
        await this.patch(obj, { metadata: { annotations: { [INTERRUPTION]: JSON.stringify({ ...record, stoppedAt: formatTime(now) }) } } });
        log.info({ node: n.name, instanceId: iid, state: info?.state }, 'stop-only interruption: instance stopped');
        break;
      case 'clear':
        await this.patch(obj, this.abortPatch(n, m));
        this.o.mgr.events.normal(objectReference(obj, 'v1', 'Node'), 'InterruptionCleared', 'Clear', record.stoppedAt || record.kinds.includes('state-change')
            ? `${iid} is running again after the stop: fence undone, interruption record cleared`
            : `${iid} is still running ${STOP_OVERDUE_MS / 60_000} min after the stop deadline ${record.deadline}: fence undone, interruption record cleared`);
        log.info({ node: n.name, instanceId: iid }, 'interruption cleared');
        return;
      case 'wait':
        break;
    }
    return { requeueAfter: this.o.cfg.sla.pollIntervalMs };
  }

  private async markTerminated(obj: NodeObject, n: NodeView, iid: string): Promise<void> {
    const taints = this.o.cfg.outOfServiceTaint && !n.taints.some((t) => t.key === OUT_OF_SERVICE_TAINT)
      ? [...n.taints, { key: OUT_OF_SERVICE_TAINT, value: 'nodeshutdown', effect: 'NoExecute' }]
      : n.taints;
    await this.patch(obj, { metadata: { labels: { [STATE_LABEL]: 'terminated' } }, spec: { taints } });
    this.o.mgr.events.normal(objectReference(obj, 'v1', 'Node'), 'InstanceTerminated', 'Terminate', `${iid} is terminated`);
  }

  /**
   * The EC2 state of a `terminating` (or stop-only `drained`) node's instance from one batched
   * `DescribeInstances` per poll interval covering all such nodes: the first node due in a poll asks
   * for all of them, the others reuse the answer (also while it is in flight).
   */
  async instanceState(iid: string): Promise<InstanceInfo | undefined> {
    const now = this.o.mgr.clock.now();
    const b = this.ec2Batch;
    if (b && b.ids.has(iid) && now - b.at < this.o.cfg.sla.pollIntervalMs) return (await b.result).get(iid);
    const ids = new Set<string>([iid]);
    for (const o of this.o.caches.nodes.cache.list()) {
      const v = nodeView(o);
      const m = readMarkers(v, now);
      const waits = m.state === 'terminating' || (m.state === 'drained' && m.interruption?.stopOnly && isInvoluntary(m.interruption));
      const id = waits ? instanceIdOf(v.providerID) : undefined;
      if (id) ids.add(id);
    }
    const batch = { at: now, ids, result: this.o.aws.describeInstances([...ids]) };
    this.ec2Batch = batch;
    try {
      return (await batch.result).get(iid);
    } catch (err) {
      if (this.ec2Batch === batch) this.ec2Batch = undefined;
      throw err;
    }
  }

  /**
   * With --delete-terminated-nodes (clusters without a cloud controller manager), a `terminated` Node is
   * deleted (UID precondition, so a re-registered Node of the same name survives). Otherwise the cloud
   * controller manager deletes it.
   */
  private async deleteTerminated(obj: NodeObject, log: Logger): Promise<void> {
    if (!this.o.cfg.deleteTerminatedNodes) return;
    try {
      await this.client.delete(`/api/v1/nodes/${obj.metadata!.name}`, { preconditions: { uid: obj.metadata?.uid } });
      log.info({ node: obj.metadata?.name }, 'terminated node deleted');
    } catch (err) {
      if (!(err instanceof ApiError && (err.statusCode === 404 || err.statusCode === 409))) throw err;
    }
  }

  /** Once per object/key per --event-repeat-interval (default 1 h). */
  private mark(key: string): boolean {
    const now = this.o.mgr.clock.now();
    const last = this.mem.evented.get(key);
    if (last !== undefined && now < last + this.o.cfg.eventRepeatInterval) return false;
    this.mem.evented.set(key, now);
    return true;
  }

  /**
   * One bad input (docs/node-lifecycle-controller.md#nlc-bad-input): a Warning Event on the object, one log line
   * (`object`, `field`, `value`, `expected`, `fallback`) and `invalid_input_total{source,field}`, at most once
   * per --event-repeat-interval while it persists.
   */
  private reportInvalid(ref: ReturnType<typeof objectReference>, p: InputProblem, related?: ReturnType<typeof objectReference>): void {
    const source = (ref.kind ?? 'node').toLowerCase();
    const object = `${source}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    if (!this.mark(`${p.reason}/${object}/${p.field}/${p.value}`)) return;
    this.o.metrics.invalidInput.inc({ source, field: p.field });
    const note = `${p.field}=${JSON.stringify(p.value)} is not valid (expected ${p.expected}): ${p.fallback}`;
    this.o.mgr.events.warning(ref, p.reason, 'Validate', note, related);
    this.o.mgr.logger.warn({ object, field: p.field, value: p.value, expected: p.expected, fallback: p.fallback }, p.reason);
  }

  /** The gauges of docs/node-lifecycle-controller.md#nlc-metrics, from the node cache: one cheap pass (labels and two annotations). */
  private updateGauges(): void {
    const counts = new Map<string, number>();
    const now = this.o.mgr.clock.now();
    let oldest = 0;
    let nodeBlocks = 0;
    for (const o of this.o.caches.nodes.cache.list()) {
      const labels = (o.metadata?.labels ?? {}) as Record<string, string>;
      const annotations = (o.metadata?.annotations ?? {}) as Record<string, string>;
      if (nodeBlocked(annotations).blocked) nodeBlocks++;
      const raw = labels[STATE_LABEL];
      const s = raw !== undefined && (STATES as readonly string[]).includes(raw) ? raw : 'ready';
      counts.set(s, (counts.get(s) ?? 0) + 1);
      if (s !== 'draining') this.mem.blockedPods.delete(String(o.metadata?.name));
      if (s === 'draining') {
        const started = parseTime(annotations[DRAIN_START] ?? annotations[CLM_DRAIN_START]);
        if (started !== undefined && started <= now) oldest = Math.max(oldest, (now - started) / 1000);
      }
    }
    for (const s of ['ready', 'decommission-pending', 'fenced', 'draining', 'drained', 'terminating', 'terminated'])
      this.o.metrics.nodes.set({ state: s }, counts.get(s) ?? 0);
    this.o.metrics.oldestDrain.set(oldest);
    this.o.metrics.updateBlocked.set({ scope: 'cluster' }, this.clusterBlocked() ? 1 : 0);
    this.o.metrics.updateBlocked.set({ scope: 'node' }, nodeBlocks);
    for (const name of this.mem.blockedPods.keys()) if (!this.o.caches.nodes.cache.get(name)) this.mem.blockedPods.delete(name);
    this.publishBlockedPods();
  }

  /**
   * `blocked_pods{gate}` (docs/node-lifecycle-controller.md#nlc-metrics): the PDB-blocked pods of all draining nodes by
   * first failing SLA gate, summed over the nodes' last rounds.
   */
  private publishBlockedPods(): void {
    const sum = new Map<string, number>();
    for (const gates of this.mem.blockedPods.values()) for (const [g, c] of gates) sum.set(g, (sum.get(g) ?? 0) + c);
    for (const g of ['grace', 'interval', 'pod_lifetime', 'siblings']) this.o.metrics.blockedPods.set({ gate: g }, sum.get(g) ?? 0);
  }
}

/** Decision views of cached pods, memoized per cached object (an informer update replaces the object, so a view never goes stale). */
const podViews = new WeakMap<PodObject, PodView>();

function cachedPodView(p: PodObject): PodView {
  let v = podViews.get(p);
  if (!v) {
    v = podView(p);
    podViews.set(p, v);
  }
  return v;
}

function podRef(p: PodView) {
  return { apiVersion: 'v1', kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid };
}
