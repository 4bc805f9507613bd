/**
 * Matching of parsed time specs against an instant (docs/downscaler.md#ds-time): recurring items compare the local
 * weekday and minute of day in their zone (half-open `[from, to)`, minute resolution; wrapped items
 * cover `[00:00, to)` and `[from, 24:00)` of each listed day), absolute and directional items compare
 * instants. A list matches when any item matches.
 */
import type { Spec, SpecItem } from './grammar';
import { LocalTimeCache } from './tz';

const sharedCache = new LocalTimeCache();

/** True when `item` covers the instant `nowMs` (ms since the epoch). */
export function itemMatches(item: SpecItem, nowMs: number, cache: LocalTimeCache = sharedCache): boolean {
  switch (item.type) {
    case 'absolute':
      return nowMs >= item.from && nowMs < item.to;
    case 'from':
      return nowMs >= item.at;
    case 'until':
      return nowMs < item.at;
    case 'recurring': {
      const lt = cache.get(item.zone, nowMs);
      if (!(item.days & (1 << (lt.weekday - 1)))) return false;
      return item.wrap ? lt.minute < item.to || lt.minute >= item.from : lt.minute >= item.from && lt.minute < item.to;
    }
  }
}

/**
 * Index (0-based) of the first item of `spec` that covers `nowMs`, or -1 when none does. `always`
 * yields 0, `never` -1.
 */
export function matchIndex(spec: Spec, nowMs: number, cache: LocalTimeCache = sharedCache): number {
  if (spec.kind === 'always') return 0;
  if (spec.kind === 'never') return -1;
  for (let i = 0; i < spec.items.length; i++) if (itemMatches(spec.items[i]!, nowMs, cache)) return i;
  return -1;
}

/** True when `spec` covers `nowMs`. */
export function specMatches(spec: Spec, nowMs: number, cache: LocalTimeCache = sharedCache): boolean {
  return matchIndex(spec, nowMs, cache) >= 0;
}
