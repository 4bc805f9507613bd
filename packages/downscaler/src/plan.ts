/**
 * What the downscaler does at a chosen instant (docs/downscaler.md#ds-plan): every object is evaluated by the same
 * pure {@link decide} the controller runs, with `now` set to that instant, and its next transition is found by
 * evaluating it again at each later instant where one of its schedules can change. Pure: objects and Namespace
 * annotations come in as values (the `downscaler plan` command reads them from the cluster), nothing is written.
 */
import { AnnotationParser } from './annotations';
import { type Decision, decide } from './decide';
import type { Settings } from './settings';
import { nextTransition } from './transitions';
import { LocalTimeCache } from './tz';
import { KINDS, type Workload, currentReplicas } from './workload';

/** How far ahead the next transition is searched: one week and a day (weekly items repeat). */
export const PLAN_HORIZON_MS = 8 * 24 * 3_600_000;

/** Inputs of {@link planAt}. */
export interface PlanInput {
  settings: Settings;
  /** The instant to evaluate at, ms since the epoch. */
  at: number;
  /** Every object of the watched kinds (HPAs always; ScaledObjects when included), as the controller caches them. */
  objects: Workload[];
  /** `downscaler/*` annotations of each known Namespace, by name (a missing Namespace has no namespace scope). */
  namespaces: ReadonlyMap<string, Record<string, string>>;
  /** Search window of recurring items for the next transition; default {@link PLAN_HORIZON_MS}. */
  horizonMs?: number;
}

/** What happens to one object at a later instant. */
export interface Transition {
  /** ms since the epoch. */
  at: number;
  decision: Decision;
}

/** The plan of one object. */
export interface PlanEntry {
  obj: Workload;
  /** The decision at the chosen instant, on the object as it is now. */
  decision: Decision;
  /**
   * The first later instant at which the decision changes (a write, or another mode or exclusion), evaluated on the
   * object as it is once the writes planned at the chosen instant are applied: instants where a time-dependent input
   * changes ({@link nextTransition}) are tried in order up to the horizon, and the first one past it; undefined when
   * none of them changes the decision.
   */
  next?: Transition;
}

type Lookups = Pick<Parameters<typeof decide>[0], 'hpasFor' | 'targetOf' | 'scaledObjectsFor'>;

function key(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The lookups {@link decide} needs, over a fixed set of objects (same namespace, by `spec.scaleTargetRef`). */
function lookups(objects: Workload[], settings: Settings): Lookups {
  const byKey = new Map(objects.map((o) => [key(o.kind, o.namespace, o.name), o]));
  const byTarget = new Map<string, Workload[]>();
  for (const o of objects) {
    if (!o.target || (o.kind !== 'HorizontalPodAutoscaler' && o.kind !== 'ScaledObject')) continue;
    const k = `${o.kind}>${key(o.target.kind, o.namespace, o.target.name)}`;
    byTarget.set(k, [...(byTarget.get(k) ?? []), o]);
  }
  const watched = (kind: string) =>
    kind === 'HorizontalPodAutoscaler' ||
    (kind in KINDS && settings.includeResources.has(KINDS[kind as keyof typeof KINDS].resource));
  return {
    hpasFor: (w) => byTarget.get(`HorizontalPodAutoscaler>${key(w.kind, w.namespace, w.name)}`) ?? [],
    scaledObjectsFor: (w) => byTarget.get(`ScaledObject>${key(w.kind, w.namespace, w.name)}`) ?? [],
    targetOf: (h) =>
      h.target && watched(h.target.kind) ? byKey.get(key(h.target.kind, h.namespace, h.target.name)) : undefined,
  };
}

/** The object as the API server has it after a decision's merge patch (docs/downscaler.md#ds-writes). */
export function applyDecision(w: Workload, d: Decision): Workload {
  if (d.action !== 'patch' || !d.patch) return w;
  const next: Workload = { ...w, annotations: { ...w.annotations } };
  for (const [k, v] of Object.entries((d.patch.metadata?.annotations ?? {}) as Record<string, string | null>)) {
    if (v === null) delete next.annotations[k];
    else next.annotations[k] = v;
  }
  const spec = (d.patch.spec ?? {}) as { replicas?: number; suspend?: boolean; minReplicas?: number };
  if (spec.replicas !== undefined) next.replicas = spec.replicas;
  if (spec.suspend !== undefined) next.suspend = spec.suspend;
  if (spec.minReplicas !== undefined) next.minReplicas = spec.minReplicas;
  return next;
}

/**
 * The end of the built-in default grace period (docs/downscaler.md#ds-grace): 1 ms after creation, or the deploy time
 * when later, plus 15 minutes ({@link nextTransition} reads the grace periods that a scope sets).
 */
function signature(d: Decision): string {
  const blocked = d.category === 'excluded' || d.category === 'skipped' ? d.reason : '';
  return `${d.action}|${d.mode ?? ''}|${blocked}`;
}

/**
 * Evaluates every object at `input.at` (docs/downscaler.md#ds-plan) and finds its next transition. Objects of kinds
 * outside `--include-resources` (HPAs are always read) only inform the others. Sorted by namespace, kind and name.
 */
export function planAt(input: PlanInput): PlanEntry[] {
  const { settings, at } = input;
  const parser = new AnnotationParser(settings.specDefaults);
  const cache = new LocalTimeCache();
  const decideIn = (look: Lookups, obj: Workload, now: number): Decision =>
    decide({ obj, namespaceAnnotations: input.namespaces.get(obj.namespace), settings, parser, now, cache, ...look });
  const look = lookups(input.objects, settings);
  const included = input.objects.filter((o) => settings.includeResources.has(KINDS[o.kind].resource));
  const now = new Map(included.map((o) => [o, decideIn(look, o, at)]));
  // The world once the writes planned at `at` are applied.
  const after = input.objects.map((o) => (now.has(o) ? applyDecision(o, now.get(o)!) : o));
  const lookAfter = lookups(after, settings);
  const horizon = at + (input.horizonMs ?? PLAN_HORIZON_MS);
  const entries: PlanEntry[] = [];
  for (const [i, o] of input.objects.entries()) {
    const decision = now.get(o);
    if (!decision) continue;
    const sim = after[i]!;
    // An HPA's decision also reads its target's schedule (docs/downscaler.md#ds-hpa rule 4).
    const related = [sim];
    const t = sim.target ? lookAfter.targetOf(sim) : undefined;
    if (t) related.push(t);
    const base = decideIn(lookAfter, sim, at);
    let next: Transition | undefined;
    // Walk the instants at which a time-dependent input changes until the decision changes; the first instant past the
    // horizon is still evaluated (an absolute item, exclude-until or grace end far ahead), then the walk stops.
    for (let cur = at; ;) {
      let c: number | undefined;
      for (const r of related) {
        const x = nextTransition({
          obj: r,
          namespaceAnnotations: input.namespaces.get(r.namespace),
          settings,
          parser,
          now: cur,
        });
        if (x !== undefined && (c === undefined || x < c)) c = x;
      }
      if (c === undefined) break;
      const d = decideIn(lookAfter, sim, c);
      if (d.action === 'patch' || signature(d) !== signature(base)) {
        next = { at: c, decision: d };
        break;
      }
      if (c > horizon) break;
      cur = c;
    }
    entries.push({ obj: o, decision, next });
  }
  return entries.sort(
    (a, b) =>
      a.obj.namespace.localeCompare(b.obj.namespace) ||
      a.obj.kind.localeCompare(b.obj.kind) ||
      a.obj.name.localeCompare(b.obj.name),
  );
}

/** An instant as RFC 3339 in UTC, without milliseconds when they are 0. */
export function formatInstant(t: number): string {
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

function replicas(n: number | undefined): string {
  if (n === undefined) return '?';
  return Number.isFinite(n) ? String(n) : 'unpaused';
}

/** One decision in words: `scale-down 3→0`, `scale-up 0→3`, `clear`, `none (AtTarget)`, `skip (InvalidAnnotation)`. */
export function describeAction(d: Decision): string {
  if (d.action === 'patch') {
    const verb = d.direction === 'down' ? 'scale-down' : d.direction === 'up' ? 'scale-up' : 'clear';
    return d.direction === 'clear' ? `${verb} (${d.reason})` : `${verb} ${replicas(d.from)}→${replicas(d.to)}`;
  }
  return `${d.action} (${d.reason})`;
}

/**
 * The plan as text (docs/downscaler.md#ds-plan): a header with the instant, one block per object (its current
 * replicas, the action and why at that instant, and the next transition: instant, action and why), and a summary.
 */
export function formatPlan(entries: PlanEntry[], at: number, horizonMs = PLAN_HORIZON_MS): string {
  const lines = [`plan at ${formatInstant(at)}: ${entries.length} object(s); nothing is written`];
  const counts = new Map<string, number>();
  for (const e of entries) {
    const { obj: o, decision: d, next } = e;
    const action = describeAction(d);
    counts.set(action.split(' ')[0]!, (counts.get(action.split(' ')[0]!) ?? 0) + 1);
    lines.push('');
    lines.push(`${o.kind} ${o.namespace}/${o.name} (replicas ${replicas(currentReplicas(o))})`);
    lines.push(`  at ${formatInstant(at)}: ${action}${d.why ? `: ${d.why}` : ''}`);
    lines.push(
      next
        ? `  next ${formatInstant(next.at)}: ${describeAction(next.decision)}${next.decision.why ? `: ${next.decision.why}` : ''}`
        : `  next: none within ${Math.round(horizonMs / 86_400_000)} days`,
    );
  }
  lines.push('');
  lines.push(
    `summary: ${
      [...counts.entries()]
        .sort()
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || 'no objects'
    }`,
  );
  return `${lines.join('\n')}\n`;
}
