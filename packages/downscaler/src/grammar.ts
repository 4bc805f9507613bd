/**
 * Value grammars of the downscaler (docs/downscaler.md#ds-grammar): time specs (`always`, `never`, or a comma-separated
 * list of recurring, absolute and directional items), bool-or-spec, until-instant, integer and duration.
 * Parsers are strict and total: every input yields either a value or a list of {@link GrammarError}s that
 * name the error code, the item, the offending token and its position.
 */
import { type DurationOptions, tryParseDuration } from '@kubeaws/runtime';
import { checkZone } from './zones';

/** Error codes of the value grammars (docs/downscaler.md#ds-bad-input). */
export type GrammarErrorCode =
  | 'Syntax'
  | 'UnknownWeekday'
  | 'EmptyItem'
  | 'TimeOutOfRange'
  | 'EmptyRange'
  | 'UnknownZone'
  | 'ZoneNotAllowed'
  | 'ZoneCase'
  | 'MissingZone'
  | 'MissingWeekdays'
  | 'KeywordInList'
  | 'InvalidInstant'
  | 'InvalidBool'
  | 'InvalidInteger'
  | 'Percentage'
  | 'InvalidDuration';

/** One parse error. */
export interface GrammarError {
  code: GrammarErrorCode;
  /** 1-based item number within a spec list, when the error belongs to an item. */
  item?: number;
  /** The whole item text (blanks trimmed), when `item` is set. */
  itemText?: string;
  /** The offending token (may be empty, e.g. for an empty item). */
  token: string;
  /** 0-based character offset of `token` in the whole value. */
  position: number;
  /** What is wrong and the valid form, e.g. `hour 25 out of range 00-24`. */
  detail: string;
}

/** Result of a parser: a value, or at least one error. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: GrammarError[] };

/** A recurring weekly window in a zone (`Mon-Fri 08:00-18:00 Europe/Berlin`). */
export interface RecurringItem {
  type: 'recurring';
  /** Item text as written. */
  text: string;
  /** Weekday mask: bit (d-1) set for ISO weekday d (1 = Monday … 7 = Sunday). */
  days: number;
  /** Start, minutes after local midnight (0–1439). */
  from: number;
  /** End, minutes after local midnight (1–1440; 1440 = "24:00"). */
  to: number;
  /** Allowed IANA zone name. */
  zone: string;
  /** `from > to`: covers `[00:00, to)` and `[from, 24:00)` on each listed day. */
  wrap: boolean;
}

/** An absolute range `[from, to)` of instants (ms since the epoch). */
export interface AbsoluteItem {
  type: 'absolute';
  text: string;
  from: number;
  to: number;
}

/** `from <instant>` (`[t, ∞)`) or `until <instant>` (`(−∞, t)`). */
export interface DirectionalItem {
  type: 'from' | 'until';
  text: string;
  at: number;
}

/** One item of a spec list. */
export type SpecItem = RecurringItem | AbsoluteItem | DirectionalItem;

/** A parsed time spec: a keyword, or a non-empty list of items (matches when any item matches). */
export type Spec = { kind: 'always' } | { kind: 'never' } | { kind: 'list'; items: SpecItem[] };

/** Defaults that fill recurring items without weekrange or zone (`--default-weekframe`, `--default-timezone`). */
export interface SpecDefaults {
  /** Weekday mask (see {@link RecurringItem.days}). */
  weekframe?: number;
  /** Allowed zone name. */
  timezone?: string;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const BLANKS = /^[ \t]*/;

/** Removes leading and trailing blanks (space and tab only, as the grammar's `ws`). */
function trimBlanks(s: string): { text: string; lead: number } {
  const lead = BLANKS.exec(s)![0].length;
  let end = s.length;
  while (end > lead && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
  return { text: s.slice(lead, end), lead };
}

function fmtMinute(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** Formats a weekday mask as day names, e.g. `Mon-Fri` for a contiguous run or `Mon,Wed` otherwise. */
export function formatDays(mask: number): string {
  if (mask === 0x7f) return 'Mon-Sun';
  const days = DAY_NAMES.filter((_, i) => mask & (1 << i));
  return days.join(',');
}

/** Describes the two slices of a wrapped recurring item (the `WrappedTimeRange` notice). */
export function describeWrap(item: RecurringItem): string {
  return `"${item.text}" wraps midnight: on ${formatDays(item.days)} it covers 00:00-${fmtMinute(item.to)} and ${fmtMinute(item.from)}-24:00 (${item.zone}); the early slice belongs to the listed day, not to the day after`;
}

/**
 * Parses a weekrange `Day-Day` (case-insensitive; `Sun-Fri` wraps the week; `Mon-Mon` is one day) into a
 * weekday mask. `position` is the offset of `token` in the whole value (for errors).
 */
export function parseWeekrange(token: string, position = 0): Parsed<number> {
  const m = /^([A-Za-z]+)-([A-Za-z]+)$/.exec(token);
  if (!m) {
    return err('Syntax', token, position, `expected a weekday range Day-Day such as Mon-Fri, got "${token}"`);
  }
  const a = DAYS.indexOf(m[1]!.toLowerCase());
  if (a < 0)
    return err('UnknownWeekday', m[1]!, position, `unknown weekday "${m[1]}": expected one of ${DAY_NAMES.join(', ')}`);
  const b = DAYS.indexOf(m[2]!.toLowerCase());
  if (b < 0) {
    return err(
      'UnknownWeekday',
      m[2]!,
      position + m[1]!.length + 1,
      `unknown weekday "${m[2]}": expected one of ${DAY_NAMES.join(', ')}`,
    );
  }
  let mask = 0;
  for (let i = a; ; i = (i + 1) % 7) {
    mask |= 1 << i;
    if (i === b) break;
  }
  return { ok: true, value: mask };
}

function err<T>(code: GrammarErrorCode, token: string, position: number, detail: string): Parsed<T> {
  return { ok: false, errors: [{ code, token, position, detail }] };
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/;

function daysInMonth(y: number, m: number): number {
  return [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
    m - 1
  ]!;
}

/** ms since the epoch of a UTC calendar date and time; undefined when the date or time is not real. */
function utcMs(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

const INSTANT_FORM = 'an RFC 3339 instant YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM), e.g. 2025-12-24T00:00:00+01:00';

/**
 * Parses an RFC 3339 instant (`instant` in docs/downscaler.md#ds-grammar: a real calendar date, upper-case `T` and `Z`,
 * seconds required, optional fraction, offset `Z` or `±HH:MM`) into ms since the epoch.
 */
export function parseInstant(token: string, position = 0): Parsed<number> {
  const m = INSTANT.exec(token);
  const bad = (why: string) => err<number>('InvalidInstant', token, position, `${why}: expected ${INSTANT_FORM}`);
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}t/.test(token)) return bad(`"${token}" has a lower-case "t"`);
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(token)) return bad(`"${token}" has no offset`);
    return bad(`"${token}" is not an instant`);
  }
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const base = utcMs(+y!, +mo!, +d!, +h!, +mi!, +s!, frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0);
  if (base === undefined) return bad(`"${token}" is not a real date and time`);
  let offMin = 0;
  if (off !== 'Z') {
    const oh = Number(off!.slice(1, 3));
    const om = Number(off!.slice(4, 6));
    if (oh > 23 || om > 59) return bad(`offset "${off}" out of range`);
    offMin = (off![0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return { ok: true, value: base - offMin * 60_000 };
}

/**
 * Parses an until-instant (docs/downscaler.md#ds-grammar, `downscaler/exclude-until`): an RFC 3339 instant, or
 * `YYYY-MM-DDTHH:MM[:SS][Z]`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DD`; forms without offset are UTC, a date
 * alone is 00:00 UTC. Returns ms since the epoch.
 */
export function parseUntilInstant(raw: string): Parsed<number> {
  const full = parseInstant(raw);
  if (full.ok) return full;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?Z?| (\d{2}):(\d{2}))?$/.exec(raw);
  if (m) {
    const [, y, mo, d, h1, mi1, s1, h2, mi2] = m;
    const v = utcMs(+y!, +mo!, +d!, +(h1 ?? h2 ?? 0), +(mi1 ?? mi2 ?? 0), +(s1 ?? 0), 0);
    if (v !== undefined) return { ok: true, value: v };
  }
  return err(
    'InvalidInstant',
    raw,
    0,
    `"${raw}" is not an instant: expected ${INSTANT_FORM}, YYYY-MM-DDTHH:MM[:SS][Z], "YYYY-MM-DD HH:MM" or YYYY-MM-DD (UTC)`,
  );
}

function parseClock(token: string, position: number): Parsed<{ from: number; to: number }> {
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(token);
  if (!m) {
    return err(
      'Syntax',
      token,
      position,
      `expected a time range HH:MM-HH:MM with two-digit hours and minutes (e.g. 08:00-18:00), got "${token}"`,
    );
  }
  const [fh, fm, th, tm] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!];
  const range = (what: string, tok: string, off: number) =>
    err<{ from: number; to: number }>('TimeOutOfRange', tok, position + off, what);
  if (fh > 23) {
    return range(
      fh === 24 ? `"24:00" is only valid as the end of a range` : `hour ${m[1]} out of range 00-23`,
      m[1]!,
      0,
    );
  }
  if (fm > 59) return range(`minute ${m[2]} out of range 00-59`, m[2]!, 3);
  if (th > 24) return range(`hour ${m[3]} out of range 00-24`, m[3]!, 6);
  if (tm > 59) return range(`minute ${m[4]} out of range 00-59`, m[4]!, 9);
  if (th === 24 && tm !== 0) return range(`"24:${m[4]}" out of range: 24 is only valid as 24:00`, `24:${m[4]}`, 6);
  const from = fh * 60 + fm;
  const to = th * 60 + tm;
  if (from === to) {
    return err('EmptyRange', token, position, `"${token}" is empty: start and end are equal`);
  }
  return { ok: true, value: { from, to } };
}

function zoneError(token: string, position: number): Parsed<string> {
  const c = checkZone(token);
  if (c.ok) return { ok: true, value: token };
  const hint = c.suggestion ? ` (use "${c.suggestion}")` : '';
  switch (c.code) {
    case 'ZoneCase':
      return err('ZoneCase', token, position, `zone "${token}" is wrongly cased${hint}; zone names are case-sensitive`);
    case 'ZoneNotAllowed':
      return err(
        'ZoneNotAllowed',
        token,
        position,
        `zone "${token}" is not allowed${hint}: use an IANA location name such as Europe/Berlin, or UTC`,
      );
    default:
      return err(
        'UnknownZone',
        token,
        position,
        `unknown zone "${token}": use an IANA location name such as Europe/Berlin, or UTC`,
      );
  }
}

/** Checks a zone name for `--default-timezone` (same rules as a spec item's zone). */
export function parseZone(raw: string): Parsed<string> {
  return zoneError(raw, 0);
}

function parseRecurring(text: string, pos: number, defaults: SpecDefaults): Parsed<RecurringItem> {
  const tokens: Array<{ t: string; p: number }> = [];
  for (const m of text.matchAll(/[^ \t]+/g)) tokens.push({ t: m[0], p: pos + m.index! });
  const clockIdx = tokens.findIndex((x) => x.t.includes(':'));
  if (tokens.length > 3 || clockIdx < 0 || clockIdx > 1 || tokens.length - clockIdx > 2) {
    const stray =
      clockIdx < 0
        ? tokens[tokens.length - 1]!
        : clockIdx > 1
          ? tokens[0]!
          : (tokens[clockIdx + 2] ?? tokens[tokens.length - 1]!);
    if (clockIdx >= 0 && clockIdx <= 1) {
      const c = parseClock(tokens[clockIdx]!.t, tokens[clockIdx]!.p);
      if (!c.ok && c.errors[0]!.code === 'Syntax') return c;
    }
    if (clockIdx < 0 && tokens.length === 1 && /^[A-Za-z]+-[A-Za-z]+$/.test(tokens[0]!.t)) {
      const w = parseWeekrange(tokens[0]!.t, tokens[0]!.p);
      if (!w.ok) return w;
    }
    return err(
      'Syntax',
      stray.t,
      stray.p,
      `unexpected "${stray.t}": expected [Day-Day ]HH:MM-HH:MM[ Zone], e.g. "Mon-Fri 08:00-18:00 Europe/Berlin"`,
    );
  }
  let days: number | undefined;
  if (clockIdx === 1) {
    const w = parseWeekrange(tokens[0]!.t, tokens[0]!.p);
    if (!w.ok) return w;
    days = w.value;
  }
  const c = parseClock(tokens[clockIdx]!.t, tokens[clockIdx]!.p);
  if (!c.ok) return c;
  let zone: string | undefined;
  const z = tokens[clockIdx + 1];
  if (z) {
    const r = zoneError(z.t, z.p);
    if (!r.ok) return r;
    zone = r.value;
  }
  if (days === undefined) {
    if (defaults.weekframe === undefined) {
      return err('MissingWeekdays', text, pos, `no weekdays and no --default-weekframe: write e.g. "Mon-Fri ${text}"`);
    }
    days = defaults.weekframe;
  }
  if (zone === undefined) {
    if (defaults.timezone === undefined) {
      return err('MissingZone', text, pos, `no zone and no --default-timezone: write e.g. "${text} Europe/Berlin"`);
    }
    zone = defaults.timezone;
  }
  const { from, to } = c.value;
  return { ok: true, value: { type: 'recurring', text, days, from, to, zone, wrap: from > to } };
}

function parseItem(text: string, pos: number, defaults: SpecDefaults): Parsed<SpecItem> {
  if (/^(always|never)$/i.test(text)) {
    return err('KeywordInList', text, pos, `"${text}" is only valid as the whole value, not as an item of a list`);
  }
  const dir = /^(from|until)([ \t]+|-)/i.exec(text);
  if (dir) {
    const rest = text.slice(dir[0].length);
    const at = parseInstant(rest, pos + dir[0].length);
    if (!at.ok) return at;
    return { ok: true, value: { type: dir[1]!.toLowerCase() as 'from' | 'until', text, at: at.value } };
  }
  if (/^(from|until)$/i.test(text))
    return err('Syntax', text, pos, `"${text}" needs an instant, e.g. "${text} 2025-12-24T00:00:00Z"`);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const m = /^(.+?)([ \t]*-[ \t]*)(\d{4}-\d{2}-\d{2}.*)$/.exec(text);
    if (!m) {
      return err(
        'Syntax',
        text,
        pos,
        `expected an absolute range "<instant> - <instant>", e.g. "2025-12-24T00:00:00+01:00 - 2026-01-02T00:00:00+01:00"`,
      );
    }
    const from = parseInstant(m[1]!, pos);
    if (!from.ok) return from;
    const toPos = pos + m[1]!.length + m[2]!.length;
    const to = parseInstant(m[3]!, toPos);
    if (!to.ok) return to;
    if (from.value >= to.value) {
      return err('EmptyRange', text, pos, `"${text}" is empty: the start must be before the end`);
    }
    return { ok: true, value: { type: 'absolute', text, from: from.value, to: to.value } };
  }
  return parseRecurring(text, pos, defaults);
}

/**
 * Parses a time spec (docs/downscaler.md#ds-grammar). Whitespace around the value and items is blanks only (space,
 * tab). All items are parsed; every item error is returned (each with its 1-based item number and text).
 */
export function parseSpec(raw: string, defaults: SpecDefaults = {}): Parsed<Spec> {
  const { text, lead } = trimBlanks(raw);
  if (text === '')
    return err('EmptyItem', '', lead, 'the value is empty: expected "always", "never" or a list of items');
  if (/^always$/i.test(text)) return { ok: true, value: { kind: 'always' } };
  if (/^never$/i.test(text)) return { ok: true, value: { kind: 'never' } };
  const items: SpecItem[] = [];
  const errors: GrammarError[] = [];
  let start = 0;
  const parts = raw.split(',');
  parts.forEach((part, i) => {
    const t = trimBlanks(part);
    const pos = start + t.lead;
    start += part.length + 1;
    const n = i + 1;
    if (t.text === '') {
      errors.push({
        code: 'EmptyItem',
        item: n,
        itemText: '',
        token: '',
        position: pos,
        detail: i === parts.length - 1 && parts.length > 1 ? 'trailing comma' : 'empty item between commas',
      });
      return;
    }
    const r = parseItem(t.text, pos, defaults);
    if (r.ok) items.push(r.value);
    else for (const e of r.errors) errors.push({ ...e, item: n, itemText: t.text });
  });
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { kind: 'list', items } };
}

/** Parsed bool-or-spec: a boolean, or a spec (active while it matches). */
export type BoolOrSpec = { kind: 'bool'; value: boolean } | { kind: 'spec'; spec: Spec };

/** Parses a bool-or-spec: `true`/`false` (case-insensitive) or a spec. */
export function parseBoolOrSpec(raw: string, defaults: SpecDefaults = {}): Parsed<BoolOrSpec> {
  const t = trimBlanks(raw).text;
  if (/^true$/i.test(t)) return { ok: true, value: { kind: 'bool', value: true } };
  if (/^false$/i.test(t)) return { ok: true, value: { kind: 'bool', value: false } };
  const s = parseSpec(raw, defaults);
  if (!s.ok) {
    // a bare word is more likely a wrong boolean than a broken spec
    if (/^[A-Za-z0-9]+$/.test(t) && !/^(always|never)$/i.test(t)) {
      return err('InvalidBool', t, 0, `"${t}" is neither true/false nor a time spec`);
    }
    return s;
  }
  return { ok: true, value: { kind: 'spec', spec: s.value } };
}

/** Largest value of an `integer` (docs/downscaler.md#ds-grammar). */
export const MAX_INTEGER = 2147483647;

/** Parses an `integer`: digits only, no sign, no `%`, at most 2147483647. */
export function parseInteger(raw: string): Parsed<number> {
  if (/^\s*-?\d+(\.\d+)?\s*%\s*$/.test(raw)) {
    return err(
      'Percentage',
      raw,
      0,
      `"${raw}": percentages are not supported; expected a whole number of replicas ≥ 0`,
    );
  }
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_INTEGER) {
    return err('InvalidInteger', raw, 0, `"${raw}" is not an integer 0-${MAX_INTEGER} (digits only, no sign)`);
  }
  return { ok: true, value: Number(raw) };
}

/**
 * The downscaler's duration form: the shared grammar of `parseDuration` in `@kubeaws/runtime` (Go's
 * `time.ParseDuration` without a sign) narrowed to whole `h`, `m` and `s` terms, each at most once and
 * largest first (`1h30m`, `90s`), plus a bare integer meaning seconds (`900`).
 */
export const DURATION_OPTIONS: DurationOptions = {
  units: ['h', 'm', 's'],
  allowFractions: false,
  descending: true,
  allowBareSeconds: true,
};

/** Parses a duration of the form {@link DURATION_OPTIONS} into milliseconds. */
export function parseDurationStrict(raw: string): Parsed<number> {
  const r = tryParseDuration(raw, DURATION_OPTIONS);
  return r.ok ? { ok: true, value: r.value } : err('InvalidDuration', raw, 0, r.error.message);
}

/** Formats an error as `<subject> item N "<item>": <detail>` (or `<subject> "<value>": <detail>`). */
export function formatGrammarError(subject: string, e: GrammarError, value?: string): string {
  if (e.item !== undefined) return `${subject} item ${e.item} "${e.itemText}": ${e.detail}`;
  return value !== undefined ? `${subject} "${value}": ${e.detail}` : `${subject}: ${e.detail}`;
}
