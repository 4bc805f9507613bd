/**
 * Wall-clock time in IANA zones, computed by the JavaScript runtime's `Temporal` API (unflagged since
 * Node 26; backed by ICU and its tz database). No offset arithmetic is done here: an instant is converted
 * to a zoned date-time and its local weekday and minute of day are read. Minutes skipped by a
 * spring-forward transition are never produced, and minutes repeated by a fall-back transition are
 * produced twice (once per pass), which is exactly the DST behaviour of docs/downscaler.md#ds-time.
 */

/** The subset of `Temporal.ZonedDateTime` used here. */
interface ZonedDateTimeLike {
  readonly dayOfWeek: number;
  readonly hour: number;
  readonly minute: number;
}

/** The subset of the global `Temporal` namespace used here (TypeScript 5.9 ships no Temporal types). */
interface TemporalLike {
  Instant: {
    fromEpochMilliseconds(ms: number): { toZonedDateTimeISO(zone: string): ZonedDateTimeLike };
  };
}

function temporal(): TemporalLike {
  const t = (globalThis as { Temporal?: TemporalLike }).Temporal;
  if (!t) throw new Error('the JavaScript runtime has no Temporal API (Node.js >= 26 is required)');
  return t;
}

/** Local wall-clock position of an instant in a zone. */
export interface LocalTime {
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight, 0–1439 (seconds are dropped: minute resolution). */
  minute: number;
}

/**
 * Converts an instant (ms since the epoch) to the local weekday and minute of day in `zone`.
 * Throws a RangeError when the runtime does not know the zone.
 */
export function localTime(zone: string, epochMs: number): LocalTime {
  const z = temporal().Instant.fromEpochMilliseconds(epochMs).toZonedDateTimeISO(zone);
  return { weekday: z.dayOfWeek, minute: z.hour * 60 + z.minute };
}

/**
 * Memo of {@link localTime} per zone for one minute: every object evaluated in one tick shares the
 * conversion, so a tick costs one conversion per zone in use rather than one per item.
 */
export class LocalTimeCache {
  private minuteKey = Number.NaN;
  private readonly byZone = new Map<string, LocalTime>();

  /** Local time of `epochMs` in `zone` (cached while the UTC minute is unchanged). */
  get(zone: string, epochMs: number): LocalTime {
    const key = Math.floor(epochMs / 60_000);
    if (key !== this.minuteKey) {
      this.minuteKey = key;
      this.byZone.clear();
    }
    let t = this.byZone.get(zone);
    if (!t) {
      t = localTime(zone, epochMs);
      this.byZone.set(zone, t);
    }
    return t;
  }
}

/** True when the runtime can evaluate `zone`. */
export function zoneEvaluable(zone: string): boolean {
  try {
    localTime(zone, 0);
    return true;
  } catch {
    return false;
  }
}

/** Version of the runtime's tz database (e.g. "2026c"), or "unknown". */
export function runtimeTzdataVersion(): string {
  return (process.versions as Record<string, string | undefined>).tz ?? 'unknown';
}
