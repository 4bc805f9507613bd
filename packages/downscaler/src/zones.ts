/**
 * The zone allow-list (docs/downscaler.md#ds-zones): Zone and Link names of the pinned tz database under the geographic
 * areas, plus `UTC` and `Etc/UTC`, byte-exact. Abbreviations, rule names, `Etc/GMT±N`, `US/…` areas,
 * country aliases and wrongly cased names are rejected with a suggestion.
 */
import { ALLOWED_ZONE_NAMES, OTHER_TZDB_NAMES, PINNED_TZDATA_VERSION } from './zonedata';
import { zoneEvaluable } from './tz';

export { PINNED_TZDATA_VERSION };

/** Result of {@link checkZone}. */
export type ZoneCheck =
  | { ok: true }
  | {
      ok: false;
      /** `UnknownZone`: no such name; `ZoneNotAllowed`: a known name outside the allow-list; `ZoneCase`: wrong case. */
      code: 'UnknownZone' | 'ZoneNotAllowed' | 'ZoneCase';
      /** An allowed name to use instead, when one is known. */
      suggestion?: string;
    };

/**
 * Common abbreviations (not tz database names) and what people usually mean by them. Rule-named zones
 * and abbreviations that are also tz names (`EST`, `MST`, `CET`, …) are listed too, because their tz
 * Link targets (`America/Panama` for `EST`) are rarely what a schedule author meant.
 */
const ABBREVIATIONS: Readonly<Record<string, string>> = {
  PST: 'America/Los_Angeles',
  PDT: 'America/Los_Angeles',
  PST8PDT: 'America/Los_Angeles',
  MST: 'America/Denver',
  MDT: 'America/Denver',
  MST7MDT: 'America/Denver',
  CST: 'America/Chicago',
  CDT: 'America/Chicago',
  CST6CDT: 'America/Chicago',
  EST: 'America/New_York',
  EDT: 'America/New_York',
  EST5EDT: 'America/New_York',
  AKST: 'America/Anchorage',
  HST: 'Pacific/Honolulu',
  GMT: 'Europe/London',
  BST: 'Europe/London',
  WET: 'Europe/Lisbon',
  WEST: 'Europe/Lisbon',
  CET: 'Europe/Berlin',
  CEST: 'Europe/Berlin',
  MET: 'Europe/Berlin',
  EET: 'Europe/Athens',
  EEST: 'Europe/Athens',
  MSK: 'Europe/Moscow',
  IST: 'Asia/Kolkata',
  JST: 'Asia/Tokyo',
  KST: 'Asia/Seoul',
  AEST: 'Australia/Sydney',
  AEDT: 'Australia/Sydney',
  ACST: 'Australia/Adelaide',
  AWST: 'Australia/Perth',
  NZST: 'Pacific/Auckland',
  NZDT: 'Pacific/Auckland',
  Z: 'UTC',
};

let allowed: Set<string> = new Set(ALLOWED_ZONE_NAMES);
let byLower: Map<string, string> = lowerIndex(allowed);

function lowerIndex(names: Iterable<string>): Map<string, string> {
  const m = new Map<string, string>();
  for (const n of names) m.set(n.toLowerCase(), n);
  return m;
}

/** The allowed zone names currently in force (after {@link dropUnevaluableZones}). */
export function allowedZones(): ReadonlySet<string> {
  return allowed;
}

/**
 * Removes allow-list names the runtime cannot evaluate (its tz database is older than the pinned one).
 * Called once at start-up; returns the dropped names (the caller logs one warning).
 */
export function dropUnevaluableZones(evaluable: (zone: string) => boolean = zoneEvaluable): string[] {
  const dropped = [...allowed].filter((z) => !evaluable(z));
  if (dropped.length) {
    allowed = new Set([...allowed].filter((z) => !dropped.includes(z)));
    byLower = lowerIndex(allowed);
  }
  return dropped;
}

function suggestionFor(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (ABBREVIATIONS[upper]) return ABBREVIATIONS[upper];
  if (name in OTHER_TZDB_NAMES) {
    const target = OTHER_TZDB_NAMES[name];
    if (target && allowed.has(target)) return target;
    if (/^Etc\/(GMT|UTC|UCT|Universal|Zulu|Greenwich)/.test(name)) return 'UTC';
  }
  const lower = name.toLowerCase();
  for (const [n, target] of Object.entries(OTHER_TZDB_NAMES)) {
    if (n.toLowerCase() === lower && target && allowed.has(target)) return target;
  }
  return undefined;
}

/**
 * Checks a zone name against the allow-list: allowed names pass byte-exact; a name differing only in
 * case is `ZoneCase` (suggesting the right spelling); a tz database name outside the allowed areas, an
 * abbreviation, or a name the runtime accepts although it is not allowed is `ZoneNotAllowed` (with a
 * suggestion where one is known); anything else is `UnknownZone`.
 */
export function checkZone(name: string): ZoneCheck {
  if (allowed.has(name)) return { ok: true };
  const cased = byLower.get(name.toLowerCase());
  if (cased) return { ok: false, code: 'ZoneCase', suggestion: cased };
  const suggestion = suggestionFor(name);
  if (
    suggestion !== undefined ||
    name in OTHER_TZDB_NAMES ||
    /^Etc\//i.test(name) ||
    (/^[A-Za-z][A-Za-z0-9/_+-]*$/.test(name) && zoneEvaluable(name))
  ) {
    return suggestion ? { ok: false, code: 'ZoneNotAllowed', suggestion } : { ok: false, code: 'ZoneNotAllowed' };
  }
  return { ok: false, code: 'UnknownZone' };
}
