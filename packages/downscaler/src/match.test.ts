import { type Spec, parseSpec } from './grammar';
import { matchIndex, specMatches } from './match';
import { LocalTimeCache, localTime } from './tz';

function spec(raw: string): Spec {
  const r = parseSpec(raw);
  if (!r.ok) throw new Error(`${raw}: ${JSON.stringify(r.errors)}`);
  return r.value;
}

const at = (iso: string) => Date.parse(iso);

/**
 * DST at minute boundaries (docs/downscaler.md#ds-time): a table of (spec, UTC instant, expected match). Each row names
 * the local wall time the instant falls on, so the table documents the transition it tests.
 */
const DST: Array<[string, string, string, boolean]> = [
  // Europe/Berlin, spring forward 2025-03-30 02:00 CET -> 03:00 CEST (01:00 UTC)
  ['Sun-Sun 02:30-03:30 Europe/Berlin', '2025-03-30T00:59:00Z', '01:59 CET', false],
  [
    'Sun-Sun 02:30-03:30 Europe/Berlin',
    '2025-03-30T01:00:00Z',
    '03:00 CEST: straddling window matches its existing minutes',
    true,
  ],
  ['Sun-Sun 02:30-03:30 Europe/Berlin', '2025-03-30T01:29:00Z', '03:29 CEST', true],
  ['Sun-Sun 02:30-03:30 Europe/Berlin', '2025-03-30T01:30:00Z', '03:30 CEST: end is exclusive', false],
  ['Sun-Sun 02:00-03:00 Europe/Berlin', '2025-03-30T00:59:59Z', '01:59 CET: window inside the gap', false],
  ['Sun-Sun 02:00-03:00 Europe/Berlin', '2025-03-30T01:00:00Z', '03:00 CEST: window inside the gap never fires', false],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-28T06:59:00Z', 'Fri 07:59 CET', false],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-28T07:00:00Z', 'Fri 08:00 CET', true],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-31T05:59:00Z', 'Mon 07:59 CEST: the UTC boundary moved', false],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-31T06:00:00Z', 'Mon 08:00 CEST', true],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-31T15:59:00Z', 'Mon 17:59 CEST', true],
  ['Mon-Fri 08:00-18:00 Europe/Berlin', '2025-03-31T16:00:00Z', 'Mon 18:00 CEST', false],
  // Europe/Berlin, fall back 2025-10-26 03:00 CEST -> 02:00 CET (01:00 UTC): 02:xx occurs twice
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T00:14:00Z', '02:14 CEST', false],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T00:15:00Z', '02:15 CEST (first pass)', true],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T00:45:00Z', '02:45 CEST', false],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T01:14:00Z', '02:14 CET', false],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T01:15:00Z', '02:15 CET (second pass)', true],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T01:44:59Z', '02:44 CET', true],
  ['Sun-Sun 02:15-02:45 Europe/Berlin', '2025-10-26T01:45:00Z', '02:45 CET', false],
  // America/New_York, spring forward 2025-03-09 02:00 EST -> 03:00 EDT (07:00 UTC)
  ['Sun-Sun 02:00-03:00 America/New_York', '2025-03-09T06:59:00Z', '01:59 EST', false],
  ['Sun-Sun 02:00-03:00 America/New_York', '2025-03-09T07:00:00Z', '03:00 EDT: gap window never fires', false],
  ['Sun-Sun 01:30-02:30 America/New_York', '2025-03-09T06:30:00Z', '01:30 EST', true],
  ['Sun-Sun 01:30-02:30 America/New_York', '2025-03-09T06:59:00Z', '01:59 EST', true],
  ['Sun-Sun 01:30-02:30 America/New_York', '2025-03-09T07:00:00Z', '03:00 EDT', false],
  // America/New_York, fall back 2025-11-02 02:00 EDT -> 01:00 EST (06:00 UTC)
  ['Sun-Sun 01:00-02:00 America/New_York', '2025-11-02T04:59:00Z', '00:59 EDT', false],
  ['Sun-Sun 01:00-02:00 America/New_York', '2025-11-02T05:00:00Z', '01:00 EDT', true],
  ['Sun-Sun 01:00-02:00 America/New_York', '2025-11-02T06:00:00Z', '01:00 EST (repeated hour)', true],
  ['Sun-Sun 01:00-02:00 America/New_York', '2025-11-02T06:59:00Z', '01:59 EST', true],
  ['Sun-Sun 01:00-02:00 America/New_York', '2025-11-02T07:00:00Z', '02:00 EST', false],
  // Friday midnight in New York
  ['Mon-Fri 00:00-24:00 America/New_York', '2025-11-08T04:59:00Z', 'Fri 23:59 EST', true],
  ['Mon-Fri 00:00-24:00 America/New_York', '2025-11-08T05:00:00Z', 'Sat 00:00 EST', false],
  // Australia/Sydney, fall back 2025-04-06 03:00 AEDT -> 02:00 AEST (16:00 UTC on the 5th)
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-04-05T14:59:00Z', '01:59 AEDT', false],
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-04-05T15:00:00Z', '02:00 AEDT', true],
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-04-05T16:00:00Z', '02:00 AEST (repeated)', true],
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-04-05T16:59:00Z', '02:59 AEST', true],
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-04-05T17:00:00Z', '03:00 AEST', false],
  // Australia/Sydney, spring forward 2025-10-05 02:00 AEST -> 03:00 AEDT (16:00 UTC on the 4th)
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-10-04T15:59:00Z', '01:59 AEST', false],
  ['Sun-Sun 02:00-03:00 Australia/Sydney', '2025-10-04T16:00:00Z', '03:00 AEDT: gap', false],
  ['Mon-Fri 09:00-17:00 Australia/Sydney', '2025-09-28T22:59:00Z', 'Mon 08:59 AEST', false],
  ['Mon-Fri 09:00-17:00 Australia/Sydney', '2025-09-28T23:00:00Z', 'Mon 09:00 AEST', true],
  ['Mon-Fri 09:00-17:00 Australia/Sydney', '2025-10-05T22:00:00Z', 'Mon 09:00 AEDT: an hour earlier in UTC', true],
  ['Mon-Fri 00:00-24:00 Australia/Sydney', '2025-10-10T12:59:00Z', 'Fri 23:59 AEDT', true],
  ['Mon-Fri 00:00-24:00 Australia/Sydney', '2025-10-10T13:00:00Z', 'Sat 00:00 AEDT while still Friday in UTC', false],
  // Australia/Lord_Howe: half-hour DST shift 2025-10-05 02:00 -> 02:30 (15:30 UTC on the 4th)
  ['Sun-Sun 02:00-02:30 Australia/Lord_Howe', '2025-10-04T15:29:00Z', '01:59 +10:30', false],
  ['Sun-Sun 02:00-02:30 Australia/Lord_Howe', '2025-10-04T15:30:00Z', '02:30 +11: half-hour gap', false],
  ['Sun-Sun 02:15-02:45 Australia/Lord_Howe', '2025-10-04T15:30:00Z', '02:30 +11', true],
  ['Sun-Sun 02:15-02:45 Australia/Lord_Howe', '2025-10-04T15:45:00Z', '02:45 +11', false],
  // Asia/Jerusalem: spring forward on a Friday, 2025-03-28 02:00 -> 03:00 (00:00 UTC)
  ['Fri-Fri 02:00-03:00 Asia/Jerusalem', '2025-03-27T23:59:00Z', 'Fri 01:59 IST', false],
  ['Fri-Fri 02:00-03:00 Asia/Jerusalem', '2025-03-28T00:00:00Z', 'Fri 03:00 IDT: gap', false],
  ['Fri-Fri 00:00-24:00 Asia/Jerusalem', '2025-03-27T21:59:00Z', 'Thu 23:59 IST', false],
  ['Fri-Fri 00:00-24:00 Asia/Jerusalem', '2025-03-27T22:00:00Z', 'Fri 00:00 IST', true],
  ['Fri-Fri 00:00-24:00 Asia/Jerusalem', '2025-03-28T20:59:00Z', 'Fri 23:59 IDT (a 23-hour Friday)', true],
  ['Fri-Fri 00:00-24:00 Asia/Jerusalem', '2025-03-28T21:00:00Z', 'Sat 00:00 IDT', false],
  // America/Santiago: DST changes at midnight
  ['Sun-Sun 00:00-01:00 America/Santiago', '2025-09-07T03:59:00Z', 'Sat 23:59 -04', false],
  ['Sun-Sun 00:00-01:00 America/Santiago', '2025-09-07T04:00:00Z', 'Sun 01:00 -03: midnight hour skipped', false],
  ['Sat-Sat 00:00-24:00 America/Santiago', '2025-09-07T03:59:00Z', 'Sat 23:59 -04', true],
  ['Sat-Sat 00:00-24:00 America/Santiago', '2025-09-07T04:00:00Z', 'Sun 01:00 -03', false],
  ['Sat-Sat 23:00-24:00 America/Santiago', '2025-04-06T01:59:00Z', 'Sat 22:59 -03', false],
  ['Sat-Sat 23:00-24:00 America/Santiago', '2025-04-06T02:00:00Z', 'Sat 23:00 -03', true],
  ['Sat-Sat 23:00-24:00 America/Santiago', '2025-04-06T03:00:00Z', 'Sat 23:00 -04 (repeated hour)', true],
  ['Sat-Sat 23:00-24:00 America/Santiago', '2025-04-06T03:59:00Z', 'Sat 23:59 -04', true],
  ['Sat-Sat 23:00-24:00 America/Santiago', '2025-04-06T04:00:00Z', 'Sun 00:00 -04', false],
  // Pacific/Auckland, spring forward 2025-09-28 02:00 NZST -> 03:00 NZDT (14:00 UTC on the 27th)
  ['Sun-Sun 02:30-03:30 Pacific/Auckland', '2025-09-27T13:59:00Z', '01:59 NZST', false],
  ['Sun-Sun 02:30-03:30 Pacific/Auckland', '2025-09-27T14:00:00Z', '03:00 NZDT', true],
  ['Sun-Sun 02:30-03:30 Pacific/Auckland', '2025-09-27T14:30:00Z', '03:30 NZDT', false],
  // Asia/Kolkata: no DST, +05:30
  ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2025-06-02T03:29:00Z', 'Mon 08:59 IST', false],
  ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2025-06-02T03:30:00Z', 'Mon 09:00 IST', true],
  ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2025-06-02T11:59:00Z', 'Mon 17:29 IST', true],
  ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2025-06-02T12:00:00Z', 'Mon 17:30 IST', false],
  ['Mon-Fri 09:00-17:30 Asia/Kolkata', '2025-01-06T03:30:00Z', 'Mon 09:00 IST in winter: same UTC time', true],
  ['Mon-Fri 00:00-24:00 Asia/Kolkata', '2025-06-06T18:29:00Z', 'Fri 23:59 IST', true],
  ['Mon-Fri 00:00-24:00 Asia/Kolkata', '2025-06-06T18:30:00Z', 'Sat 00:00 IST while Friday in UTC', false],
];

describe('DST and zones at minute boundaries', () => {
  it.each(DST)('%s at %s (%s) → %s', (raw, iso, _local, expected) => {
    expect(specMatches(spec(raw), at(iso))).toBe(expected);
  });

  it('produces every local minute of a fall-back night twice and skips the spring-forward gap', () => {
    const count = new Map<number, number>();
    for (let t = at('2025-10-25T22:00:00Z'); t < at('2025-10-26T04:00:00Z'); t += 60_000) {
      const m = localTime('Europe/Berlin', t).minute;
      count.set(m, (count.get(m) ?? 0) + 1);
    }
    expect(count.get(2 * 60 + 30)).toBe(2);
    expect(count.get(1 * 60 + 30)).toBe(1);
    const seen = new Set<number>();
    for (let t = at('2025-03-29T22:00:00Z'); t < at('2025-03-30T04:00:00Z'); t += 60_000)
      seen.add(localTime('Europe/Berlin', t).minute);
    expect(seen.has(2 * 60 + 30)).toBe(false);
    expect(seen.has(3 * 60)).toBe(true);
  });

  it('a downtime window inside the repeated hour yields two down/up cycles', () => {
    const s = spec('Sun-Sun 02:10-02:20 Europe/Berlin');
    let flips = 0;
    let prev = false;
    for (let t = at('2025-10-25T23:00:00Z'); t < at('2025-10-26T03:00:00Z'); t += 60_000) {
      const m = specMatches(s, t);
      if (m !== prev) flips++;
      prev = m;
    }
    expect(flips).toBe(4);
  });
});

describe('half-open, wrap and list semantics', () => {
  const mon = (hhmm: string) => at(`2025-06-02T${hhmm}:00Z`); // a Monday

  it('recurring [from, to) at minute resolution', () => {
    const s = spec('Mon-Mon 08:00-09:00 UTC');
    expect([mon('07:59'), mon('08:00'), mon('08:59'), mon('09:00')].map((t) => specMatches(s, t))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(specMatches(s, mon('08:59') + 59_999)).toBe(true);
  });

  it('00:00-24:00 covers the whole day and nothing of the next', () => {
    const s = spec('Mon-Mon 00:00-24:00 UTC');
    expect(specMatches(s, mon('00:00'))).toBe(true);
    expect(specMatches(s, mon('23:59'))).toBe(true);
    expect(specMatches(s, at('2025-06-03T00:00:00Z'))).toBe(false);
  });

  it('a wrapped item covers [00:00, to) and [from, 24:00) of each listed day only', () => {
    const s = spec('Mon-Fri 20:00-08:00 UTC');
    expect(specMatches(s, mon('07:59'))).toBe(true); // Monday early slice
    expect(specMatches(s, mon('08:00'))).toBe(false);
    expect(specMatches(s, mon('19:59'))).toBe(false);
    expect(specMatches(s, mon('20:00'))).toBe(true);
    expect(specMatches(s, at('2025-06-07T07:00:00Z'))).toBe(false); // Saturday 07:00 is not covered
    expect(specMatches(s, at('2025-06-06T23:59:00Z'))).toBe(true); // Friday late slice
    expect(specMatches(s, at('2025-06-08T21:00:00Z'))).toBe(false); // Sunday
  });

  it('week ranges wrap (Sun-Fri) and Mon-Mon is one day', () => {
    const s = spec('Sun-Fri 10:00-11:00 UTC');
    expect(specMatches(s, at('2025-06-08T10:30:00Z'))).toBe(true); // Sunday
    expect(specMatches(s, at('2025-06-06T10:30:00Z'))).toBe(true); // Friday
    expect(specMatches(s, at('2025-06-07T10:30:00Z'))).toBe(false); // Saturday
    const one = spec('Mon-Mon 10:00-11:00 UTC');
    expect([2, 3, 4, 5, 6, 7, 8].map((d) => specMatches(one, at(`2025-06-0${d}T10:30:00Z`)))).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('absolute ranges are [from, to) in instants; directional items are [t, ∞) and (−∞, t)', () => {
    const abs = spec('2025-12-24T00:00:00+01:00 - 2025-12-27T00:00:00+01:00');
    expect(specMatches(abs, at('2025-12-23T22:59:59Z'))).toBe(false);
    expect(specMatches(abs, at('2025-12-23T23:00:00Z'))).toBe(true);
    expect(specMatches(abs, at('2025-12-26T22:59:59.999Z'))).toBe(true);
    expect(specMatches(abs, at('2025-12-26T23:00:00Z'))).toBe(false);
    const from = spec('from 2025-03-30T02:30:00+01:00');
    expect(specMatches(from, at('2025-03-30T01:29:59Z'))).toBe(false);
    expect(specMatches(from, at('2025-03-30T01:30:00Z'))).toBe(true);
    const until = spec('until 2025-03-30T01:30:00Z');
    expect(specMatches(until, at('2025-03-30T01:29:59.999Z'))).toBe(true);
    expect(specMatches(until, at('2025-03-30T01:30:00Z'))).toBe(false);
  });

  it('a list matches when any item matches; matchIndex names the first', () => {
    const s = spec('Mon-Mon 08:00-09:00 UTC, Mon-Mon 08:30-10:00 UTC, from 2030-01-01T00:00:00Z');
    expect(matchIndex(s, mon('08:15'))).toBe(0);
    expect(matchIndex(s, mon('09:30'))).toBe(1);
    expect(matchIndex(s, mon('11:00'))).toBe(-1);
    expect(matchIndex(s, at('2030-01-01T00:00:00Z'))).toBe(2);
    expect(matchIndex({ kind: 'always' }, 0)).toBe(0);
    expect(matchIndex({ kind: 'never' }, 0)).toBe(-1);
  });

  it('property: a spec and its complement window partition every minute of a week', () => {
    const a = spec('Mon-Fri 07:30-19:15 Europe/Berlin');
    const b = spec('Mon-Fri 19:15-07:30 Europe/Berlin, Sat-Sun 00:00-24:00 Europe/Berlin');
    const cache = new LocalTimeCache();
    for (let t = at('2025-03-24T00:00:00Z'); t < at('2025-04-07T00:00:00Z'); t += 15 * 60_000) {
      const lt = localTime('Europe/Berlin', t);
      const early = lt.weekday <= 5 && lt.minute < 7 * 60 + 30;
      // the wrapped item covers the early slice of the same listed weekday, so together they tile the week
      const ina = specMatches(a, t, cache);
      const inb = specMatches(b, t, cache);
      expect({ t: new Date(t).toISOString(), both: ina && inb, any: ina || inb || early }).toEqual({
        t: new Date(t).toISOString(),
        both: false,
        any: true,
      });
    }
  });
});
