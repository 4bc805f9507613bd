/**
 * Every decision of the node-lifecycle-controller as a pure function of plain inputs (trimmed objects
 * from the caches, settings, `now` in epoch milliseconds). Nothing here reads a clock, a cache or the
 * network; `reconcile.ts` and `sqs.ts` connect the caches and the AWS clients to these functions.
 * Rules: docs/node-lifecycle-controller.md (anchors cited per function).
 */
import { type LabelSelector, matchesLabels, tryParseDuration } from '@kubeaws/runtime';

// ---------------------------------------------------------------------------------------------------
// Keys (docs/node-lifecycle-controller.md#nlc-markers)

/** Our state label on a Node. */
export const STATE_LABEL = 'kubeaws.io/lifecycle-state';
/** Our pending taint; value = reason. */
export const PENDING_TAINT = 'kubeaws.io/decommission-pending';
export const PRIORITY_LABEL = 'kubeaws.io/decommission-priority';
export const DO_NOT_DISRUPT = 'kubeaws.io/do-not-disrupt';
export const DRAIN_START = 'kubeaws.io/drain-start';
export const LAST_FORCE = 'kubeaws.io/last-force-termination';
export const INTERRUPTION = 'kubeaws.io/interruption';
export const TERMINATION_REQUESTED = 'kubeaws.io/termination-requested';
export const REPLACEMENT = 'kubeaws.io/replacement';
export const DECREMENT_DESIRED = 'kubeaws.io/decrement-desired-capacity';
/** ASG tag that makes its nodes eligible for prepared replacement capacity. */
export const CAPACITY_TYPE_TAG = 'kubeaws.io/capacity-type';
export const FENCED = 'kubeaws.io/fenced';
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const EXCLUDE_LB_VALUE = 'kubeaws-node-lifecycle';
export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';
/** Zalando aliases (read-only except `lifecycle-status`, which we mirror when present). */
export const ALIAS_STATE_LABEL = 'lifecycle-status';
export const ALIAS_PENDING_TAINT = 'decommission-pending';
export const CLM_DRAIN_START = 'cluster-lifecycle-manager.zalando.org/drain-start';
export const CLM_LAST_FORCE = 'cluster-lifecycle-manager.zalando.org/last-forced-drain';
export const CLC_PRIORITY = 'cluster-lifecycle-controller.zalan.do/decommission-priority';
export const KARPENTER_DO_NOT_DISRUPT = 'karpenter.sh/do-not-disrupt';
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** Node lifecycle states (docs/node-lifecycle-controller.md#nlc-states). */
export const STATES = [
  'ready',
  'decommission-pending',
  'fenced',
  'draining',
  'drained',
  'terminating',
  'terminated',
] as const;
export type NodeState = (typeof STATES)[number];

/** Taint reasons = workflow triggers (docs/node-lifecycle-controller.md#nlc-states). */
export type Reason =
  | 'requested'
  | 'rolling-update'
  | 'rebalance-recommendation'
  | 'scheduled-change'
  | 'spot-interruption'
  | 'asg-termination'
  | 'instance-stopping'
  | 'instance-terminated';

// ---------------------------------------------------------------------------------------------------
// SLA (docs/node-lifecycle-controller.md#nlc-sla)

/** The SLA timings in milliseconds (docs/node-lifecycle-controller.md#nlc-sla). */
export interface SlaSettings {
  /** G1: drain start -> forced termination allowed. */
  gracePeriodMs: number;
  /** G3: minimum age of a pod before it may be forced. */
  minPodLifetimeMs: number;
  /** G4: minimum age of Ready PDB siblings. */
  minHealthySiblingLifetimeMs: number;
  /** G4: minimum age of not-Ready PDB siblings. */
  minUnhealthySiblingLifetimeMs: number;
  /** G2: minimum gap between forced terminations on one node. */
  forceEvictIntervalMs: number;
  /** Drain round period and minimum gap between evictions of one pod. */
  pollIntervalMs: number;
}

const H = 3_600_000;
const M = 60_000;

/** The two published profiles (docs/node-lifecycle-controller.md#nlc-sla). */
export const SLA_PROFILES: Record<'production' | 'test', SlaSettings> = {
  production: {
    gracePeriodMs: 6 * H,
    minPodLifetimeMs: 72 * H,
    minHealthySiblingLifetimeMs: 1 * H,
    minUnhealthySiblingLifetimeMs: 6 * H,
    forceEvictIntervalMs: 5 * M,
    pollIntervalMs: 30_000,
  },
  test: {
    gracePeriodMs: 2 * H,
    minPodLifetimeMs: 8 * H,
    minHealthySiblingLifetimeMs: 1 * H,
    minUnhealthySiblingLifetimeMs: 1 * H,
    forceEvictIntervalMs: 5 * M,
    pollIntervalMs: 30_000,
  },
};

/** The trimmed view of a Pod the decisions read (built by `podView`). */
export interface PodView {
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  /** creationTimestamp, epoch ms. */
  createdAt: number;
  /** status.startTime, epoch ms (falls back to createdAt). */
  startedAt: number;
  /** metadata.deletionTimestamp, epoch ms; set = terminating. */
  deletingAt?: number;
  phase: string;
  /** condition Ready=True. */
  ready: boolean;
  labels: Record<string, string>;
  /** Kind of the controller ownerReference, if any. */
  controllerKind?: string;
  /** Kinds of all ownerReferences. */
  ownerKinds: string[];
  mirror: boolean;
  priorityClassName?: string;
  /** spec.terminationGracePeriodSeconds (default 30). */
  tgpSeconds: number;
  /** Raw do-not-disrupt annotation (ours, else Karpenter's). */
  doNotDisrupt?: string;
}

/** The trimmed view of a policy/v1 PodDisruptionBudget. */
export interface PdbView {
  namespace: string;
  name: string;
  /** null = selects nothing; {} = selects every pod of the namespace. */
  selector: LabelSelector | null;
}

/** Whether a PDB selects a pod (same namespace; empty selector = all, null = none). */
export function pdbSelects(pdb: PdbView, pod: PodView): boolean {
  if (pdb.namespace !== pod.namespace || pdb.selector === null) return false;
  return matchesLabels(pdb.selector, pod.labels);
}

/**
 * Siblings(P) (docs/node-lifecycle-controller.md#nlc-sla): pods of P's namespace with another UID, not
 * Succeeded/Failed, without a Job ownerReference, selected by any PDB of the namespace that selects P.
 * Returns the union and the names of the PDBs selecting P.
 */
export function siblingsOf(pod: PodView, namespacePods: PodView[], pdbs: PdbView[]): { siblings: PodView[]; pdbs: string[] } {
  const selecting = pdbs.filter((b) => pdbSelects(b, pod));
  const siblings = namespacePods.filter(
    (s) =>
      s.uid !== pod.uid &&
      s.namespace === pod.namespace &&
      s.phase !== 'Succeeded' &&
      s.phase !== 'Failed' &&
      !s.ownerKinds.includes('Job') &&
      selecting.some((b) => pdbSelects(b, s)),
  );
  return { siblings, pdbs: selecting.map((b) => b.name) };
}

/** The first failing gate of the SLA predicate, or undefined when all hold. */
export type Gate = 'grace' | 'interval' | 'pod_lifetime' | 'siblings';

/** Inputs of {@link forceAllowed}. All times epoch ms. */
export interface ForceInput {
  now: number;
  drainStart: number;
  /** last-force-termination; undefined = none yet (G2 passes). */
  lastForce?: number;
  pod: PodView;
  siblings: PodView[];
  sla: SlaSettings;
}

/**
 * The SLA predicate for forced termination of a PDB-blocked pod (docs/node-lifecycle-controller.md#nlc-sla):
 * G1 now >= drainStart + grace; G2 now >= lastForce + interval (none: passes); G3 now >= pod created +
 * min pod lifetime; G4 every sibling created >= healthy (Ready) / unhealthy (not Ready) lifetime ago.
 * All boundaries inclusive; gates checked cheapest first. Returns the first failing gate, if any, and
 * the earliest time at which the time-only gates (G1-G3, and G4 for the current siblings) could hold.
 */
export function forceAllowed(i: ForceInput): { allowed: boolean; gate?: Gate; notBefore: number } {
  const g1 = i.drainStart + i.sla.gracePeriodMs;
  const g2 = i.lastForce === undefined ? -Infinity : i.lastForce + i.sla.forceEvictIntervalMs;
  const g3 = i.pod.createdAt + i.sla.minPodLifetimeMs;
  let g4 = -Infinity;
  for (const s of i.siblings) {
    const t = s.createdAt + (s.ready ? i.sla.minHealthySiblingLifetimeMs : i.sla.minUnhealthySiblingLifetimeMs);
    if (t > g4) g4 = t;
  }
  const notBefore = Math.max(g1, g2, g3, g4);
  if (i.now < g1) return { allowed: false, gate: 'grace', notBefore };
  if (i.now < g2) return { allowed: false, gate: 'interval', notBefore };
  if (i.now < g3) return { allowed: false, gate: 'pod_lifetime', notBefore };
  if (i.now < g4) return { allowed: false, gate: 'siblings', notBefore };
  return { allowed: true, notBefore };
}

// ---------------------------------------------------------------------------------------------------
// Pod blocks and candidates (docs/node-lifecycle-controller.md#nlc-drain)

/**
 * A pod's do-not-disrupt mark (docs/node-lifecycle-controller.md#nlc-blocks): `true` blocks, `false` or
 * absent does not, a duration blocks until `startedAt` + duration; anything else is invalid and blocks.
 */
export function podBlocked(pod: PodView, now: number): { blocked: boolean; invalid: boolean } {
  const v = pod.doNotDisrupt;
  if (v === undefined || v === 'false') return { blocked: false, invalid: false };
  if (v === 'true') return { blocked: true, invalid: false };
  const d = tryParseDuration(v, { allowDays: true });
  if (!d.ok) return { blocked: true, invalid: true };
  return { blocked: now < pod.startedAt + d.value, invalid: false };
}

/** Node-level do-not-disrupt (ours, else Karpenter's): `true` blocks, `false`/absent not, other = invalid + blocks. */
export function nodeBlocked(annotations: Record<string, string>): { blocked: boolean; invalid: boolean } {
  const v = annotations[DO_NOT_DISRUPT] ?? annotations[KARPENTER_DO_NOT_DISRUPT];
  if (v === undefined || v === 'false') return { blocked: false, invalid: false };
  if (v === 'true') return { blocked: true, invalid: false };
  return { blocked: true, invalid: true };
}

/** Priority classes drained only after every other candidate is gone. */
export const CRITICAL_CLASSES = new Set(['system-cluster-critical', 'system-node-critical']);

/** The pods of a node sorted into what a drain round does with them (docs/node-lifecycle-controller.md#nlc-drain). */
export interface Candidates {
  /** Candidates that are not terminating, in eviction order (critical last, own pod last). */
  active: PodView[];
  /** Terminating candidates still within TGP + headroom. */
  terminating: PodView[];
  /** Terminating past TGP + headroom: reported, no longer block completion. */
  stuck: PodView[];
}

/**
 * Candidates of a node: skips mirror pods, DaemonSet pods, Succeeded/Failed pods; holds back critical
 * pods while others remain, and the controller's own pod (`ownUid`) until it is the last.
 */
export function candidates(podsOnNode: PodView[], now: number, headroomMs: number, ownUid?: string): Candidates {
  const all = podsOnNode.filter(
    (p) => !p.mirror && p.controllerKind !== 'DaemonSet' && p.phase !== 'Succeeded' && p.phase !== 'Failed',
  );
  const out: Candidates = { active: [], terminating: [], stuck: [] };
  for (const p of all) {
    if (p.deletingAt === undefined) out.active.push(p);
    else if (now >= p.deletingAt + p.tgpSeconds * 1000 + headroomMs) out.stuck.push(p);
    else out.terminating.push(p);
  }
  const isCritical = (p: PodView) => CRITICAL_CLASSES.has(p.priorityClassName ?? '');
  const rank = (p: PodView) => (p.uid === ownUid ? 2 : isCritical(p) ? 1 : 0);
  // The lowest class with anything left (active or terminating) goes first; the rest waits.
  const lowest = Math.min(3, ...out.active.map(rank), ...out.terminating.map(rank));
  out.active = out.active.filter((p) => rank(p) === lowest);
  out.active.sort(byAge);
  return out;
}

/** Oldest creationTimestamp first, then namespace/name. */
export function byAge(a: PodView, b: PodView): number {
  return a.createdAt - b.createdAt || `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);
}

// ---------------------------------------------------------------------------------------------------
// Deadlines (docs/node-lifecycle-controller.md#nlc-deadlines)

/**
 * Deadline handling for one pod: with deadline D, once now >= D - TGP - margin the pod is deleted with
 * grace max(1, min(TGP, floor((D - margin - now) / 1 s))) seconds. Returns the grace in seconds, or undefined
 * before that point.
 */
export function deadlineGrace(pod: PodView, deadline: number, marginMs: number, now: number): number | undefined {
  const tgpMs = pod.tgpSeconds * 1000;
  if (now < deadline - tgpMs - marginMs) return undefined;
  return Math.max(1, Math.min(pod.tgpSeconds, Math.floor((deadline - marginMs - now) / 1000)));
}

/** When the next pod reaches its deadline point (for `requeueAfter`); undefined without pods. */
export function nextDeadlineAction(pods: PodView[], deadline: number, marginMs: number): number | undefined {
  let t: number | undefined;
  for (const p of pods) {
    const at = deadline - p.tgpSeconds * 1000 - marginMs;
    if (t === undefined || at < t) t = at;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Drain round planning (docs/node-lifecycle-controller.md#nlc-drain, #nlc-sla, #nlc-deadlines)

/** What one drain round does on one node. */
export interface RoundPlan {
  /** Pods to evict (Eviction API) now. */
  evict: PodView[];
  /** Pods to delete because of the deadline, with grace seconds. */
  deadlineDeletes: { pod: PodView; graceSeconds: number }[];
  /** At most one pod forced by the SLA (write-ahead of last-force-termination first). */
  force?: PodView;
  /** No candidates left (stuck pods aside): the node is drained. */
  drained: boolean;
  /** Stuck pods to report. */
  stuck: PodView[];
  /** Blocked pods and their first failing gate (for metrics and Events). */
  blocked: { pod: PodView; gate: Gate; pdbs: string[] }[];
  /** When the next round should run at the latest (epoch ms). */
  nextAt: number;
}

/** Inputs of {@link planRound}. */
export interface RoundInput {
  now: number;
  sla: SlaSettings;
  podsOnNode: PodView[];
  /** Pods of a namespace (the namespace index of the pod cache). */
  podsInNamespace: (ns: string) => PodView[];
  pdbsInNamespace: (ns: string) => PdbView[];
  /** Pods whose last Eviction in this process was PDB-blocked (uid -> time). */
  pdbBlocked: ReadonlyMap<string, number>;
  /** Last Eviction attempt per pod uid (memory only). */
  lastEviction: ReadonlyMap<string, number>;
  /**
   * Uids of pods whose Eviction or deadline DELETE this process saw accepted (memory only): they are waited for and get
   * no further Eviction or DELETE, even while the cache does not show them terminating yet
   * (docs/node-lifecycle-controller.md#nlc-drain, "accepted: wait for the pod to go").
   */
  accepted: ReadonlySet<string>;
  drainStart: number;
  lastForce?: number;
  /** Involuntary deadline (epoch ms), if any. */
  deadline?: number;
  marginMs: number;
  headroomMs: number;
  /** Voluntary workflows honour pod do-not-disrupt marks; involuntary ones too, until the deadline. */
  voluntary: boolean;
  /** The controller's own pod uid (drained last). */
  ownUid?: string;
  /** Voluntary work is blocked (cluster or node): no evictions, no forcing. */
  paused: boolean;
}

/**
 * Plans one drain round (docs/node-lifecycle-controller.md#nlc-drain): deadline deletes first (they
 * bypass PDBs and blocks), then Evictions for every candidate not tried within the poll interval
 * (do-not-disrupt pods count as PDB-blocked), then at most one SLA-forced termination, oldest first,
 * among pods that were PDB-blocked and pass {@link forceAllowed}. Pods whose Eviction or DELETE was accepted
 * (`accepted`) are only waited for. The gates run cheapest first
 * (docs/node-lifecycle-controller.md#nlc-sla): `podsInNamespace` is called only for pods that pass G1-G3, and
 * G4 (siblings) runs oldest first only until one pod may be forced; the younger ones are reported as waiting for
 * the force interval (`interval`), which the forced termination restarts.
 */
export function planRound(i: RoundInput): RoundPlan {
  const c = candidates(i.podsOnNode, i.now, i.headroomMs, i.ownUid);
  const plan: RoundPlan = {
    evict: [],
    deadlineDeletes: [],
    drained: c.active.length === 0 && c.terminating.length === 0,
    stuck: c.stuck,
    blocked: [],
    nextAt: i.now + i.sla.pollIntervalMs,
  };
  if (plan.drained) return plan;
  const remaining: PodView[] = [];
  for (const p of c.active) {
    if (i.accepted.has(p.uid)) continue;
    const g = i.deadline === undefined ? undefined : deadlineGrace(p, i.deadline, i.marginMs, i.now);
    if (g !== undefined) plan.deadlineDeletes.push({ pod: p, graceSeconds: g });
    else remaining.push(p);
  }
  if (i.deadline !== undefined) {
    const next = nextDeadlineAction(remaining, i.deadline, i.marginMs);
    if (next !== undefined && next < plan.nextAt) plan.nextAt = Math.max(i.now + 1000, next);
  }
  if (i.paused) return plan;
  // Pods past G1-G3, for G4 (siblings) in age order: at most one is forced per round.
  const pastCheapGates: { pod: PodView; pdbs: PdbView[]; selecting: string[] }[] = [];
  for (const p of remaining) {
    const block = podBlocked(p, i.now);
    const wasBlocked = block.blocked || i.pdbBlocked.has(p.uid);
    if (!block.blocked) {
      const last = i.lastEviction.get(p.uid);
      if (last === undefined || i.now >= last + i.sla.pollIntervalMs) plan.evict.push(p);
    }
    if (!wasBlocked) continue;
    const pdbs = i.pdbsInNamespace(p.namespace);
    const selecting = pdbs.filter((b) => pdbSelects(b, p)).map((b) => b.name);
    if (selecting.length === 0 && !block.blocked) continue; // nothing selects it: never forced
    // Cheapest first: G1-G3 need no siblings; the namespace's pods are read only once they hold.
    const pre = forceAllowed({ now: i.now, drainStart: i.drainStart, lastForce: i.lastForce, pod: p, siblings: [], sla: i.sla });
    if (pre.allowed) pastCheapGates.push({ pod: p, pdbs, selecting });
    else {
      plan.blocked.push({ pod: p, gate: pre.gate!, pdbs: selecting });
      // Without siblings, notBefore may be early (G4 not counted): the round then simply looks again.
      if (pre.notBefore > i.now && pre.notBefore < plan.nextAt) plan.nextAt = pre.notBefore;
    }
  }
  // G4, oldest first, until one pod may be forced; the younger ones then wait for the force interval (G2).
  pastCheapGates.sort((a, b) => byAge(a.pod, b.pod));
  for (const c of pastCheapGates) {
    if (plan.force) {
      plan.blocked.push({ pod: c.pod, gate: 'interval', pdbs: c.selecting });
      continue;
    }
    const siblings = siblingsOf(c.pod, i.podsInNamespace(c.pod.namespace), c.pdbs).siblings;
    const f = forceAllowed({ now: i.now, drainStart: i.drainStart, lastForce: i.lastForce, pod: c.pod, siblings, sla: i.sla });
    if (f.allowed) plan.force = c.pod;
    else {
      plan.blocked.push({ pod: c.pod, gate: f.gate!, pdbs: c.selecting });
      if (f.notBefore > i.now && f.notBefore < plan.nextAt) plan.nextAt = f.notBefore;
    }
  }
  if (plan.force) plan.evict = plan.evict.filter((p) => p.uid !== plan.force!.uid);
  return plan;
}

// ---------------------------------------------------------------------------------------------------
// Eviction responses (docs/node-lifecycle-controller.md#nlc-drain)

/** How one Eviction response is treated. */
export type EvictionResult =
  | 'accepted'
  | 'not_found'
  | 'conflict'
  | 'pdb_blocked'
  | 'multiple_pdbs'
  | 'throttled'
  | 'namespace_terminating'
  | 'error';

/**
 * Classifies an Eviction response by HTTP status and Status body: 429 with a `DisruptionBudget` cause
 * is a PDB block (the disruption controller's normal answer), 500 "more than one PodDisruptionBudget"
 * too; other 429s are API throttling.
 */
export function classifyEviction(
  status: number,
  body?: { message?: string; details?: { causes?: { reason?: string; type?: string }[] } },
): EvictionResult {
  if (status === 200 || status === 201) return 'accepted';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  const causes = body?.details?.causes ?? [];
  if (status === 429)
    return causes.some((c) => c.type === 'DisruptionBudget' || c.reason === 'DisruptionBudget') ? 'pdb_blocked' : 'throttled';
  if (status === 500 && /more than one PodDisruptionBudget/i.test(body?.message ?? '')) return 'multiple_pdbs';
  if (status === 403 && causes.some((c) => c.type === 'NamespaceTerminating' || c.reason === 'NamespaceTerminating'))
    return 'namespace_terminating';
  return 'error';
}

// ---------------------------------------------------------------------------------------------------
// Node markers and the state machine (docs/node-lifecycle-controller.md#nlc-states, #nlc-abort)

/** A taint as in `spec.taints`. */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/** The trimmed view of a Node the decisions read. */
export interface NodeView {
  name: string;
  createdAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  providerID?: string;
  ready: boolean;
}

/** The involuntary record (`kubeaws.io/interruption`), docs/node-lifecycle-controller.md#nlc-sqs. */
export interface InterruptionRecord {
  v: 1;
  kinds: string[];
  eventIds: string[];
  firstSeen: string;
  /** RFC 3339 or null (rebalance). */
  deadline: string | null;
  stopOnly: boolean;
  /** Stop-only records: when EC2 was first seen `stopping`/`stopped` (RFC 3339), so `running` afterwards means "running again". */
  stoppedAt?: string | null;
  lifecycle?: {
    asg: string;
    hook: string;
    token: string;
    heartbeatTimeoutSeconds: number;
    holdUntil: string;
    completedAt: string | null;
  };
}

/** The parsed markers of a Node. */
export interface NodeMarkers {
  /** Our state label; undefined when absent; 'invalid' for an unknown value. */
  state?: NodeState | 'invalid';
  /** A request by our label or an alias. */
  requested: boolean;
  /** An abort by our label (`ready`) or the alias label. */
  abortRequested: boolean;
  /** Our pending taint, if present. */
  pendingTaint?: Taint;
  drainStart?: number;
  drainStartInvalid: boolean;
  lastForce?: number;
  lastForceInvalid: boolean;
  interruption?: InterruptionRecord;
  interruptionInvalid: boolean;
  terminationRequested?: number;
  /** The prepared-replacement write-ahead (`kubeaws.io/replacement`), if present and valid. */
  replacement?: ReplacementRecord;
  replacementInvalid: boolean;
  fenced: string[];
  priority: number;
  priorityInvalid: boolean;
}

/** Parses an RFC 3339 timestamp to epoch ms; undefined if it does not parse. */
export function parseTime(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** RFC 3339 UTC with seconds, as we write timestamps. */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Maximum tolerated future skew of a timestamp we read (5 min). */
export const FUTURE_SKEW_MS = 5 * 60_000;

function readClock(own: string | undefined, alias: string | undefined, now: number): { t?: number; invalid: boolean } {
  const raw = own ?? alias;
  if (raw === undefined) return { invalid: false };
  const t = parseTime(raw);
  if (t === undefined || t > now + FUTURE_SKEW_MS) return { t: now, invalid: true };
  return { t, invalid: false };
}

/**
 * Reads a Node's markers (docs/node-lifecycle-controller.md#nlc-markers), with the Zalando/CLM aliases
 * used only when our own key is absent. Unparsable or far-future clocks read as `now` (fail-safe: the
 * SLA clock restarts) and are flagged invalid.
 */
export function readMarkers(n: NodeView, now: number): NodeMarkers {
  const raw = n.labels[STATE_LABEL];
  const state = raw === undefined ? undefined : (STATES as readonly string[]).includes(raw) ? (raw as NodeState) : 'invalid';
  const alias = n.labels[ALIAS_STATE_LABEL];
  const aliasTaint = n.taints.some((t) => t.key === ALIAS_PENDING_TAINT);
  const requested = raw === 'decommission-pending' || alias === 'decommission-pending' || (aliasTaint && alias === undefined);
  const abortRequested = alias === 'ready' || ((raw === 'ready' || raw === undefined) && !requested);
  const ds = readClock(n.annotations[DRAIN_START], n.annotations[CLM_DRAIN_START], now);
  const lf = readClock(n.annotations[LAST_FORCE], n.annotations[CLM_LAST_FORCE], now);
  let interruption: InterruptionRecord | undefined;
  let interruptionInvalid = false;
  if (n.annotations[INTERRUPTION] !== undefined) {
    interruption = parseInterruption(n.annotations[INTERRUPTION]);
    interruptionInvalid = interruption === undefined;
  }
  const prioRaw = n.labels[PRIORITY_LABEL] ?? n.labels[CLC_PRIORITY];
  let priority = 0;
  let priorityInvalid = false;
  if (prioRaw !== undefined) {
    const p = /^-?\d+$/.test(prioRaw) ? Number(prioRaw) : NaN;
    if (Number.isInteger(p) && p >= -1000 && p <= 1000) priority = p;
    else priorityInvalid = true;
  }
  return {
    state,
    requested,
    abortRequested,
    pendingTaint: n.taints.find((t) => t.key === PENDING_TAINT),
    drainStart: ds.t,
    drainStartInvalid: ds.invalid,
    lastForce: lf.t,
    lastForceInvalid: lf.invalid,
    interruption,
    interruptionInvalid,
    terminationRequested: parseTime(n.annotations[TERMINATION_REQUESTED]),
    replacement: n.annotations[REPLACEMENT] === undefined ? undefined : parseReplacement(n.annotations[REPLACEMENT]),
    replacementInvalid: n.annotations[REPLACEMENT] !== undefined && parseReplacement(n.annotations[REPLACEMENT]) === undefined,
    fenced: (n.annotations[FENCED] ?? '').split(',').filter(Boolean),
    priority,
    priorityInvalid,
  };
}

/** One bad input (docs/node-lifecycle-controller.md#nlc-bad-input): the Event reason, the field, its value, what is valid and what we do instead. */
export interface InputProblem {
  reason: 'InvalidAnnotation' | 'InvalidLabel' | 'NoProviderID';
  /** The annotation or label key, or `spec.providerID`. */
  field: string;
  value: string;
  expected: string;
  fallback: string;
}

const RFC3339_EXPECTED = 'RFC 3339 timestamp, at most 5 min in the future';

/**
 * The bad inputs on a Node (docs/node-lifecycle-controller.md#nlc-bad-input): unparsable or far-future
 * `drain-start`/`last-force-termination` (or their CLM aliases), unparsable `interruption`/`replacement`
 * records, a non-bool `do-not-disrupt` (ours or Karpenter's), a non-bool `decrement-desired-capacity`, an
 * unknown `lifecycle-state` value and a priority outside the range -1000 to 1000 (ours or the CLC alias). Each names the
 * key actually read, so an alias problem names the alias.
 */
export function nodeInputProblems(n: NodeView, m: NodeMarkers): InputProblem[] {
  const out: InputProblem[] = [];
  const a = n.annotations;
  const key = (own: string, alias: string, from: Record<string, string>) => (from[own] !== undefined ? own : alias);
  if (m.drainStartInvalid) {
    const k = key(DRAIN_START, CLM_DRAIN_START, a);
    out.push({ reason: 'InvalidAnnotation', field: k, value: a[k], expected: RFC3339_EXPECTED, fallback: 'read as now (the drain clock restarts)' });
  }
  if (m.lastForceInvalid) {
    const k = key(LAST_FORCE, CLM_LAST_FORCE, a);
    out.push({ reason: 'InvalidAnnotation', field: k, value: a[k], expected: RFC3339_EXPECTED, fallback: 'read as now (the force interval restarts)' });
  }
  if (m.interruptionInvalid)
    out.push({ reason: 'InvalidAnnotation', field: INTERRUPTION, value: a[INTERRUPTION], expected: 'an interruption record (JSON, "v":1)', fallback: 'dropped: a voluntary drain without deadline' });
  if (m.replacementInvalid)
    out.push({ reason: 'InvalidAnnotation', field: REPLACEMENT, value: a[REPLACEMENT], expected: 'a replacement record (JSON)', fallback: 'dropped: fenced without a replacement' });
  if (nodeBlocked(a).invalid) {
    const k = key(DO_NOT_DISRUPT, KARPENTER_DO_NOT_DISRUPT, a);
    out.push({ reason: 'InvalidAnnotation', field: k, value: a[k], expected: 'true or false', fallback: 'treated as true (blocked)' });
  }
  const dec = a[DECREMENT_DESIRED];
  if (dec !== undefined && dec !== 'true' && dec !== 'false')
    out.push({ reason: 'InvalidAnnotation', field: DECREMENT_DESIRED, value: dec, expected: 'true or false', fallback: 'false' });
  if (m.state === 'invalid')
    out.push({ reason: 'InvalidLabel', field: STATE_LABEL, value: n.labels[STATE_LABEL], expected: STATES.join(' | '), fallback: 'no action' });
  if (m.priorityInvalid) {
    const k = key(PRIORITY_LABEL, CLC_PRIORITY, n.labels);
    out.push({ reason: 'InvalidLabel', field: k, value: n.labels[k], expected: 'an integer from -1000 to 1000', fallback: '0' });
  }
  return out;
}

/**
 * A Pod's bad `do-not-disrupt` (ours, else Karpenter's alias; reported under our key): not a bool or a duration
 * (docs/node-lifecycle-controller.md#nlc-bad-input).
 */
export function podInputProblem(p: PodView, now: number): InputProblem | undefined {
  if (!podBlocked(p, now).invalid) return undefined;
  return {
    reason: 'InvalidAnnotation',
    field: DO_NOT_DISRUPT,
    value: p.doNotDisrupt ?? '',
    expected: 'true, false or a duration (e.g. 4h)',
    fallback: 'treated as true: no voluntary Eviction, the SLA still bounds it',
  };
}

/** Parses `kubeaws.io/interruption`; undefined when it is not a valid record. */
export function parseInterruption(raw: string): InterruptionRecord | undefined {
  try {
    const r = JSON.parse(raw) as InterruptionRecord;
    if (r === null || typeof r !== 'object' || r.v !== 1 || !Array.isArray(r.kinds) || !Array.isArray(r.eventIds)) return undefined;
    if (r.deadline !== null && parseTime(r.deadline) === undefined) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** Involuntary kinds: they ignore blocks and start at `draining` (docs/node-lifecycle-controller.md#nlc-states). */
export const INVOLUNTARY_KINDS = new Set(['spot-interruption', 'asg-termination', 'state-change', 'scheduled-change']);

/** Whether a record makes the workflow involuntary. */
export function isInvoluntary(r: InterruptionRecord | undefined): boolean {
  return !!r && r.kinds.some((k) => INVOLUNTARY_KINDS.has(k));
}

/** Whether the instance goes away on its own (spot, hook, state change): no terminate call of ours. */
export function awsTerminates(r: InterruptionRecord | undefined): boolean {
  return !!r && r.kinds.some((k) => k === 'spot-interruption' || k === 'asg-termination' || k === 'state-change');
}

/** The instance ID of an AWS providerID `aws:///<az>/<instance-id>`; undefined otherwise. */
export function instanceIdOf(providerID: string | undefined): string | undefined {
  const m = /^aws:\/\/\/[^/]*\/(i-[0-9a-f]{8}(?:[0-9a-f]{9})?)$/.exec(providerID ?? '');
  return m?.[1];
}

/** The next step of one node's workflow (docs/node-lifecycle-controller.md#nlc-states). */
export type NodeStep =
  | { kind: 'none'; reason?: string }
  | { kind: 'invalid-state' }
  | { kind: 'abort' }
  | { kind: 'abort-too-late' }
  | { kind: 'accept' }
  | { kind: 'wait-slot' }
  | { kind: 'fence' }
  | { kind: 'round'; paused: boolean }
  | { kind: 'drained' }
  | { kind: 'complete-hook' }
  | { kind: 'await-aws' }
  | { kind: 'await-restart' }
  | { kind: 'terminate' }
  | { kind: 'confirm' }
  | { kind: 'done' };

/** Inputs of {@link nextStep} besides the node. */
export interface StepInput {
  now: number;
  /** Cluster block or node block in effect. */
  blocked: boolean;
  /** A voluntary slot is free (fewer than --max-concurrent-drains voluntary workflows running), or this node holds one. */
  slotFree: boolean;
  terminateInstances: boolean;
}

/**
 * The state machine (docs/node-lifecycle-controller.md#nlc-states, #nlc-blocks, #nlc-abort): from the
 * node's markers and the cluster situation, the one next step. Pure; the reconciler performs it.
 */
export function nextStep(n: NodeView, m: NodeMarkers, s: StepInput): NodeStep {
  const involuntary = isInvoluntary(m.interruption);
  const ours = m.pendingTaint !== undefined || n.annotations[DRAIN_START] !== undefined;
  if (m.state === 'invalid') return { kind: 'invalid-state' };
  // Abort: our markers present, before terminating, and the label says ready/absent (no alias request).
  if (ours && m.abortRequested && !involuntary) {
    if (m.state === 'terminating' || m.state === 'terminated') return { kind: 'abort-too-late' };
    return { kind: 'abort' };
  }
  switch (m.state) {
    case undefined:
    case 'ready':
      if (m.requested && !ours) return s.blocked ? { kind: 'none', reason: 'blocked' } : { kind: 'accept' };
      return { kind: 'none' };
    case 'decommission-pending':
      if (!m.pendingTaint) return s.blocked ? { kind: 'none', reason: 'blocked' } : { kind: 'accept' };
      if (s.blocked) return { kind: 'none', reason: 'blocked' };
      return s.slotFree ? { kind: 'fence' } : { kind: 'wait-slot' };
    case 'fenced':
      return { kind: 'none' };
    case 'draining':
      return { kind: 'round', paused: s.blocked && !involuntary };
    case 'drained':
      // Stop-only (spot stop/hibernate, EC2 stopping/stopped): stays fenced until the instance runs again.
      if (m.interruption?.stopOnly && involuntary) return { kind: 'await-restart' };
      if (awsTerminates(m.interruption)) {
        const lc = m.interruption?.lifecycle;
        return lc && !lc.completedAt ? { kind: 'complete-hook' } : { kind: 'await-aws' };
      }
      if (!s.terminateInstances) return { kind: 'none', reason: 'terminate-instances=false' };
      if (s.blocked && !involuntary) return { kind: 'none', reason: 'blocked' };
      return { kind: 'terminate' };
    case 'terminating':
      return m.interruption?.stopOnly && involuntary ? { kind: 'await-restart' } : { kind: 'confirm' };
    case 'terminated':
      return { kind: 'done' };
  }
}

/**
 * Voluntary candidates in start order (docs/node-lifecycle-controller.md#nlc-requests): priority
 * descending, then creationTimestamp, then name.
 */
export function startOrder(nodes: { name: string; createdAt: number; priority: number }[]): string[] {
  return [...nodes]
    .sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt || a.name.localeCompare(b.name))
    .map((n) => n.name);
}

/**
 * Whether a node holds a voluntary slot: voluntary and between draining and the end of termination,
 * including a replacement wait (a pending node with its `kubeaws.io/replacement` write-ahead).
 */
export function holdsSlot(m: NodeMarkers): boolean {
  if (isInvoluntary(m.interruption)) return false;
  return m.state === 'draining' || m.state === 'drained' || (m.state === 'decommission-pending' && !!m.pendingTaint && !!m.replacement);
}

/** `kubeaws.io/replacement` (docs/node-lifecycle-controller.md#nlc-replacement). */
export interface ReplacementRecord {
  asg: string;
  targetDesired: number;
  readyBefore: number;
  requestedAt: string;
  skipped: boolean;
}

/** Parses `kubeaws.io/replacement`; undefined when it is not a valid record. */
export function parseReplacement(raw: string): ReplacementRecord | undefined {
  try {
    const r = JSON.parse(raw) as ReplacementRecord;
    if (r === null || typeof r !== 'object' || typeof r.asg !== 'string' || !r.asg) return undefined;
    if (!Number.isInteger(r.targetDesired) || !Number.isInteger(r.readyBefore) || typeof r.skipped !== 'boolean') return undefined;
    if (parseTime(r.requestedAt) === undefined) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** The write-ahead for a new replacement: desired + 1, or skipped when the ASG is at its maximum. */
export function newReplacement(asg: { name: string; desired: number; max: number }, readyBefore: number, now: number): ReplacementRecord {
  return { asg: asg.name, targetDesired: asg.desired + 1, readyBefore, requestedAt: formatTime(now), skipped: asg.desired >= asg.max };
}

/**
 * The replacement wait (docs/node-lifecycle-controller.md#nlc-replacement): `set-desired` while the ASG's
 * desired capacity is below the target (so a restart never adds twice), then `ready` once the ASG has
 * `readyBefore + 1` Ready, unmarked nodes, or `timeout` after `--replacement-timeout`; else `wait`.
 */
export function replacementStep(r: ReplacementRecord, desiredNow: number | undefined, readyNow: number, now: number, timeoutMs: number): 'set-desired' | 'ready' | 'timeout' | 'wait' {
  if (r.skipped) return 'ready';
  if (readyNow >= r.readyBefore + 1) return 'ready';
  if (now >= parseTime(r.requestedAt)! + timeoutMs) return 'timeout';
  if (desiredNow !== undefined && desiredNow < r.targetDesired) return 'set-desired';
  return 'wait';
}

/**
 * Termination follow-up (docs/node-lifecycle-controller.md#nlc-termination): from the EC2 state, what to
 * do with a `terminating` node. `requestedAt` = termination-requested; the terminate call is repeated
 * only if EC2 still says running 5 min after it.
 */
export function terminationFollowUp(
  ec2State: string | undefined,
  requestedAt: number | undefined,
  now: number,
  ownTermination: boolean,
  failedRetryAt?: number,
): 'terminated' | 'call' | 'wait' {
  if (ec2State === undefined || ec2State === 'terminated') return 'terminated';
  if (!ownTermination) return 'wait';
  if (requestedAt === undefined) return 'call';
  const terminable = ec2State === 'running' || ec2State === 'pending' || ec2State === 'stopped';
  // Our last call failed: retry on the backoff schedule ({@link terminateRetryDelay}) instead of waiting 5 min.
  if (terminable && failedRetryAt !== undefined && now >= failedRetryAt) return 'call';
  if (terminable && now >= requestedAt + 5 * 60_000) return 'call';
  return 'wait';
}

/** First and longest delay after a failed terminate call (docs/node-lifecycle-controller.md#nlc-termination). */
export const TERMINATE_BACKOFF = { initialMs: 10_000, maxMs: 5 * 60_000 };

/** Delay before the next terminate call after `failures` consecutive failed ones (>= 1): 10 s, 20 s, 40 s, ... 5 min. */
export function terminateRetryDelay(failures: number): number {
  return Math.min(TERMINATE_BACKOFF.maxMs, TERMINATE_BACKOFF.initialMs * 2 ** Math.max(0, Math.min(failures - 1, 20)));
}

/**
 * How long after a stop-only record's deadline an instance that EC2 still reports `running`, without a stop
 * ever seen, counts as running again (docs/node-lifecycle-controller.md#nlc-stop-only): AWS stops a spot
 * instance at the end of its two-minute notice, so a warning this far past its deadline was either not acted
 * on or is a redelivery of a warning whose stop and restart already happened.
 */
export const STOP_OVERDUE_MS = 5 * 60_000;

/**
 * Follow-up of a drained node with a stop-only record (docs/node-lifecycle-controller.md#nlc-stop-only): from
 * the EC2 state, `terminated` (instance gone after all), `mark-stopped` (first sight of `stopping`/`stopped`:
 * recorded so that a later `running` means running again), `clear` (running again after the stop, or still
 * running {@link STOP_OVERDUE_MS} after the record's deadline with no stop seen, and the Node is Ready: undo
 * the fence) or `wait`. A state-change record proves the stop by itself. `now` in epoch ms.
 */
export function stopOnlyFollowUp(ec2State: string | undefined, r: InterruptionRecord, nodeReady: boolean, now: number): 'terminated' | 'mark-stopped' | 'clear' | 'wait' {
  if (ec2State === undefined || ec2State === 'terminated') return 'terminated';
  const stopSeen = !!r.stoppedAt || r.kinds.includes('state-change');
  if (ec2State === 'stopping' || ec2State === 'stopped') return stopSeen ? 'wait' : 'mark-stopped';
  if (ec2State !== 'running' || !nodeReady) return 'wait';
  if (stopSeen) return 'clear';
  const deadline = r.deadline ? Date.parse(r.deadline) : NaN;
  return Number.isFinite(deadline) && now >= deadline + STOP_OVERDUE_MS ? 'clear' : 'wait';
}

// ---------------------------------------------------------------------------------------------------
// SQS messages (docs/node-lifecycle-controller.md#nlc-sqs)

/** Kinds of messages we recognise. */
export type MessageKind =
  | 'spot-interruption'
  | 'rebalance-recommendation'
  | 'asg-termination'
  | 'asg-launch'
  | 'state-change'
  | 'scheduled-change'
  | 'test-notification';

/** A message classified. */
export type Classified =
  | { outcome: 'invalid'; field: string; reason: string }
  | { outcome: 'unsupported'; source: string; detailType: string }
  | { outcome: 'ignored'; kind: MessageKind; why: string }
  | {
      outcome: 'event';
      kind: MessageKind;
      eventId: string;
      instanceIds: string[];
      /** Event time (epoch ms), clamped to now when > 5 min in the future. */
      time: number;
      deadline: number | null;
      stopOnly: boolean;
      reason: Reason;
      lifecycle?: { asg: string; hook: string; token: string };
    };

const INSTANCE_RE = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Options of {@link classifyMessage}. */
export interface ClassifyOptions {
  now: number;
  spotNoticeMs: number;
  hookName: string;
  rebalanceAction: 'ignore' | 'fence' | 'drain';
}

function str(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Parses an RFC 3339 or RFC 1123 date; undefined if neither. */
export function parseEventTime(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = parseTime(v);
  if (t !== undefined) return t;
  if (/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d (GMT|UTC|[+-]\d{4})$/.test(v)) {
    const r = Date.parse(v);
    return Number.isFinite(r) ? r : undefined;
  }
  return undefined;
}

/**
 * Classifies one SQS body (docs/node-lifecycle-controller.md#nlc-sqs): EventBridge envelopes (also
 * SNS-wrapped once) and direct ASG notifications. Never throws. Rules after AWS's EventBridge event
 * reference for EC2, Auto Scaling and Health, and aws-node-termination-handler's sqs monitor.
 */
export function classifyMessage(body: string, o: ClassifyOptions): Classified {
  let msg: unknown;
  try {
    msg = JSON.parse(body);
  } catch {
    return { outcome: 'invalid', field: 'body', reason: 'not JSON' };
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { outcome: 'invalid', field: 'body', reason: 'not an object' };
  let m = msg as Record<string, unknown>;
  if (m.Type === 'Notification' && typeof m.Message === 'string') {
    try {
      const inner = JSON.parse(m.Message);
      if (inner === null || typeof inner !== 'object' || Array.isArray(inner))
        return { outcome: 'invalid', field: 'Message', reason: 'not an object' };
      m = inner as Record<string, unknown>;
    } catch {
      return { outcome: 'invalid', field: 'Message', reason: 'not JSON' };
    }
  }
  const clamp = (t: number) => (t > o.now + FUTURE_SKEW_MS ? o.now : t);
  // Direct ASG notification (no envelope).
  if (m['detail-type'] === undefined && (m.Event !== undefined || m.LifecycleTransition !== undefined)) {
    if (m.Event === 'autoscaling:TEST_NOTIFICATION') return { outcome: 'ignored', kind: 'test-notification', why: 'test notification' };
    return lifecycle(m, m.Time, str(m, 'RequestId') ?? str(m, 'LifecycleActionToken'), o, clamp);
  }
  for (const k of ['version', 'id', 'source', 'detail-type', 'time']) {
    if (typeof m[k] !== 'string' || (k === 'id' && m[k] === '')) return { outcome: 'invalid', field: k, reason: 'missing or not a string' };
  }
  const time = parseTime(m.time as string);
  if (time === undefined) return { outcome: 'invalid', field: 'time', reason: 'not RFC 3339' };
  const d = m.detail;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return { outcome: 'invalid', field: 'detail', reason: 'not an object' };
  const detail = d as Record<string, unknown>;
  const source = m.source as string;
  const dt = m['detail-type'] as string;
  const id = m.id as string;
  const t = clamp(time);
  const one = (field: string): string | Classified => {
    const v = str(detail, field);
    if (!v || !INSTANCE_RE.test(v)) return { outcome: 'invalid', field: `detail.${field}`, reason: 'not an instance ID' };
    return v;
  };
  if (source === 'aws.ec2' && dt === 'EC2 Spot Instance Interruption Warning') {
    const iid = one('instance-id');
    if (typeof iid !== 'string') return iid;
    const action = detail['instance-action'];
    if (action !== 'terminate' && action !== 'stop' && action !== 'hibernate')
      return { outcome: 'invalid', field: 'detail.instance-action', reason: 'not terminate|stop|hibernate' };
    return { outcome: 'event', kind: 'spot-interruption', eventId: id, instanceIds: [iid], time: t, deadline: t + o.spotNoticeMs, stopOnly: action !== 'terminate', reason: 'spot-interruption' };
  }
  if (source === 'aws.ec2' && dt === 'EC2 Instance Rebalance Recommendation') {
    const iid = one('instance-id');
    if (typeof iid !== 'string') return iid;
    if (o.rebalanceAction === 'ignore') return { outcome: 'ignored', kind: 'rebalance-recommendation', why: 'rebalance action ignore' };
    return { outcome: 'event', kind: 'rebalance-recommendation', eventId: id, instanceIds: [iid], time: t, deadline: null, stopOnly: false, reason: 'rebalance-recommendation' };
  }
  if (source === 'aws.autoscaling' && dt === 'EC2 Instance-terminate Lifecycle Action') return lifecycle(detail, m.time, id, o, clamp);
  if (source === 'aws.autoscaling' && dt === 'EC2 Instance-launch Lifecycle Action') return { outcome: 'ignored', kind: 'asg-launch', why: 'launch hook' };
  if (source === 'aws.ec2' && dt === 'EC2 Instance State-change Notification') {
    const iid = one('instance-id');
    if (typeof iid !== 'string') return iid;
    const state = str(detail, 'state');
    if (!state) return { outcome: 'invalid', field: 'detail.state', reason: 'missing' };
    if (!['stopping', 'stopped', 'shutting-down', 'terminated'].includes(state)) return { outcome: 'ignored', kind: 'state-change', why: `state ${state}` };
    const stopOnly = state === 'stopping' || state === 'stopped';
    return { outcome: 'event', kind: 'state-change', eventId: id, instanceIds: [iid], time: t, deadline: t, stopOnly, reason: stopOnly ? 'instance-stopping' : 'instance-terminated' };
  }
  if (source === 'aws.health' && dt === 'AWS Health Event') {
    const service = str(detail, 'service');
    const cat = str(detail, 'eventTypeCategory');
    if (!service) return { outcome: 'invalid', field: 'detail.service', reason: 'missing' };
    if (!cat) return { outcome: 'invalid', field: 'detail.eventTypeCategory', reason: 'missing' };
    const start = parseEventTime(detail.startTime);
    if (start === undefined) return { outcome: 'invalid', field: 'detail.startTime', reason: 'not RFC 3339 or RFC 1123' };
    const ents = detail.affectedEntities;
    if (!Array.isArray(ents)) return { outcome: 'invalid', field: 'detail.affectedEntities', reason: 'not an array' };
    if (service !== 'EC2' || cat !== 'scheduledChange') return { outcome: 'ignored', kind: 'scheduled-change', why: `${service}/${cat}` };
    const ids: string[] = [];
    for (const e of ents) {
      const v = e && typeof e === 'object' ? (e as Record<string, unknown>).entityValue : undefined;
      if (typeof v !== 'string' || !INSTANCE_RE.test(v)) return { outcome: 'invalid', field: 'detail.affectedEntities[].entityValue', reason: 'not an instance ID' };
      if (!ids.includes(v)) ids.push(v);
    }
    return { outcome: 'event', kind: 'scheduled-change', eventId: id, instanceIds: ids, time: t, deadline: start, stopOnly: false, reason: 'scheduled-change' };
  }
  return { outcome: 'unsupported', source, detailType: dt };
}

function lifecycle(
  d: Record<string, unknown>,
  rawTime: unknown,
  eventId: string | undefined,
  o: ClassifyOptions,
  clamp: (t: number) => number,
): Classified {
  for (const k of ['EC2InstanceId', 'AutoScalingGroupName', 'LifecycleHookName', 'LifecycleActionToken', 'LifecycleTransition']) {
    if (!str(d, k)) return { outcome: 'invalid', field: k, reason: 'missing or not a string' };
  }
  if (!INSTANCE_RE.test(d.EC2InstanceId as string)) return { outcome: 'invalid', field: 'EC2InstanceId', reason: 'not an instance ID' };
  if (d.LifecycleTransition === 'autoscaling:EC2_INSTANCE_LAUNCHING') return { outcome: 'ignored', kind: 'asg-launch', why: 'launch hook' };
  if (d.LifecycleTransition !== 'autoscaling:EC2_INSTANCE_TERMINATING')
    return { outcome: 'invalid', field: 'LifecycleTransition', reason: 'not autoscaling:EC2_INSTANCE_TERMINATING' };
  const time = parseEventTime(rawTime);
  if (time === undefined) return { outcome: 'invalid', field: 'Time', reason: 'not RFC 3339' };
  if (d.LifecycleHookName !== o.hookName) return { outcome: 'ignored', kind: 'asg-termination', why: `hook ${String(d.LifecycleHookName)}` };
  return {
    outcome: 'event',
    kind: 'asg-termination',
    eventId: eventId ?? (d.LifecycleActionToken as string),
    instanceIds: [d.EC2InstanceId as string],
    time: clamp(time),
    deadline: null, // holdUntil - margin, known after DescribeLifecycleHooks
    stopOnly: false,
    reason: 'asg-termination',
    lifecycle: { asg: d.AutoScalingGroupName as string, hook: d.LifecycleHookName as string, token: d.LifecycleActionToken as string },
  };
}

/** Maximum event ids kept in a record. */
export const MAX_EVENT_IDS = 20;

/**
 * Merges an event into a node's record (docs/node-lifecycle-controller.md#nlc-sqs): event id appended
 * (20 newest kept), kinds united, earliest deadline kept, hook data added, stopOnly only while every
 * event is stop-only. Returns `duplicate` when the event id is already recorded.
 */
export function mergeRecord(
  existing: InterruptionRecord | undefined,
  ev: { kind: string; eventId: string; deadline: number | null; stopOnly: boolean; lifecycle?: InterruptionRecord['lifecycle'] },
  now: number,
): { record: InterruptionRecord; duplicate: boolean } {
  if (existing?.eventIds.includes(ev.eventId)) return { record: existing, duplicate: true };
  const base: InterruptionRecord = existing ?? { v: 1, kinds: [], eventIds: [], firstSeen: formatTime(now), deadline: null, stopOnly: true };
  const deadlines = [base.deadline ? parseTime(base.deadline)! : undefined, ev.deadline ?? undefined].filter((x): x is number => x !== undefined);
  const record: InterruptionRecord = {
    ...base,
    kinds: base.kinds.includes(ev.kind) ? base.kinds : [...base.kinds, ev.kind],
    eventIds: [...base.eventIds, ev.eventId].slice(-MAX_EVENT_IDS),
    deadline: deadlines.length ? formatTime(Math.min(...deadlines)) : null,
    stopOnly: (existing ? base.stopOnly : true) && ev.stopOnly,
  };
  if (ev.lifecycle) record.lifecycle = ev.lifecycle;
  return { record, duplicate: false };
}
