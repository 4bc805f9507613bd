/**
 * The decision function (docs/downscaler.md#ds-evaluation):
 * `(object, namespace, HPA index, config, now) → none | patch | skip(reason)`. Pure: it reads only its inputs (the
 * caches are passed as lookup functions) and returns the patch to write, the Events to emit now (configuration
 * problems, notices) and the Events to emit after a successful write. Order: hard filters → owner check → annotations
 * of object and Namespace → exclusion → force group → schedule group → target T → HPA rules (docs/downscaler.md#ds-hpa)
 * → grace (#ds-grace) → action table (#ds-actions).
 */
import {
  ANN,
  type AnnotationParser,
  type ConfigProblem,
  type ParsedScope,
  type ScopeName,
  type ScopeSettings,
  type Setting,
  parseOriginal,
} from './annotations';
import { type BoolOrSpec, type Spec, describeWrap, parseInstant } from './grammar';
import { matchIndex } from './match';
import { DEFAULT_SCOPE, type Settings } from './settings';
import type { LocalTimeCache } from './tz';
import { type Workload, buildPatch, currentReplicas } from './workload';

/** Mode (docs/downscaler.md#ds-modes): up, down, or hold (no change in either direction). */
export type Mode = 'up' | 'down' | 'hold';

/** Direction of a write: `down` (scale down), `up` (restore), `clear` (remove `original-replicas` only). */
export type Direction = 'down' | 'up' | 'clear';

/** An Event to emit, about the object itself, its Namespace, or (for HPA delegation) the HPA's target. */
export interface Notice {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  on: 'object' | 'namespace' | 'target';
  /** The configuration problem behind a Warning (counted once per object, key and value). */
  problem?: ConfigProblem;
}

/** Output of {@link decide}. */
export interface Decision {
  /** `patch`: write `patch`; `none`: nothing to do; `skip`: blocked by invalid or conflicting config. */
  action: 'none' | 'patch' | 'skip';
  /**
   * Why: for patches `ScaleDown`, `ScaleUp`, `RestoreSkipped`; for none e.g. `AtTarget`, `Hold`,
   * `NoOriginal`, `Grace`, `DelegatedToHPA`, an exclusion reason; for skips the Event reason.
   */
  reason: string;
  /** Counting bucket for the `excluded_workloads` / `skipped_workloads` gauges. */
  category?: 'excluded' | 'skipped';
  direction?: Direction;
  /** JSON merge patch without `metadata.resourceVersion` (added by the writer). */
  patch?: Record<string, any>;
  /** Replica value before and after the write. */
  from?: number;
  to?: number;
  mode?: Mode;
  /** Target T in downtime, when resolved. */
  target?: number;
  /** Scope that decided the mode. */
  scope?: ScopeName;
  /** Explanation naming the deciding scope and item, e.g. `outside uptime (flag --default-uptime)`. */
  why: string;
  /** Events to emit now (deduplicated by the caller). */
  notices: Notice[];
  /** Events to emit after the PATCH succeeded. */
  onWrite: Notice[];
  /** True when `original-replicas` was overwritten with a different value. */
  overwritesOriginal?: boolean;
  /** The object carries a valid `original-replicas`. */
  downscaled: boolean;
  /** For a workload managed by exactly one delegable HPA (docs/downscaler.md#ds-hpa rule 4): what its HPA should do. */
  delegate?: { mode: Mode; target: number; why: string; scope?: ScopeName; inGrace: boolean };
}

/** Inputs of {@link decide}. */
export interface DecideInput {
  obj: Workload;
  /** Annotations of the object's Namespace (undefined when not cached: no namespace scope). */
  namespaceAnnotations?: Record<string, string>;
  settings: Settings;
  parser: AnnotationParser;
  /** Evaluation time, ms since the epoch. */
  now: number;
  /** HPAs in the object's namespace whose `scaleTargetRef` names it. */
  hpasFor: (w: Workload) => Workload[];
  /** The cached workload an HPA targets (same namespace), if watched. */
  targetOf: (hpa: Workload) => Workload | undefined;
  /**
   * ScaledObjects in the object's namespace whose `spec.scaleTargetRef` names it (watched only with
   * `scaledobjects` in `--include-resources`; docs/downscaler.md#ds-keda). Absent: none are known.
   */
  scaledObjectsFor?: (w: Workload) => Workload[];
  cache?: LocalTimeCache;
}

const NEVER: Spec = { kind: 'never' };
const ALWAYS: Spec = { kind: 'always' };

interface ChainScope {
  name: ScopeName;
  s: ScopeSettings;
}

/**
 * Hard filters (docs/downscaler.md#ds-filters), which annotations cannot override. Returns the exclusion reason
 * (`ExcludedNamespace`, `ExcludedName`, `LabelsNotMatching`) or undefined when in scope.
 */
export function hardFilter(w: Workload, settings: Settings): string | undefined {
  if (settings.namespaces.length && !settings.namespaces.includes(w.namespace)) return 'ExcludedNamespace';
  if (settings.excludeNamespaces.some((r) => r.test(w.namespace))) return 'ExcludedNamespace';
  if (settings.excludeNames.some((r) => r.test(w.name))) return 'ExcludedName';
  if (settings.matchingLabels.length) {
    const ok = Object.entries(w.labels).some(([k, v]) => settings.matchingLabels.some((r) => r.test(`${k}=${v}`)));
    if (!ok) return 'LabelsNotMatching';
  }
  return undefined;
}

function itemLabel(spec: Spec, i: number): string {
  return spec.kind === 'list' ? ` item ${i + 1}` : '';
}

function active(v: BoolOrSpec, now: number, cache?: LocalTimeCache): { on: boolean; item: string } {
  if (v.kind === 'bool') return { on: v.value, item: '' };
  const i = matchIndex(v.spec, now, cache);
  return { on: i >= 0, item: i >= 0 ? itemLabel(v.spec, i) : '' };
}

function fmt(n: number): string {
  return Number.isFinite(n) ? String(n) : '∞';
}

/** Result of the mode resolution: the mode, its scope and explanation, and an optional conflict Warning. */
interface ModeResult {
  mode: Mode;
  scope: ScopeName;
  why: string;
  conflict?: Notice;
}

function forceMode(chain: ChainScope[], now: number, cache?: LocalTimeCache): ModeResult | undefined {
  const sc = chain.find((c) => c.s.forceUptime || c.s.forceDowntime);
  if (!sc) return undefined;
  const fu = sc.s.forceUptime ? active(sc.s.forceUptime.value, now, cache) : { on: false, item: '' };
  const fd = sc.s.forceDowntime ? active(sc.s.forceDowntime.value, now, cache) : { on: false, item: '' };
  if (fu.on && fd.on) {
    const why = `force-uptime and force-downtime both active (${sc.s.forceUptime!.source}, ${sc.s.forceDowntime!.source})`;
    return {
      mode: 'hold',
      scope: sc.name,
      why,
      conflict: {
        type: 'Warning',
        reason: 'ConflictingForce',
        message: `${why}: holding the current replicas`,
        on: 'object',
      },
    };
  }
  if (fu.on) return { mode: 'up', scope: sc.name, why: `force-uptime (${sc.s.forceUptime!.source}${fu.item})` };
  if (fd.on) return { mode: 'down', scope: sc.name, why: `force-downtime (${sc.s.forceDowntime!.source}${fd.item})` };
  return undefined;
}

function scheduleMode(chain: ChainScope[], now: number, cache?: LocalTimeCache): ModeResult {
  const sc = chain.find((c) => c.s.uptime || c.s.downtime || c.s.upscalePeriod || c.s.downscalePeriod)!;
  const s = sc.s;
  if (s.uptime || s.downtime) {
    const up: Setting<Spec> = s.uptime ?? { value: ALWAYS, scope: sc.name, source: 'default' };
    const down: Setting<Spec> = s.downtime ?? { value: NEVER, scope: sc.name, source: 'default' };
    const di = matchIndex(down.value, now, cache);
    if (di >= 0)
      return { mode: 'down', scope: sc.name, why: `inside downtime (${down.source}${itemLabel(down.value, di)})` };
    const ui = matchIndex(up.value, now, cache);
    if (ui >= 0) {
      if (s.uptime) {
        const what = up.value.kind === 'always' ? 'uptime always' : 'inside uptime';
        return { mode: 'up', scope: sc.name, why: `${what} (${up.source}${itemLabel(up.value, ui)})` };
      }
      return { mode: 'up', scope: sc.name, why: `outside downtime (${down.source})` };
    }
    return { mode: 'down', scope: sc.name, why: `outside uptime (${up.source})` };
  }
  const upP = s.upscalePeriod ? matchIndex(s.upscalePeriod.value, now, cache) : -1;
  const downP = s.downscalePeriod ? matchIndex(s.downscalePeriod.value, now, cache) : -1;
  if (upP >= 0 && downP >= 0) {
    const why = `upscale-period and downscale-period both match (${s.upscalePeriod!.source}${itemLabel(s.upscalePeriod!.value, upP)}, ${s.downscalePeriod!.source}${itemLabel(s.downscalePeriod!.value, downP)})`;
    return {
      mode: 'hold',
      scope: sc.name,
      why,
      conflict: {
        type: 'Warning',
        reason: 'ConflictingSchedule',
        message: `${why}: holding the current replicas`,
        on: 'object',
      },
    };
  }
  if (upP >= 0) {
    return {
      mode: 'up',
      scope: sc.name,
      why: `inside upscale-period (${s.upscalePeriod!.source}${itemLabel(s.upscalePeriod!.value, upP)})`,
    };
  }
  if (downP >= 0) {
    return {
      mode: 'down',
      scope: sc.name,
      why: `inside downscale-period (${s.downscalePeriod!.source}${itemLabel(s.downscalePeriod!.value, downP)})`,
    };
  }
  return { mode: 'hold', scope: sc.name, why: 'outside upscale-period and downscale-period' };
}

/** The exclusion reason from the exclude and exclude-until groups (docs/downscaler.md#ds-scopes), or undefined. */
function exclusion(chain: ChainScope[], now: number, cache?: LocalTimeCache): string | undefined {
  for (const c of chain) {
    const until = c.s.excludeUntil;
    if (until && now < until.value) return 'ExcludeUntil';
  }
  const sc = chain.find((c) => c.s.exclude);
  if (sc && active(sc.s.exclude!.value, now, cache).on) {
    return sc.s.exclude!.source === 'flag --explicit-include' ? 'ExplicitInclude' : 'ExcludeAnnotation';
  }
  return undefined;
}

function first<K extends keyof ScopeSettings>(chain: ChainScope[], key: K): NonNullable<ScopeSettings[K]> {
  return chain.find((c) => c.s[key])!.s[key]!;
}

function base(
  partial: Partial<Decision> & Pick<Decision, 'action' | 'reason'>,
  notices: Notice[],
  downscaled: boolean,
): Decision {
  return { why: '', notices, onWrite: [], downscaled, ...partial };
}

/**
 * The "up" rows of the action table (docs/downscaler.md#ds-actions): restore from `orig` (HPA capped by maxReplicas)
 * only while the object is still at what the downscaler left, the downtime target `T`
 * (docs/downscaler.md#ds-taken-over); when its value is no longer `T` (or already ≥ orig), someone else has taken
 * over and only the annotation is removed, with a Normal `RestoreSkipped` Event saying so. `T` undefined (no target
 * could be resolved, e.g. invalid annotations on an object out of scope): restore while current < orig.
 */
function upRow(
  w: Workload,
  orig: number,
  why: string,
  notices: Notice[],
  extra: Partial<Decision> = {},
  T?: number,
): Decision {
  const current = currentReplicas(w);
  const origValue = orig < 0 ? Number.POSITIVE_INFINITY : orig;
  // An HPA target below 1 was never written (#ds-hpa rule 6): no target to compare with.
  const left = w.kind === 'HorizontalPodAutoscaler' && T !== undefined && T < 1 ? undefined : T;
  const takenOver = current < origValue && left !== undefined && current !== left;
  if (takenOver || !(current < origValue)) {
    const message = takenOver
      ? `taken over by someone else: at ${fmt(current)}, not the downtime target ${left} the downscaler left, so their value stands and is not restored to ${fmt(origValue)}`
      : `already at ${fmt(current)} (original ${fmt(origValue)})`;
    return base(
      {
        action: 'patch',
        reason: 'RestoreSkipped',
        direction: 'clear',
        patch: buildPatch(w, undefined, null),
        from: current,
        to: current,
        why,
        ...extra,
        onWrite: [
          {
            type: 'Normal',
            reason: 'RestoreSkipped',
            message: `${message}; removed ${ANN.originalReplicas} only; ${why}`,
            on: 'object',
          },
        ],
      },
      notices,
      true,
    );
  }
  let value = orig;
  const onWrite: Notice[] = [];
  if (w.kind === 'HorizontalPodAutoscaler' && w.maxReplicas !== undefined && orig > w.maxReplicas) {
    value = w.maxReplicas;
    onWrite.push({
      type: 'Warning',
      reason: 'RestoreClamped',
      message: `original minReplicas ${orig} is above maxReplicas ${w.maxReplicas}: restored to ${value}`,
      on: 'object',
    });
  }
  const to = value < 0 ? Number.POSITIVE_INFINITY : value;
  onWrite.unshift({ type: 'Normal', reason: 'ScaleUp', message: `${fmt(current)}→${fmt(to)}: ${why}`, on: 'object' });
  return base(
    {
      action: 'patch',
      reason: 'ScaleUp',
      direction: 'up',
      patch: buildPatch(w, value, null),
      from: current,
      to,
      why,
      ...extra,
      onWrite,
    },
    notices,
    true,
  );
}

/** The "down" rows of the action table (docs/downscaler.md#ds-actions). */
function downRow(
  w: Workload,
  T: number,
  orig: number | undefined,
  inGrace: boolean,
  why: string,
  notices: Notice[],
  extra: Partial<Decision>,
): Decision {
  const current = currentReplicas(w);
  const downscaled = orig !== undefined;
  if (!(current > T))
    return base({ action: 'none', reason: 'AtTarget', why, from: current, ...extra }, notices, downscaled);
  if (inGrace)
    return base(
      { action: 'none', reason: 'Grace', category: 'excluded', why, from: current, ...extra },
      notices,
      downscaled,
    );
  const newOrig = Number.isFinite(current) ? current : -1;
  const onWrite: Notice[] = [];
  let msg = `${fmt(current)}→${T}: ${why}`;
  let overwrites = false;
  if (orig !== undefined) {
    msg += `; replaced ${ANN.originalReplicas} ${orig} with ${newOrig}`;
    if (orig !== newOrig) {
      overwrites = true;
      onWrite.push({
        type: 'Warning',
        reason: 'OriginalReplicasOverwritten',
        message: `${ANN.originalReplicas} ${orig}→${newOrig}: the object was scaled to ${fmt(current)} during downtime`,
        on: 'object',
      });
    }
  }
  onWrite.unshift({ type: 'Normal', reason: 'ScaleDown', message: msg, on: 'object' });
  return base(
    {
      action: 'patch',
      reason: 'ScaleDown',
      direction: 'down',
      patch: buildPatch(w, T, newOrig),
      from: current,
      to: T,
      why,
      overwritesOriginal: overwrites,
      ...extra,
      onWrite,
    },
    notices,
    true,
  );
}

function problemNotice(p: ConfigProblem, on: 'object' | 'namespace'): Notice {
  return {
    type: 'Warning',
    reason: p.reason,
    message: on === 'namespace' ? `namespace ${p.message}` : p.message,
    on,
    problem: p,
  };
}

/** Validated annotations of the object and its Namespace, or the terminal decision that blocks it. */
interface Prepared {
  chain: ChainScope[];
  own: ParsedScope;
  orig?: number;
  notices: Notice[];
  creationMs: number;
}

function restoreOrNone(
  input: DecideInput,
  reason: string,
  orig: number | undefined,
  notices: Notice[],
  T: number | undefined,
): Decision {
  const w = input.obj;
  if (orig !== undefined && input.settings.restoreExcluded) {
    return upRow(
      w,
      orig,
      `excluded (${reason}), restoring the original replicas`,
      notices,
      { category: 'excluded' },
      T,
    );
  }
  return base(
    { action: 'none', reason, category: 'excluded', why: `excluded (${reason})` },
    notices,
    orig !== undefined,
  );
}

function prepare(input: DecideInput, ownScope: 'workload' | 'hpa'): Prepared | Decision {
  const { obj: w, settings, parser } = input;
  const origP = parseOriginal(w.annotations[ANN.originalReplicas], w.kind === 'ScaledObject', w.kind === 'CronJob');
  const validOrig = origP?.ok ? origP.value : undefined;
  const filtered = hardFilter(w, settings);
  if (filtered)
    return restoreOrNone(
      input,
      filtered,
      validOrig,
      [],
      validOrig === undefined || w.kind === 'HorizontalPodAutoscaler' ? undefined : targetOnly(input, ownScope),
    );
  if (w.controller) {
    const reason = w.controller.kind === 'ScaledObject' ? 'ManagedByKEDA' : 'ControlledByOwner';
    return base(
      { action: 'none', reason, category: 'excluded', why: `controlled by ${w.controller.kind} ${w.controller.name}` },
      [],
      validOrig !== undefined,
    );
  }
  const own = parser.parse(w.annotations, ownScope);
  const nsp = parser.parse(input.namespaceAnnotations, 'namespace');
  const notices: Notice[] = [];
  const blocking: ConfigProblem[] = [...own.errors, ...nsp.errors];
  for (const p of own.errors) notices.push(problemNotice(p, 'object'));
  for (const p of own.warnings) notices.push(problemNotice(p, 'object'));
  for (const p of nsp.errors) notices.push(problemNotice(p, 'namespace'));
  for (const p of nsp.warnings) notices.push(problemNotice(p, 'namespace'));
  if (origP && !origP.ok) {
    blocking.push(origP.problem);
    notices.push(problemNotice(origP.problem, 'object'));
  }
  let creationMs = w.creationMs;
  const dta = settings.deploymentTimeAnnotation;
  if (dta && w.annotations[dta] !== undefined) {
    const t = parseInstant(w.annotations[dta]!);
    if (t.ok) creationMs = Number.isNaN(creationMs) ? t.value : Math.max(creationMs, t.value);
    else {
      const p: ConfigProblem = {
        reason: 'InvalidAnnotation',
        code: 'InvalidInstant',
        key: dta,
        value: w.annotations[dta]!,
        token: w.annotations[dta],
        message: `${dta} "${w.annotations[dta]}": ${t.errors[0]!.detail}`,
      };
      blocking.push(p);
      notices.push(problemNotice(p, 'object'));
    }
  }
  for (const x of own.wrapped) {
    notices.push({
      type: 'Normal',
      reason: 'WrappedTimeRange',
      message: `${x.key}: ${describeWrap(x.item)}`,
      on: 'object',
    });
  }
  for (const x of nsp.wrapped) {
    notices.push({
      type: 'Normal',
      reason: 'WrappedTimeRange',
      message: `namespace ${x.key}: ${describeWrap(x.item)}`,
      on: 'namespace',
    });
  }
  if (blocking.length) {
    const reason = blocking.some((p) => p.reason === 'InvalidAnnotation')
      ? 'InvalidAnnotation'
      : 'ConflictingAnnotations';
    return base(
      { action: 'skip', reason, category: 'skipped', why: blocking.map((p) => p.message).join('; ') },
      notices,
      validOrig !== undefined,
    );
  }
  return { chain: scopeChain(ownScope, own, nsp, settings), own, orig: validOrig, notices, creationMs };
}

/**
 * The downtime target T of an object whose evaluation stops before its chain is built (a hard filter): from its own
 * and its Namespace's annotations, then flags, env and default; undefined when those annotations are invalid.
 */
function targetOnly(input: DecideInput, ownScope: 'workload' | 'hpa'): number | undefined {
  const own = input.parser.parse(input.obj.annotations, ownScope);
  const nsp = input.parser.parse(input.namespaceAnnotations, 'namespace');
  if (own.errors.length || nsp.errors.length) return undefined;
  return first(scopeChain(ownScope, own, nsp, input.settings), 'downtimeReplicas').value;
}

/** The scopes of an object, most specific first (docs/downscaler.md#ds-scopes). */
function scopeChain(
  ownScope: 'workload' | 'hpa',
  own: ParsedScope,
  nsp: ParsedScope,
  settings: Settings,
): ChainScope[] {
  return [
    { name: ownScope, s: own.settings },
    { name: 'namespace', s: nsp.settings },
    { name: 'flag', s: settings.flagScope },
    { name: 'env', s: settings.envScope },
    { name: 'default', s: DEFAULT_SCOPE },
  ];
}

function inGrace(p: Prepared, now: number): boolean {
  const grace = first(p.chain, 'gracePeriod').value;
  if (Number.isNaN(p.creationMs)) return false;
  return now - p.creationMs <= grace;
}

/** Mode, target and explanation of an object on its chain (exclusion already checked). */
function modeAndTarget(p: Prepared, input: DecideInput): ModeResult & { T: number } {
  const m = forceMode(p.chain, input.now, input.cache) ?? scheduleMode(p.chain, input.now, input.cache);
  return { ...m, T: first(p.chain, 'downtimeReplicas').value };
}

/** True when an HPA may be written on behalf of its target (docs/downscaler.md#ds-hpa rule 4). */
function delegable(h: Workload, input: DecideInput): boolean {
  if (!input.settings.includeResources.has('horizontalpodautoscalers')) return false;
  if (hardFilter(h, input.settings) || h.controller) return false;
  const own = input.parser.parse(h.annotations, 'hpa');
  if (own.errors.length || own.ownSchedule) return false;
  const chain: ChainScope[] = [{ name: 'hpa', s: own.settings }];
  return exclusion(chain, input.now, input.cache) === undefined;
}

/**
 * A Deployment or StatefulSet that a ScaledObject names in `spec.scaleTargetRef` is KEDA's: never written directly,
 * whether or not KEDA's HPA exists (KEDA deletes it while the ScaledObject is paused); docs/downscaler.md#ds-keda.
 */
function kedaTarget(input: DecideInput, notices: Notice[], orig: number | undefined): Decision | undefined {
  const w = input.obj;
  if (w.kind !== 'Deployment' && w.kind !== 'StatefulSet') return undefined;
  const scaledObjects = input.scaledObjectsFor?.(w) ?? [];
  if (!scaledObjects.length) return undefined;
  const names = scaledObjects
    .map((o) => o.name)
    .sort()
    .join(', ');
  const message = `scaled by KEDA (ScaledObject ${names} targets it): the workload is never written directly, with or without KEDA's HPA; the ScaledObject is paused instead`;
  notices.push({ type: 'Normal', reason: 'ManagedByKEDA', message, on: 'object' });
  return base(
    { action: 'none', reason: 'ManagedByKEDA', category: 'excluded', why: message },
    notices,
    orig !== undefined,
  );
}

function decideWorkload(input: DecideInput, ownScope: 'workload' | 'hpa'): Decision {
  const w = input.obj;
  const p = prepare(input, ownScope);
  if (!('chain' in p)) return p;
  const { notices, orig } = p;
  const keda = kedaTarget(input, notices, orig);
  if (keda) return keda;
  const ex = exclusion(p.chain, input.now, input.cache);
  if (ex) return restoreOrNone(input, ex, orig, notices, first(p.chain, 'downtimeReplicas').value);
  const m = modeAndTarget(p, input);
  const extra: Partial<Decision> = { mode: m.mode, scope: m.scope, target: m.T };
  if (m.conflict) notices.push(m.conflict);
  if (m.mode === 'hold') {
    return base(
      {
        action: 'none',
        reason: m.conflict ? m.conflict.reason : 'Hold',
        category: m.conflict ? 'skipped' : undefined,
        why: m.why,
        ...extra,
      },
      notices,
      orig !== undefined,
    );
  }
  const grace = inGrace(p, input.now);
  if (w.kind === 'HorizontalPodAutoscaler' && m.mode === 'down' && m.T < 1) {
    const message = `downtime-replicas ${m.T} is below 1 for HPA ${w.name}: an HPA's minReplicas must be ≥ 1 (HPAScaleToZero is not assumed); set downtime-replicas ≥ 1 on the HPA, or scale its target to 0 instead`;
    notices.push({ type: 'Warning', reason: 'InvalidDowntimeReplicas', message, on: 'object' });
    return base(
      { action: 'skip', reason: 'InvalidDowntimeReplicas', category: 'skipped', why: message, ...extra },
      notices,
      orig !== undefined,
    );
  }
  if (w.kind === 'Deployment' || w.kind === 'StatefulSet') {
    const hpas = input.hpasFor(w);
    if (hpas.length > 1) {
      const message = `targeted by ${hpas.length} HPAs (${hpas
        .map((h) => h.name)
        .sort()
        .join(', ')}): neither the workload nor its HPAs are written; keep one HPA per workload`;
      notices.push({ type: 'Warning', reason: 'MultipleHPAs', message, on: 'object' });
      return base(
        { action: 'skip', reason: 'MultipleHPAs', category: 'skipped', why: message, ...extra },
        notices,
        orig !== undefined,
      );
    }
    const h = hpas[0];
    if (h && h.controller?.kind === 'ScaledObject') {
      const message = `scaled by KEDA (ScaledObject ${h.controller.name} through HPA ${h.name}): the workload and the HPA are not written${input.settings.includeResources.has('scaledobjects') ? '; the ScaledObject is paused instead' : '; include scaledobjects to pause the ScaledObject'}`;
      notices.push({ type: 'Normal', reason: 'ManagedByKEDA', message, on: 'object' });
      return base(
        { action: 'none', reason: 'ManagedByKEDA', category: 'excluded', why: message, ...extra },
        notices,
        orig !== undefined,
      );
    }
    if (h && m.T >= 1) {
      if (m.mode === 'up' && orig !== undefined) return upRow(w, orig, m.why, notices, extra, m.T);
      if (delegable(h, input)) {
        return base(
          {
            action: 'none',
            reason: 'DelegatedToHPA',
            category: 'excluded',
            why: `${m.why}; delegated to HPA ${h.name}`,
            delegate: { mode: m.mode, target: m.T, why: m.why, scope: m.scope, inGrace: grace },
            ...extra,
          },
          notices,
          orig !== undefined,
        );
      }
      if (m.mode === 'down' && currentReplicas(w) > m.T) {
        const message = `HPA ${h.name} manages the replicas: not scaled to ${m.T} (that would race the HPA). Either include horizontalpodautoscalers (--include-resources) so that its minReplicas is lowered instead, or set ${ANN.downtimeReplicas}: "0" to scale the workload to 0`;
        notices.push({ type: 'Warning', reason: 'HPAManaged', message, on: 'object' });
        return base(
          { action: 'none', reason: 'HPAManaged', category: 'excluded', why: message, ...extra },
          notices,
          orig !== undefined,
        );
      }
      return base({ action: 'none', reason: 'AtTarget', why: m.why, ...extra }, notices, orig !== undefined);
    }
  }
  if (m.mode === 'up') {
    if (orig === undefined) return base({ action: 'none', reason: 'NoOriginal', why: m.why, ...extra }, notices, false);
    return upRow(w, orig, m.why, notices, extra, m.T);
  }
  return downRow(w, m.T, orig, grace, m.why, notices, extra);
}

function decideHpa(input: DecideInput): Decision {
  const h = input.obj;
  if (!input.settings.includeResources.has('horizontalpodautoscalers')) {
    return base(
      { action: 'none', reason: 'NotIncluded', why: 'horizontalpodautoscalers not in --include-resources' },
      [],
      false,
    );
  }
  const own = input.parser.parse(h.annotations, 'hpa');
  if (own.ownSchedule && own.errors.length === 0) return decideWorkload(input, 'hpa');
  const p = prepare(input, 'hpa');
  if (!('chain' in p)) return p;
  const ex = exclusion([p.chain[0]!], input.now, input.cache);
  if (ex) return restoreOrNone(input, ex, p.orig, p.notices, undefined);
  const target = input.targetOf(h);
  if (target) {
    const td = decide({ ...input, obj: target });
    if (td.delegate) {
      const d = td.delegate;
      const extra: Partial<Decision> = { mode: d.mode, scope: d.scope, target: d.target };
      const why = `${d.why} (delegated by ${target.kind} ${target.name})`;
      if (d.mode === 'hold')
        return base({ action: 'none', reason: 'Hold', why, ...extra }, p.notices, p.orig !== undefined);
      if (d.mode === 'up') {
        if (p.orig === undefined)
          return base({ action: 'none', reason: 'NoOriginal', why, ...extra }, p.notices, false);
        return upRow(h, p.orig, why, p.notices, extra, d.target);
      }
      const r = downRow(h, d.target, p.orig, d.inGrace, why, p.notices, extra);
      if (r.action === 'patch') {
        r.onWrite.push({
          type: 'Normal',
          reason: 'DelegatedToHPA',
          message: `HPA ${h.name} minReplicas ${fmt(r.from!)}→${d.target}: ${d.why}`,
          on: 'target',
        });
      }
      return r;
    }
    if (td.reason === 'MultipleHPAs' || td.action === 'skip') {
      return base(
        { action: 'none', reason: 'TargetBlocked', why: `target ${target.kind} ${target.name}: ${td.reason}` },
        p.notices,
        p.orig !== undefined,
      );
    }
  }
  if (p.orig !== undefined) {
    return upRow(
      h,
      p.orig,
      `target ${h.target?.kind ?? ''} ${h.target?.name ?? ''} is not delegating to this HPA: restoring`,
      p.notices,
    );
  }
  return base(
    { action: 'none', reason: 'NotDelegated', why: 'HPA without own schedule; its target does not delegate to it' },
    p.notices,
    false,
  );
}

/**
 * Decides what to do with one object (docs/downscaler.md#ds-evaluation, #ds-actions). Each patch is a fixed point:
 * after it is applied the same inputs decide `none`, so steady state writes nothing.
 */
export function decide(input: DecideInput): Decision {
  if (input.obj.kind === 'HorizontalPodAutoscaler') return decideHpa(input);
  return decideWorkload(input, 'workload');
}
