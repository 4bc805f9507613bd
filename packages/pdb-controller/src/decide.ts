/**
 * The decision function of the pdb-controller: from one workload, the PDBs and other workloads of its
 * namespace, the settings and the current time, compute the workload's state (docs/pdb-controller.md#pdb-states), the
 * writes that converge its managed PDB (docs/pdb-controller.md#pdb-content, #pdb-ttl, #pdb-writes), the Events
 * (docs/pdb-controller.md#pdb-bad-input, #pdb-events) and the invalid inputs (docs/pdb-controller.md#pdb-bad-input).
 * Pure: no I/O, no clock; the caller performs the actions.
 */
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { Settings } from './config';
import { adoptionPatch, buildDesiredPdb, canonical, diffPdb } from './desired';
import {
  BOOL_EXPECTED,
  DURATION_EXPECTED,
  INT_OR_PERCENT_EXPECTED,
  type IntOrPercent,
  TIMESTAMP_EXPECTED,
  formatDuration,
  formatTimestamp,
  parseDuration,
  parseIntOrPercent,
  parseTimestamp,
  parseUpstreamDuration,
  UPSTREAM_DURATION_EXPECTED,
} from './grammar';
import { desiredPdbName } from './naming';
import {
  ANN_DEFAULT_PDB,
  ANN_LEGACY_NON_READY_SINCE,
  ANN_LEGACY_NON_READY_TTL,
  ANN_MAX_UNAVAILABLE,
  ANN_NON_READY_SINCE,
  ANN_NON_READY_TTL,
  controllerRef,
  createdMs,
  isLegacy,
  isManaged,
  isTerminating,
  isUserOwned,
  LABEL_WORKLOAD_KIND,
  pdbOwners,
} from './ownership';
import { covers, overlaps } from './selectors';
import { API_VERSION, WORKLOAD_KINDS, type Workload, type WorkloadKind, supportedKind, workloadKey } from './workload';

/** Workload states (docs/pdb-controller.md#pdb-states): the `state` label of `kubeaws_pdb_controller_workloads`. */
export type WorkloadState =
  | 'deleting'
  | 'excluded'
  | 'unsupported'
  | 'opted_out'
  | 'below_min_replicas'
  | 'covered'
  | 'overlapping'
  | 'name_conflict'
  | 'protected'
  | 'not_ready'
  | 'ttl_expired';

/** The settings {@link decide} reads (docs/pdb-controller.md#pdb-flags). */
export type DecideSettings = Pick<
  Settings,
  | 'maxUnavailable'
  | 'nonReadyTtlMs'
  | 'minReplicas'
  | 'unhealthyPodEvictionPolicy'
  | 'pdbNameSuffix'
  | 'excludeNamespaces'
  | 'fieldManager'
>;

/**
 * Input of {@link decide}. `pdbs`: every PDB of the workload's namespace (others are ignored).
 * `others`: the other workloads of the namespace, of every enabled kind (the workload itself may be
 * included; it is skipped). `now`: epoch milliseconds.
 */
export interface DecideInput {
  workload: Workload;
  pdbs: readonly V1PodDisruptionBudget[];
  others: readonly Workload[];
  settings: DecideSettings;
  now: number;
  /**
   * This process deleted the workload's managed PDB by the non-ready TTL and has not seen the workload
   * fully ready since (memory, lost on restart: docs/pdb-controller.md#pdb-metrics). A workload that is
   * still not fully ready and has no managed PDB then stays `ttl_expired` instead of `not_ready`.
   * Default false.
   */
  ttlExpiredBefore?: boolean;
}

/** Reference to an object for `events.k8s.io/v1` `regarding` / `related`. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/**
 * An Event to emit (docs/pdb-controller.md#pdb-bad-input, #pdb-events). `regarding` is the decided workload when
 * absent. `related` names the PDB or the other workload concerned.
 */
export interface ControllerEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
  regarding?: ObjectRef;
  related?: ObjectRef;
}

/**
 * One bad input (docs/pdb-controller.md#pdb-bad-input) for the structured log line and
 * `kubeaws_pdb_controller_invalid_input_total{field}`: the annotation key, the offending value, the
 * expected form and what is used instead.
 */
export interface InvalidInput {
  field: string;
  value: string;
  expected: string;
  fallback: string;
}

/**
 * `POST` of a new PDB with the generated name (docs/pdb-controller.md#pdb-create); `events` are emitted once it
 * succeeds.
 */
export interface CreateAction {
  type: 'create';
  name: string;
  pdb: V1PodDisruptionBudget;
  events: ControllerEvent[];
}

/**
 * Server-side apply of `body` (the full desired object of docs/pdb-controller.md#pdb-content) with the field manager
 * and `force: true` (docs/pdb-controller.md#pdb-apply); sent only because `changedFields` is non-empty.
 */
export interface ApplyAction {
  type: 'apply';
  name: string;
  body: V1PodDisruptionBudget;
  changedFields: string[];
  events: ControllerEvent[];
}

/**
 * JSON merge patch (`application/merge-patch+json`) with the `resourceVersion` precondition inside
 * `patch.metadata.resourceVersion`: `adopt` for a legacy PDB (docs/pdb-controller.md#pdb-adoption), `repair`
 * when a field must be removed that apply cannot remove (`minAvailable`, or a field written by POST or patch;
 * #pdb-repair).
 */
export interface PatchAction {
  type: 'patch';
  purpose: 'adopt' | 'repair';
  name: string;
  resourceVersion: string | undefined;
  patch: Record<string, unknown>;
  changedFields: string[];
  events: ControllerEvent[];
}

/**
 * `DELETE` with `preconditions: {uid, resourceVersion}` (docs/pdb-controller.md#pdb-delete); 404/409 end in a requeue.
 */
export interface DeleteAction {
  type: 'delete';
  name: string;
  namespace: string;
  uid: string | undefined;
  resourceVersion: string | undefined;
  reason: string;
  events: ControllerEvent[];
  /** Set on the delete of the non-ready TTL (docs/pdb-controller.md#pdb-ttl), counted in `ttl_expirations_total`. */
  ttlExpiry?: true;
}

/** A desired write. An empty action list is the `none` action of the logs. */
export type Action = CreateAction | ApplyAction | PatchAction | DeleteAction;

/**
 * Output of {@link decide}.
 * - `state`: the state of docs/pdb-controller.md#pdb-states;
 * - `actions`: writes in order (duplicate deletions first); empty = none;
 * - `events`: condition Events (bad input, overlap, name conflict, unsupported, SyncFailed), to emit
 *   when first observed (the caller de-duplicates across resyncs, docs/pdb-controller.md#pdb-bad-input); Events that
 *   report a write are on the action and are emitted after the write succeeds;
 * - `invalidInputs`: rows of docs/pdb-controller.md#pdb-bad-input for the log line and metric;
 * - `requeueAfterMs`: TTL timer (docs/pdb-controller.md#pdb-ttl), ms from `now` to the expiry instant;
 * - `syncFailed`: the kept managed PDB reports `SyncFailed` (docs/pdb-controller.md#pdb-sync-failed, gauge);
 * - `managedPdb`: name of the managed PDB kept or created, if any (gauge of managed PDBs).
 */
export interface Decision {
  key: string;
  state: WorkloadState;
  actions: Action[];
  events: ControllerEvent[];
  invalidInputs: InvalidInput[];
  requeueAfterMs?: number;
  syncFailed: boolean;
  managedPdb?: string;
}

/** Tolerated clock skew of `kubeaws.io/non-ready-since` into the future (docs/pdb-controller.md#pdb-bad-input). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** Event reasons (docs/pdb-controller.md#pdb-bad-input, #pdb-events). */
export const REASON = {
  created: 'PDBCreated',
  updated: 'PDBUpdated',
  deleted: 'PDBDeleted',
  adopted: 'PDBAdopted',
  unsupported: 'Unsupported',
  invalidAnnotation: 'InvalidAnnotation',
  conflictingAnnotations: 'ConflictingAnnotations',
  nameConflict: 'PDBNameConflict',
  overlapping: 'OverlappingSelectors',
  ttlExpired: 'NonReadyTTLExpired',
  syncFailed: 'PDBSyncFailed',
  rejected: 'PDBRejected',
  rolloutsUnavailable: 'RolloutsUnavailable',
} as const;

function pdbRef(p: V1PodDisruptionBudget): ObjectRef {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid,
  };
}

function workloadRef(w: Workload): ObjectRef {
  return { apiVersion: API_VERSION[w.kind], kind: w.kind, namespace: w.namespace, name: w.name, uid: w.uid };
}

function deleteAction(p: V1PodDisruptionBudget, reason: string, events?: ControllerEvent[]): DeleteAction {
  const name = p.metadata?.name ?? '';
  return {
    type: 'delete',
    name,
    namespace: p.metadata?.namespace ?? '',
    uid: p.metadata?.uid,
    resourceVersion: p.metadata?.resourceVersion,
    reason,
    events: events ?? [
      {
        type: 'Normal',
        reason: REASON.deleted,
        note: `Deleted PodDisruptionBudget ${name}: ${reason}`,
        related: pdbRef(p),
      },
    ],
  };
}

/**
 * The PDBs that belong to W (docs/pdb-controller.md#pdb-identity, #pdb-adoption), not terminating, best first:
 * managed PDBs whose controller ownerReference has W's UID (generated name first, then oldest, then
 * by name), followed by adoptable legacy PDBs (an ownerReference of any kind to W's UID and no other
 * controller reference), ordered the same way. The first one is kept; the others are duplicates.
 */
export function ownedPdbs(
  w: Workload,
  pdbs: readonly V1PodDisruptionBudget[],
  generatedName: string,
): V1PodDisruptionBudget[] {
  const rank = (p: V1PodDisruptionBudget) => [
    isManaged(p) ? 0 : 1,
    p.metadata?.name === generatedName ? 0 : 1,
    createdMs(p),
  ];
  const mine = pdbs.filter((p) => {
    if (p.metadata?.namespace !== w.namespace || isTerminating(p)) return false;
    if (isManaged(p)) return controllerRef(p)?.uid === w.uid;
    if (!isLegacy(p)) return false;
    const refs = p.metadata?.ownerReferences ?? [];
    return refs.some((r) => r.uid === w.uid) && !refs.some((r) => r.controller === true && r.uid !== w.uid);
  });
  return mine.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] < rb[i] ? -1 : 1;
    return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
  });
}

function isExcluded(namespace: string, settings: DecideSettings): boolean {
  return settings.excludeNamespaces.some((re) => re.test(namespace));
}

function isUnsupported(w: Workload): boolean {
  return w.workloadRef !== undefined || w.selector === undefined;
}

/**
 * Whether another workload passes rows a–e of {@link decide} (so that overlapping it puts W in row f;
 * docs/pdb-controller.md#pdb-states). Unsupported Rollouts never get a PDB and do not count.
 */
function passesAtoE(o: Workload, pdbs: readonly V1PodDisruptionBudget[], settings: DecideSettings): boolean {
  return (
    !o.deleting &&
    !isExcluded(o.namespace, settings) &&
    !isUnsupported(o) &&
    o.annotations[ANN_DEFAULT_PDB] !== 'false' &&
    o.replicas >= settings.minReplicas &&
    !pdbs.some((p) => !isTerminating(p) && covers(p, o))
  );
}

/**
 * Collects bad input (docs/pdb-controller.md#pdb-bad-input) into the decision: one InvalidInput and one Warning Event
 * each.
 */
function badInput(d: Decision, field: string, value: string, expected: string, fallback: string): void {
  d.invalidInputs.push({ field, value, expected, fallback });
  d.events.push({
    type: 'Warning',
    reason: REASON.invalidAnnotation,
    note: `${field}=${JSON.stringify(value)} is invalid (expected ${expected}); using ${fallback}`,
  });
}

function fmtBudget(v: IntOrPercent): string {
  return typeof v === 'number' ? String(v) : v;
}

/**
 * Effective `maxUnavailable` (docs/pdb-controller.md#pdb-annotations, #pdb-bad-input): the `kubeaws.io/max-unavailable`
 * annotation, else (absent or invalid, including `0`/`0%`) the `--max-unavailable` setting.
 */
function effectiveMaxUnavailable(w: Workload, s: DecideSettings, d: Decision): IntOrPercent {
  const raw = w.annotations[ANN_MAX_UNAVAILABLE];
  if (raw === undefined) return s.maxUnavailable;
  const r = parseIntOrPercent(raw);
  if (r.ok) return r.value;
  badInput(
    d,
    ANN_MAX_UNAVAILABLE,
    raw,
    INT_OR_PERCENT_EXPECTED,
    `${fmtBudget(s.maxUnavailable)} from --max-unavailable`,
  );
  return s.maxUnavailable;
}

/**
 * The effective non-ready TTL (docs/pdb-controller.md#pdb-ttl): `ms` from `non-ready-since` to the
 * expiry, `0` = expire at once (the upstream alias's `0` or a negative value), or `undefined` = never
 * expires; `text` names it in Events and log lines (`1h`, `0 (at once)`).
 */
export interface EffectiveTtl {
  ms: number | undefined;
  text: string;
}

/** Our key and the flag: 0 means off (never expires). */
function ownTtl(ms: number): EffectiveTtl {
  return ms > 0 ? { ms, text: formatDuration(ms) } : { ms: undefined, text: '0' };
}

/**
 * The upstream alias keeps upstream's meaning (docs/pdb-controller.md#pdb-upstream): mikkeloscar/pdb-controller
 * deletes the PDB once `non-ready-since` is before `now - duration` (`overrideNonReadyTTL`, controller.go),
 * so `0` and negative durations expire at once.
 */
function upstreamTtl(ms: number): EffectiveTtl {
  return ms > 0 ? { ms, text: formatDuration(ms) } : { ms: 0, text: '0 (at once)' };
}

/**
 * Effective non-ready TTL (docs/pdb-controller.md#pdb-ttl, #pdb-bad-input, #pdb-upstream):
 * `kubeaws.io/non-ready-ttl` (our duration grammar, `0` = never expire), else
 * `pdb-controller.zalando.org/non-ready-ttl` (Go's grammar and upstream's meaning, `0` = at once), else
 * `--non-ready-ttl` (`0` = off). An invalid level falls through to the next with an InvalidAnnotation;
 * two valid annotations of different meaning give ConflictingAnnotations and ours wins.
 */
function effectiveTtl(w: Workload, s: DecideSettings, d: Decision): EffectiveTtl {
  const oursRaw = w.annotations[ANN_NON_READY_TTL];
  const aliasRaw = w.annotations[ANN_LEGACY_NON_READY_TTL];
  const oursParsed = oursRaw === undefined ? undefined : parseDuration(oursRaw);
  const aliasParsed = aliasRaw === undefined ? undefined : parseUpstreamDuration(aliasRaw);
  const ours = oursParsed?.ok ? ownTtl(oursParsed.value) : undefined;
  const alias = aliasParsed?.ok ? upstreamTtl(aliasParsed.value) : undefined;
  const flag = ownTtl(s.nonReadyTtlMs);
  const flagText = `${flag.text} from --non-ready-ttl`;
  if (oursParsed && !oursParsed.ok) {
    const fallback = alias ? `${alias.text} from ${ANN_LEGACY_NON_READY_TTL}` : flagText;
    badInput(d, ANN_NON_READY_TTL, oursRaw!, DURATION_EXPECTED, fallback);
  }
  if (aliasParsed && !aliasParsed.ok) {
    const fallback = ours ? `${ours.text} from ${ANN_NON_READY_TTL}` : flagText;
    badInput(d, ANN_LEGACY_NON_READY_TTL, aliasRaw!, UPSTREAM_DURATION_EXPECTED, fallback);
  }
  if (ours && alias && ours.ms !== alias.ms) {
    d.events.push({
      type: 'Warning',
      reason: REASON.conflictingAnnotations,
      note: `${ANN_NON_READY_TTL}=${JSON.stringify(oursRaw)} and ${ANN_LEGACY_NON_READY_TTL}=${JSON.stringify(aliasRaw)} differ; using ${ours.text} from ${ANN_NON_READY_TTL}`,
    });
  }
  return ours ?? alias ?? flag;
}

/**
 * `kubeaws.io/default-pdb` is `"false"` (`opted_out`); any other value except `"true"` is bad input
 * (docs/pdb-controller.md#pdb-states, #pdb-bad-input).
 */
function optedOut(w: Workload, d: Decision): boolean {
  const raw = w.annotations[ANN_DEFAULT_PDB];
  if (raw === undefined || raw === 'true') return false;
  if (raw === 'false') return true;
  badInput(d, ANN_DEFAULT_PDB, raw, BOOL_EXPECTED, '"true" (protected)');
  return false;
}

/**
 * The `non-ready-since` instant of a kept PDB (docs/pdb-controller.md#pdb-ttl, #pdb-bad-input), in epoch ms truncated
 * to seconds: the existing annotation (ours, or for a legacy PDB the upstream one), else `now`. An
 * unparsable value, or one more than 5 min in the future, is bad input and resets to `now`.
 */
function nonReadySince(p: V1PodDisruptionBudget, now: number, d: Decision): number {
  const nowSec = Math.floor(now / 1000) * 1000;
  const anns = p.metadata?.annotations ?? {};
  const field =
    anns[ANN_NON_READY_SINCE] !== undefined || !isLegacy(p) ? ANN_NON_READY_SINCE : ANN_LEGACY_NON_READY_SINCE;
  const raw = anns[field];
  if (raw === undefined) return nowSec;
  const t = parseTimestamp(raw);
  if (t.ok && t.value <= now + MAX_FUTURE_SKEW_MS) return Math.floor(t.value / 1000) * 1000;
  badInput(d, field, raw, `${TIMESTAMP_EXPECTED}, at most 5m in the future`, 'now (the TTL clock restarts)');
  return nowSec;
}

/**
 * Decides one workload (docs/pdb-controller.md#pdb-states, #pdb-ttl, #pdb-writes, #pdb-sync-failed, #pdb-bad-input).
 * Rows in order: a deleting (nothing) → b excluded → unsupported Rollout → c opted_out → d below_min_replicas
 * → e covered → f overlapping (rows b–f delete W's PDBs, legacy ones included) → g name_conflict →
 * h protected (create, adopt or converge) → i not_ready / ttl_expired (docs/pdb-controller.md#pdb-ttl).
 * Annotations are validated (and bad input reported) for every workload that reaches row c.
 */
export function decide(input: DecideInput): Decision {
  const { workload: w, settings: s, now } = input;
  const pdbs = input.pdbs.filter((p) => p.metadata?.namespace === w.namespace);
  const d: Decision = {
    key: workloadKey(w),
    state: 'protected',
    actions: [],
    events: [],
    invalidInputs: [],
    syncFailed: false,
  };
  const name = desiredPdbName(w.kind, w.name, s.pdbNameSuffix);
  const mine = ownedPdbs(w, pdbs, name);
  const end = (state: WorkloadState, reason?: string): Decision => {
    d.state = state;
    if (reason !== undefined) for (const p of mine) d.actions.push(deleteAction(p, reason));
    return d;
  };

  if (w.deleting) return end('deleting');
  if (isExcluded(w.namespace, s)) return end('excluded', `namespace ${w.namespace} is excluded`);
  if (isUnsupported(w)) {
    const why = w.workloadRef
      ? 'Rollouts with spec.workloadRef are not supported'
      : 'the workload has no spec.selector';
    d.events.push({ type: 'Normal', reason: REASON.unsupported, note: `No default PodDisruptionBudget: ${why}` });
    return end('unsupported', `unsupported: ${why}`);
  }

  const isOptedOut = optedOut(w, d);
  const maxUnavailable = effectiveMaxUnavailable(w, s, d);
  const ttl = effectiveTtl(w, s, d);

  if (isOptedOut) return end('opted_out', `opted out (${ANN_DEFAULT_PDB}: "false")`);
  if (w.replicas < s.minReplicas)
    return end('below_min_replicas', `below min replicas (${w.replicas} < ${s.minReplicas})`);
  const coverer = pdbs
    .filter((p) => !isTerminating(p) && covers(p, w))
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0];
  if (coverer) return end('covered', `covered by ${w.namespace}/${coverer.metadata?.name}`);
  const overlapping = input.others
    .filter((o) => o.uid !== w.uid && overlaps(w, o) && passesAtoE(o, pdbs, s))
    .sort((a, b) => workloadKey(a).localeCompare(workloadKey(b)));
  if (overlapping.length) {
    for (const o of overlapping) {
      d.events.push({
        type: 'Warning',
        reason: REASON.overlapping,
        note: `Selector overlaps ${o.kind} ${o.namespace}/${o.name}; neither gets a default PodDisruptionBudget`,
        related: workloadRef(o),
      });
    }
    return end('overlapping', `selector overlaps ${overlapping.map((o) => `${o.kind} ${o.name}`).join(', ')}`);
  }

  const [keep, ...duplicates] = mine;
  for (const p of duplicates)
    d.actions.push(deleteAction(p, `duplicate of PodDisruptionBudget ${keep.metadata?.name}`));

  if (!keep) {
    const holder = pdbs.find((p) => p.metadata?.name === name);
    if (holder && !isTerminating(holder)) {
      d.state = 'name_conflict';
      // A managed PDB of another owner (e.g. of a deleted workload with the same name) is removed by the
      // garbage collector or the orphan rule; only foreign PDBs are reported.
      if (!isManaged(holder)) {
        d.events.push({
          type: 'Warning',
          reason: REASON.nameConflict,
          note: `PodDisruptionBudget ${name} exists and is not managed by pdb-controller; no default PodDisruptionBudget is created`,
          related: pdbRef(holder),
        });
      }
      return d;
    }
    d.state = w.fullyReady ? 'protected' : input.ttlExpiredBefore ? 'ttl_expired' : 'not_ready';
    // Never create for a workload that is not fully ready (docs/pdb-controller.md#pdb-ttl), nor while the name is still
    // held by a terminating PDB (the create would fail with 409).
    if (!w.fullyReady || holder) return d;
    const pdb = buildDesiredPdb(w, {
      name,
      maxUnavailable,
      unhealthyPodEvictionPolicy: s.unhealthyPodEvictionPolicy,
      nonReadySince: undefined,
    });
    d.actions.push({
      type: 'create',
      name,
      pdb,
      events: [
        {
          type: 'Normal',
          reason: REASON.created,
          note: `Created PodDisruptionBudget ${name} (maxUnavailable: ${fmtBudget(maxUnavailable)})`,
          related: { ...pdbRef(pdb), uid: undefined },
        },
      ],
    });
    d.managedPdb = name;
    return d;
  }

  const keepName = keep.metadata?.name ?? '';
  let since: string | undefined;
  if (w.fullyReady) {
    d.state = 'protected';
  } else if (ttl.ms === undefined) {
    // No TTL applies: non-ready-since is neither written nor moved (docs/pdb-controller.md#pdb-ttl); one
    // already on our PDB stays as it is until the workload is fully ready again.
    d.state = 'not_ready';
    since = isLegacy(keep) ? undefined : keep.metadata?.annotations?.[ANN_NON_READY_SINCE];
  } else {
    const sinceMs = nonReadySince(keep, now, d);
    if (now >= sinceMs + ttl.ms) {
      d.state = 'ttl_expired';
      d.actions.push({
        ...deleteAction(keep, 'non-ready TTL expired', [
          {
            type: 'Warning',
            reason: REASON.ttlExpired,
            note: `Not fully ready since ${formatTimestamp(sinceMs)} (TTL ${ttl.text}); deleted PodDisruptionBudget ${keepName}`,
            related: pdbRef(keep),
          },
        ]),
        ttlExpiry: true,
      });
      return d;
    }
    d.state = 'not_ready';
    since = formatTimestamp(sinceMs);
    d.requeueAfterMs = sinceMs + ttl.ms - now;
  }

  d.managedPdb = keepName;
  const desired = buildDesiredPdb(w, {
    name: keepName,
    maxUnavailable,
    unhealthyPodEvictionPolicy: s.unhealthyPodEvictionPolicy,
    nonReadySince: since,
  });
  const related = pdbRef(keep);
  if (isLegacy(keep)) {
    const { patch, changedFields } = adoptionPatch(keep, desired);
    d.actions.push({
      type: 'patch',
      purpose: 'adopt',
      name: keepName,
      resourceVersion: keep.metadata?.resourceVersion,
      patch,
      changedFields,
      events: [{ type: 'Normal', reason: REASON.adopted, note: `Adopted PodDisruptionBudget ${keepName}`, related }],
    });
  } else {
    const diff = diffPdb(keep, desired, s.fieldManager);
    if (diff.changedFields.length) {
      // Setting or clearing our own non-ready-since annotation is bookkeeping, not an update worth an Event.
      const reported = diff.changedFields.filter((f) => f !== `metadata.annotations[${ANN_NON_READY_SINCE}]`);
      const events: ControllerEvent[] = reported.length
        ? [
            {
              type: 'Normal',
              reason: REASON.updated,
              note: `Updated PodDisruptionBudget ${keepName}: ${reported.join(', ')}`,
              related,
            },
          ]
        : [];
      d.actions.push(
        diff.needsPatch
          ? {
              type: 'patch',
              purpose: 'repair',
              name: keepName,
              resourceVersion: keep.metadata?.resourceVersion,
              patch: diff.patch,
              changedFields: diff.changedFields,
              events,
            }
          : { type: 'apply', name: keepName, body: desired, changedFields: diff.changedFields, events },
      );
    }
  }

  const cond = keep.status?.conditions?.find((c) => c.type === 'DisruptionAllowed');
  if (cond?.reason === 'SyncFailed') {
    d.syncFailed = true;
    d.events.push({
      type: 'Warning',
      reason: REASON.syncFailed,
      note: `PodDisruptionBudget ${keepName} status cannot be computed: ${cond.message ?? ''}`,
      related,
    });
  }
  return d;
}

/**
 * Managed and legacy PDBs to delete because their owner is gone (docs/pdb-controller.md#pdb-adoption, #pdb-orphans).
 * `liveOwnerUids[kind]`: UIDs of every cached workload of that kind; `syncedKinds`: kinds whose
 * informer runs and has synced. A managed PDB is an orphan when its controller ownerReference's UID is
 * not live (or it has none; the kind then comes from `kubeaws.io/workload-kind`); a legacy PDB when
 * none of its supported-kind ownerReferences is live. PDBs whose owner kind is not synced, legacy PDBs
 * without such a reference, and terminating PDBs are left untouched. Each delete carries a
 * `PDBDeleted` Event regarding the PDB itself.
 */
export function findOrphans(
  pdbs: readonly V1PodDisruptionBudget[],
  liveOwnerUids: Readonly<Partial<Record<WorkloadKind, ReadonlySet<string>>>>,
  syncedKinds: ReadonlySet<WorkloadKind>,
): DeleteAction[] {
  const out: DeleteAction[] = [];
  const labelKind = (p: V1PodDisruptionBudget): WorkloadKind | undefined =>
    WORKLOAD_KINDS.find((k) => k === p.metadata?.labels?.[LABEL_WORKLOAD_KIND]);
  const orphan = (p: V1PodDisruptionBudget, reason: string) => {
    const ev: ControllerEvent = {
      type: 'Normal',
      reason: REASON.deleted,
      note: `Deleted PodDisruptionBudget ${p.metadata?.name}: ${reason}`,
      regarding: pdbRef(p),
    };
    out.push(deleteAction(p, reason, [ev]));
  };
  for (const p of pdbs) {
    if (isTerminating(p) || isUserOwned(p)) continue;
    const refs = (p.metadata?.ownerReferences ?? []).flatMap((r) => {
      const kind = supportedKind(r.apiVersion, r.kind);
      return kind ? [{ kind, uid: r.uid }] : [];
    });
    if (isManaged(p)) {
      const ref = controllerRef(p);
      const kind = ref ? supportedKind(ref.apiVersion, ref.kind) : labelKind(p);
      if (!kind || !syncedKinds.has(kind)) continue;
      if (!ref || !liveOwnerUids[kind]?.has(ref.uid))
        orphan(
          p,
          ref ? `orphaned (owner ${kind} ${ref.name} ${ref.uid} is gone)` : `orphaned (no ${kind} owner reference)`,
        );
    } else {
      if (!refs.length || refs.some((r) => !syncedKinds.has(r.kind))) continue;
      if (!refs.some((r) => liveOwnerUids[r.kind]?.has(r.uid)))
        orphan(p, 'orphaned (legacy PodDisruptionBudget whose owner is gone)');
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting on first observation (docs/pdb-controller.md#pdb-bad-input)

/** Signature of a condition Event: Events with equal signatures report one condition. */
export function eventSignature(ev: ControllerEvent): string {
  return JSON.stringify([ev.type, ev.reason, ev.note, ev.related?.kind, ev.related?.name]);
}

/** Signature of a bad-input row: its field, value and expected form. */
export function inputSignature(i: InvalidInput): string {
  return JSON.stringify([i.field, i.value, i.expected]);
}

/**
 * Reporting on first observation only (docs/pdb-controller.md#pdb-bad-input): of the conditions observed
 * now (`current`), those whose signature was not observed the previous time (`previous`) are `fresh`,
 * to be reported; `seen` is what to remember for the next time. A condition that persists across
 * reconciles and resyncs is reported once; one that cleared and came back is reported again, and so is
 * everything after a restart or a leader change (empty memory).
 */
export function firstObservations<T>(
  previous: ReadonlySet<string>,
  current: readonly T[],
  signature: (c: T) => string,
): { fresh: T[]; seen: Set<string> } {
  const seen = new Set<string>();
  const fresh: T[] = [];
  for (const c of current) {
    const sig = signature(c);
    seen.add(sig);
    if (!previous.has(sig)) fresh.push(c);
  }
  return { fresh, seen };
}

/**
 * Every bad-input row of one decision (docs/pdb-controller.md#pdb-bad-input), for the `invalid input` log
 * line and `invalid_input_total`: the invalid values of `d.invalidInputs`, then one row per condition
 * Event that reports bad input too: a generated name taken by a user PDB (`metadata.name`), two valid
 * but different TTL annotations (the upstream alias), and each overlapping workload (`spec.selector`).
 */
export function badInputRows(d: Decision, w: Workload): InvalidInput[] {
  const rows: InvalidInput[] = [...d.invalidInputs];
  for (const ev of d.events) {
    if (ev.reason === REASON.nameConflict) {
      rows.push({
        field: 'metadata.name',
        value: ev.related?.name ?? '',
        expected: 'a PodDisruptionBudget name not taken by a PodDisruptionBudget that pdb-controller does not manage',
        fallback: 'no managed PodDisruptionBudget',
      });
    } else if (ev.reason === REASON.conflictingAnnotations) {
      rows.push({
        field: ANN_LEGACY_NON_READY_TTL,
        value: w.annotations[ANN_LEGACY_NON_READY_TTL] ?? '',
        expected: `absent, or the same duration as ${ANN_NON_READY_TTL}`,
        fallback: `${w.annotations[ANN_NON_READY_TTL]} from ${ANN_NON_READY_TTL}`,
      });
    } else if (ev.reason === REASON.overlapping) {
      rows.push({
        field: 'spec.selector',
        value: canonical(w.selector),
        expected: `a selector that does not overlap ${ev.related?.kind} ${ev.related?.namespace}/${ev.related?.name}`,
        fallback: 'no managed PodDisruptionBudget for either workload',
      });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Orphans (docs/pdb-controller.md#pdb-orphans)

/**
 * `a >= b` for resourceVersions: numerically when both are decimal (etcd revisions, as kube-apiserver
 * serves them), else only when equal (resourceVersions are opaque to clients:
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions). False when either is
 * missing.
 */
export function resourceVersionAtLeast(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  if (/^[0-9]+$/.test(a) && /^[0-9]+$/.test(b)) return BigInt(a) >= BigInt(b);
  return a === b;
}

/**
 * Who the log line of an orphan delete is about (docs/pdb-controller.md#pdb-logs, #pdb-orphans): the
 * object of its work-queue key, the PDB itself (`kind: "PodDisruptionBudget"`, its namespace, name and
 * UID), `state: "orphaned"`, and `owner`, the gone owner as the PDB names it: the kind and name and UID
 * of its controller ownerReference (a managed PDB) or of its first ownerReference of a supported kind
 * (an upstream PDB), else the kind of its `kubeaws.io/workload-kind` label alone.
 */
export interface OrphanSubject {
  kind: 'PodDisruptionBudget';
  namespace: string;
  name: string;
  uid: string | undefined;
  state: 'orphaned';
  owner: { kind: string; name?: string; uid?: string };
}

/** The {@link OrphanSubject} of PDB `p`. */
export function orphanSubject(p: V1PodDisruptionBudget): OrphanSubject {
  const [ref] = pdbOwners(p);
  return {
    kind: 'PodDisruptionBudget',
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid,
    state: 'orphaned',
    owner: ref
      ? { kind: ref.kind, name: ref.name, uid: ref.uid }
      : { kind: p.metadata?.labels?.[LABEL_WORKLOAD_KIND] ?? 'unknown' },
  };
}

/** How long an apparent orphan waits for a lagging owner cache before it is judged again (ms). */
export const ORPHAN_RECHECK_MS = 5_000;

/** One owner of a PDB ({@link pdbOwners}) as the workload cache of its kind sees it. */
export interface OwnerInCache {
  kind: WorkloadKind;
  name: string;
  uid: string;
  /** The informer of the kind runs and has synced. */
  synced: boolean;
  /** UID of the cached workload of that kind, namespace and name; undefined when none is cached. */
  cachedUid: string | undefined;
  /** The last resourceVersion the kind's cache has seen (list, event or bookmark). */
  cacheResourceVersion: string;
}

/**
 * The orphan check of one managed or legacy PDB (docs/pdb-controller.md#pdb-orphans): `delete` when
 * {@link findOrphans} judges it an orphan from the owner caches, with `syncedKinds` the kinds whose
 * informer runs and has synced. An owner may have been created after its cache's last event, so its
 * absence is trusted only once that cache has seen the PDB's resourceVersion; until then the result is
 * `recheckAfterMs` ({@link ORPHAN_RECHECK_MS}) instead. `{}`: the PDB is not an orphan.
 */
export function decideOrphan(
  p: V1PodDisruptionBudget,
  owners: readonly OwnerInCache[],
  syncedKinds: ReadonlySet<WorkloadKind>,
): { delete?: DeleteAction; recheckAfterMs?: number } {
  const live: Partial<Record<WorkloadKind, Set<string>>> = {};
  let cacheBehind = false;
  for (const o of owners) {
    if (!o.synced) continue;
    if (o.cachedUid === o.uid) (live[o.kind] ??= new Set()).add(o.uid);
    else if (!resourceVersionAtLeast(o.cacheResourceVersion, p.metadata?.resourceVersion)) cacheBehind = true;
  }
  const [del] = findOrphans([p], live, syncedKinds);
  if (!del) return {};
  return cacheBehind ? { recheckAfterMs: ORPHAN_RECHECK_MS } : { delete: del };
}

// ---------------------------------------------------------------------------------------------
// Outcomes of writes (docs/pdb-controller.md#pdb-writes)

/** The `action` of the Events of a write: `Create`, `Update` (apply, patch) or `Delete`. */
export const EVENT_ACTION: Readonly<Record<Action['type'], string>> = {
  create: 'Create',
  apply: 'Update',
  patch: 'Update',
  delete: 'Delete',
};

/** The `action` of the Events a successful write emits: {@link EVENT_ACTION}, `Adopt` for an adoption patch. */
export function writeEventAction(a: Action): string {
  return a.type === 'patch' && a.purpose === 'adopt' ? 'Adopt' : EVENT_ACTION[a.type];
}

/**
 * A failed write as {@link writeFailure} sees it: HTTP status (0 when no response came), the
 * `Status.reason` (e.g. `NamespaceTerminating`), the message, and the field of the first
 * `Status.details.causes` entry, if any.
 */
export interface WriteError {
  statusCode: number;
  reason?: string;
  message: string;
  field?: string;
}

/**
 * What follows a failed write. `result`: the `result` label of `pdb_writes_total`; `next`: `requeue`
 * (decide again with backoff, once the caches caught up), `done` (drop the key until its next event),
 * or `retry` (the reconcile fails: retried with exponential backoff); `level` and `message`: the log
 * line; `rejection`: the `PDBRejected` Warning (with its Event `action`) and bad-input row, for an
 * invalid PDB whose message was not reported last time.
 */
export interface WriteFailure {
  result: 'conflict' | 'error';
  next: 'requeue' | 'done' | 'retry';
  level: 'info' | 'error';
  message: string;
  rejection?: { message: string; action: string; event: ControllerEvent; input: InvalidInput };
}

/**
 * Decides what follows a failed write of action `a` (docs/pdb-controller.md#pdb-create, #pdb-delete,
 * #pdb-ns-terminating, #pdb-rejected): 404 and 409 (a stale cache or a concurrent change) requeue; 403
 * `NamespaceTerminating` is not retried; 400/422 (the API rejected the PDB, e.g. by an admission policy)
 * is reported once per message (`lastRejected`: the message reported last for this workload) and
 * retried with backoff, like every other failure.
 */
export function writeFailure(a: Action, err: WriteError, lastRejected?: string): WriteFailure {
  const op = a.type;
  if (err.statusCode === 404 || err.statusCode === 409) {
    return {
      result: 'conflict',
      next: 'requeue',
      level: 'info',
      message: `${op} of PodDisruptionBudget conflicted; requeued`,
    };
  }
  if (err.reason === 'NamespaceTerminating') {
    return {
      result: 'error',
      next: 'done',
      level: 'info',
      message: `${op} of PodDisruptionBudget refused: namespace is terminating`,
    };
  }
  const f: WriteFailure = {
    result: 'error',
    next: 'retry',
    level: 'error',
    message: `${op} of PodDisruptionBudget failed`,
  };
  if ((err.statusCode === 400 || err.statusCode === 422) && err.message !== lastRejected) {
    f.rejection = {
      message: err.message,
      action: EVENT_ACTION[op],
      event: {
        type: 'Warning',
        reason: REASON.rejected,
        note: `The API server rejected PodDisruptionBudget ${a.name} (${op}): ${err.message}`,
      },
      input: {
        field: err.field ?? 'PodDisruptionBudget',
        value: a.name,
        expected: 'a PodDisruptionBudget the API server accepts',
        fallback: 'no change; retried with backoff',
      },
    };
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts (docs/pdb-controller.md#pdb-rollouts)

/** Outcome of one API request: the response body, or the failure's HTTP status (0: no response) and message. */
export type RequestOutcome<T> = { ok: true; body: T } | { ok: false; statusCode: number; message: string };

/**
 * Whether Rollouts can be watched: `available`; `unavailable` with the problem to report (the CRD is
 * missing or access is forbidden: Rollouts are skipped); or `unknown` (any other failure, e.g. a 5xx:
 * nothing changes until the next discovery).
 */
export type RolloutsCheck = { kind: 'available' } | { kind: 'unavailable'; problem: string } | { kind: 'unknown' };

/**
 * Judges the discovery of the Rollout API (docs/pdb-controller.md#pdb-rollouts) from the outcome of
 * `GET /apis/argoproj.io/v1alpha1` (`discovery`) and, when it was tried, of listing rollouts with
 * `limit=1` (`list`, tried only before the Rollout informer runs, to find missing RBAC early).
 */
export function rolloutsAvailability(
  discovery: RequestOutcome<{ resources?: Array<{ name?: string }> }>,
  list?: RequestOutcome<unknown>,
): RolloutsCheck {
  const unavailable = (problem: string): RolloutsCheck => ({ kind: 'unavailable', problem });
  if (!discovery.ok) {
    if (discovery.statusCode === 404)
      return unavailable('the API argoproj.io/v1alpha1 is not served (CRD rollouts.argoproj.io not installed)');
    if (discovery.statusCode === 403)
      return unavailable(`discovery of argoproj.io/v1alpha1 is forbidden: ${discovery.message}`);
    return { kind: 'unknown' };
  }
  if (!discovery.body.resources?.some((r) => r.name === 'rollouts'))
    return unavailable('argoproj.io/v1alpha1 does not serve rollouts (CRD rollouts.argoproj.io not installed)');
  if (!list || list.ok) return { kind: 'available' };
  if (list.statusCode === 403) return unavailable(`listing rollouts.argoproj.io is forbidden: ${list.message}`);
  if (list.statusCode === 404) return unavailable('rollouts.argoproj.io is not served (CRD not installed)');
  return { kind: 'unknown' };
}

/**
 * The report of a Rollouts problem (docs/pdb-controller.md#pdb-rollouts, #pdb-bad-input): the bad-input
 * row of `--enable-rollouts` and the `RolloutsUnavailable` Warning for the controller's own Pod, both
 * naming the retry period (`periodMs`, `--rollouts-discovery-period`).
 */
export function rolloutsUnavailable(
  problem: string,
  periodMs: number,
): { input: InvalidInput; event: ControllerEvent } {
  const retry = `retrying every ${Math.round(periodMs / 1000)}s`;
  return {
    input: {
      field: 'enable-rollouts',
      value: 'true',
      expected: 'argoproj.io/v1alpha1 rollouts served (CRD installed) and readable (list, watch)',
      fallback: `Rollouts skipped; ${retry}`,
    },
    event: {
      type: 'Warning',
      reason: REASON.rolloutsUnavailable,
      note: `Argo Rollouts are not managed: ${problem}. Deployments and StatefulSets are unaffected; ${retry}`,
    },
  };
}
