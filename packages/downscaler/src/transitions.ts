/**
 * The next instant at which the decision about an object can change because time passed
 * (docs/downscaler.md#ds-boundaries): the boundaries of the time specs of every scope the object's decision reads
 * (its own annotations, its Namespace's, the flags, the environment), the end of an `exclude-until` and the end of the
 * grace period. Pure: a function of the object, its Namespace's annotations, the settings and `now`. Values are
 * epoch milliseconds.
 *
 * Recurring items change state only where the local wall clock of their zone reaches their start, their end or
 * midnight, or where the zone's UTC offset changes; these instants are computed with the JavaScript `Temporal` API
 * (both instants of a repeated wall time, the offset transitions themselves for skipped ones) and the first one at
 * which the item's match ({@link itemMatches}) differs from its match at `now` is the item's next change. The result
 * may be an instant at which the decision stays the same (a boundary of a shadowed scope, or of one item while another
 * still matches): an evaluation then writes nothing, as at any tick.
 */
import type { AnnotationParser, ScopeSettings } from './annotations';
import { type BoolOrSpec, type RecurringItem, type Spec, type SpecItem, parseInstant } from './grammar';
import { itemMatches } from './match';
import { DEFAULT_SCOPE, type Settings } from './settings';
import { LocalTimeCache } from './tz';
import type { Workload } from './workload';

/** How far ahead recurring items are searched: a week plus a day, so every weekday and one DST switch are seen. */
export const LOOKAHEAD_MS = 8 * 86_400_000;

/** Inputs of {@link nextTransition} (the time-dependent inputs of `decide`). */
export interface TransitionInput {
  obj: Workload;
  /** Annotations of the object's Namespace (undefined when not cached). */
  namespaceAnnotations?: Record<string, string>;
  settings: Settings;
  parser: AnnotationParser;
  /** Evaluation time, ms since the epoch. */
  now: number;
}

/**
 * The earliest instant after `now` (ms since the epoch) at which a time-dependent input of the object's decision
 * changes: a boundary of any time spec (`uptime`, `downtime`, the periods, the force keys, `exclude`) of the object,
 * its Namespace, the flags, the environment or the built-in defaults, an `exclude-until` instant, or the end of the grace
 * period in force (the most specific scope's, docs/downscaler.md#ds-grace). Undefined when nothing changes within {@link LOOKAHEAD_MS} (e.g. only `always`,
 * `never` and booleans). Annotation values that do not parse contribute nothing (the object is blocked until they
 * change, and a change is an informer event).
 */
export function nextTransition(input: TransitionInput): number | undefined {
  const { obj, settings, parser, now } = input;
  const own = parser.parse(obj.annotations, obj.kind === 'HorizontalPodAutoscaler' ? 'hpa' : 'workload');
  const nsp = parser.parse(input.namespaceAnnotations, 'namespace');
  // The built-in defaults are the last scope (docs/downscaler.md#ds-scopes): e.g. the default grace period.
  const scopes: ScopeSettings[] = [own.settings, nsp.settings, settings.flagScope, settings.envScope, DEFAULT_SCOPE];
  let best: number | undefined;
  const consider = (t: number | undefined) => {
    if (t !== undefined && t > now && (best === undefined || t < best)) best = t;
  };
  let creation = obj.creationMs;
  const dta = settings.deploymentTimeAnnotation;
  if (dta && obj.annotations[dta] !== undefined) {
    const t = parseInstant(obj.annotations[dta]!);
    if (t.ok) creation = Number.isNaN(creation) ? t.value : Math.max(creation, t.value);
  }
  for (const s of scopes) {
    for (const spec of [s.uptime, s.downtime, s.upscalePeriod, s.downscalePeriod]) {
      if (spec) consider(nextSpecChange(spec.value, now));
    }
    for (const b of [s.forceUptime, s.forceDowntime, s.exclude]) {
      if (b) consider(nextBoolOrSpecChange(b.value, now));
    }
    if (s.excludeUntil) consider(s.excludeUntil.value);
  }
  // the grace period in force is the most specific scope's (decide.ts inGrace); the object is in grace while
  // now - creation <= grace, so out of it 1 ms after creation + grace
  const grace = scopes.find((s) => s.gracePeriod)?.gracePeriod;
  if (grace && !Number.isNaN(creation)) consider(creation + grace.value + 1);
  return best;
}

/** The next change of a bool-or-spec value after `now` (booleans never change). */
export function nextBoolOrSpecChange(v: BoolOrSpec, now: number): number | undefined {
  return v.kind === 'spec' ? nextSpecChange(v.spec, now) : undefined;
}

/**
 * The earliest instant after `now` at which an item of `spec` changes its match (docs/downscaler.md#ds-time);
 * undefined for `always`, `never` and when no item changes within {@link LOOKAHEAD_MS}.
 */
export function nextSpecChange(spec: Spec, now: number): number | undefined {
  if (spec.kind !== 'list') return undefined;
  let best: number | undefined;
  for (const item of spec.items) {
    const t = nextItemChange(item, now);
    if (t !== undefined && (best === undefined || t < best)) best = t;
  }
  return best;
}

/** The next instant after `now` at which `item` changes its match, or undefined (see {@link nextSpecChange}). */
export function nextItemChange(item: SpecItem, now: number): number | undefined {
  switch (item.type) {
    case 'absolute':
      return now < item.from ? item.from : now < item.to ? item.to : undefined;
    case 'from':
    case 'until':
      return now < item.at ? item.at : undefined;
    case 'recurring':
      return nextRecurringChange(item, now);
  }
}

/** Memo of {@link nextRecurringChange}: the answer holds for every `now` in `[from, until)`. */
const memo = new WeakMap<RecurringItem, { from: number; until: number; next: number | undefined }>();
const localTimes = new LocalTimeCache();

function nextRecurringChange(item: RecurringItem, now: number): number | undefined {
  const m = memo.get(item);
  if (m && now >= m.from && now < m.until) return m.next;
  const next = searchRecurring(item, now);
  // the first change after `now` is also the first change after any later instant before it; without a change in
  // the look-ahead, the answer is kept for a day
  memo.set(item, { from: now, until: next ?? now + 86_400_000, next });
  return next;
}

/** The subset of `Temporal.ZonedDateTime` used here (TypeScript 5.9 ships no Temporal types). */
interface Zoned {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly epochMilliseconds: number;
  getTimeZoneTransition(direction: 'next'): Zoned | null;
}

/** The subset of the global `Temporal` namespace used here. */
interface TemporalLike {
  Instant: { fromEpochMilliseconds(ms: number): { toZonedDateTimeISO(zone: string): Zoned } };
  ZonedDateTime: {
    from(
      fields: { timeZone: string; year: number; month: number; day: number; hour: number; minute: number },
      options: { disambiguation: 'earlier' | 'later' },
    ): Zoned;
  };
  PlainDate: {
    from(fields: { year: number; month: number; day: number }): {
      add(d: { days: number }): { year: number; month: number; day: number };
    };
  };
}

function temporal(): TemporalLike {
  const t = (globalThis as { Temporal?: TemporalLike }).Temporal;
  if (!t) throw new Error('the JavaScript runtime has no Temporal API (Node.js >= 26 is required)');
  return t;
}

/**
 * Candidate instants where the item can change (each day of the look-ahead: both instants of local midnight, of
 * `from` and of `to`; every UTC-offset change of the zone), in order; the first whose match differs from the match at
 * `now` is the answer.
 */
function searchRecurring(item: RecurringItem, now: number): number | undefined {
  const T = temporal();
  const end = now + LOOKAHEAD_MS;
  const start = T.Instant.fromEpochMilliseconds(now).toZonedDateTimeISO(item.zone);
  const candidates = new Set<number>();
  const minutes = [...new Set([0, item.from, item.to % 1440])];
  const first = T.PlainDate.from({ year: start.year, month: start.month, day: start.day });
  for (let d = 0; d <= LOOKAHEAD_MS / 86_400_000; d++) {
    const date = first.add({ days: d });
    for (const minute of minutes) {
      for (const disambiguation of ['earlier', 'later'] as const) {
        const t = T.ZonedDateTime.from(
          {
            timeZone: item.zone,
            year: date.year,
            month: date.month,
            day: date.day,
            hour: Math.floor(minute / 60),
            minute: minute % 60,
          },
          { disambiguation },
        ).epochMilliseconds;
        if (t > now && t <= end) candidates.add(t);
      }
    }
  }
  for (
    let z = start.getTimeZoneTransition('next');
    z && z.epochMilliseconds <= end;
    z = z.getTimeZoneTransition('next')
  )
    candidates.add(z.epochMilliseconds);
  const before = itemMatches(item, now, localTimes);
  for (const t of [...candidates].sort((a, b) => a - b)) if (itemMatches(item, t, localTimes) !== before) return t;
  return undefined;
}
