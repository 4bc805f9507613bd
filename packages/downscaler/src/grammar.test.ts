import {
  type GrammarErrorCode,
  type Spec,
  formatGrammarError,
  parseBoolOrSpec,
  parseDurationStrict,
  parseInstant,
  parseInteger,
  parseSpec,
  parseUntilInstant,
  parseWeekrange,
} from './grammar';
import { checkZone, dropUnevaluableZones, allowedZones } from './zones';

const MON_FRI = 0b0011111;

describe('parseSpec: valid productions', () => {
  it.each<[string, Spec]>([
    ['always', { kind: 'always' }],
    ['  NEVER\t', { kind: 'never' }],
    ['Always', { kind: 'always' }],
    [
      'Mon-Fri 08:00-18:00 Europe/Berlin',
      {
        kind: 'list',
        items: [
          {
            type: 'recurring',
            text: 'Mon-Fri 08:00-18:00 Europe/Berlin',
            days: MON_FRI,
            from: 480,
            to: 1080,
            zone: 'Europe/Berlin',
            wrap: false,
          },
        ],
      },
    ],
    [
      'mon-FRI 00:00-24:00 UTC',
      {
        kind: 'list',
        items: [
          {
            type: 'recurring',
            text: 'mon-FRI 00:00-24:00 UTC',
            days: MON_FRI,
            from: 0,
            to: 1440,
            zone: 'UTC',
            wrap: false,
          },
        ],
      },
    ],
    [
      'Sun-Fri 20:00-08:00 Asia/Kolkata',
      {
        kind: 'list',
        items: [
          {
            type: 'recurring',
            text: 'Sun-Fri 20:00-08:00 Asia/Kolkata',
            days: 0b1011111,
            from: 1200,
            to: 480,
            zone: 'Asia/Kolkata',
            wrap: true,
          },
        ],
      },
    ],
    [
      'Mon-Mon 10:00-11:00 Etc/UTC',
      {
        kind: 'list',
        items: [
          {
            type: 'recurring',
            text: 'Mon-Mon 10:00-11:00 Etc/UTC',
            days: 1,
            from: 600,
            to: 660,
            zone: 'Etc/UTC',
            wrap: false,
          },
        ],
      },
    ],
    [
      'Sat-Sun\t 00:00-24:00 \tAmerica/New_York , Mon-Fri 19:00-24:00 America/New_York',
      {
        kind: 'list',
        items: [
          {
            type: 'recurring',
            text: 'Sat-Sun\t 00:00-24:00 \tAmerica/New_York',
            days: 0b1100000,
            from: 0,
            to: 1440,
            zone: 'America/New_York',
            wrap: false,
          },
          {
            type: 'recurring',
            text: 'Mon-Fri 19:00-24:00 America/New_York',
            days: MON_FRI,
            from: 1140,
            to: 1440,
            zone: 'America/New_York',
            wrap: false,
          },
        ],
      },
    ],
    [
      '2025-12-24T00:00:00+01:00 - 2026-01-02T00:00:00+01:00',
      {
        kind: 'list',
        items: [
          {
            type: 'absolute',
            text: '2025-12-24T00:00:00+01:00 - 2026-01-02T00:00:00+01:00',
            from: Date.UTC(2025, 11, 23, 23),
            to: Date.UTC(2026, 0, 1, 23),
          },
        ],
      },
    ],
    [
      '2025-01-01T00:00:00-05:00-2025-01-02T00:00:00.5Z',
      {
        kind: 'list',
        items: [
          {
            type: 'absolute',
            text: '2025-01-01T00:00:00-05:00-2025-01-02T00:00:00.5Z',
            from: Date.UTC(2025, 0, 1, 5),
            to: Date.UTC(2025, 0, 2) + 500,
          },
        ],
      },
    ],
    [
      'from 2025-06-01T00:00:00Z',
      { kind: 'list', items: [{ type: 'from', text: 'from 2025-06-01T00:00:00Z', at: Date.UTC(2025, 5, 1) }] },
    ],
    [
      'UNTIL-2025-06-01T00:00:00Z',
      { kind: 'list', items: [{ type: 'until', text: 'UNTIL-2025-06-01T00:00:00Z', at: Date.UTC(2025, 5, 1) }] },
    ],
  ])('%j', (raw, expected) => {
    expect(parseSpec(raw)).toEqual({ ok: true, value: expected });
  });

  it('fills weekdays and zone from the defaults', () => {
    const r = parseSpec('08:00-18:00, Sat-Sun 10:00-12:00, 09:00-10:00 UTC', {
      weekframe: MON_FRI,
      timezone: 'Europe/Berlin',
    });
    expect(
      r.ok && r.value.kind === 'list' && r.value.items.map((i) => i.type === 'recurring' && [i.days, i.zone]),
    ).toEqual([
      [MON_FRI, 'Europe/Berlin'],
      [0b1100000, 'Europe/Berlin'],
      [MON_FRI, 'UTC'],
    ]);
  });
});

describe('parseSpec: every invalid form has its named error, token and position', () => {
  it.each<[string, GrammarErrorCode, string, number, number | undefined]>([
    // [value, code, token, position, item]
    ['', 'EmptyItem', '', 0, undefined],
    ['   ', 'EmptyItem', '', 3, undefined],
    ['Mon-Fri 08:00-18:00 UTC,', 'EmptyItem', '', 24, 2],
    ['Mon-Fri 08:00-18:00 UTC, ,Sat-Sun 08:00-09:00 UTC', 'EmptyItem', '', 25, 2],
    ['Mon-Fri 7:30-18:00 UTC', 'Syntax', '7:30-18:00', 8, 1],
    ['Mon-Fri 08:00 18:00 UTC', 'Syntax', '08:00', 8, 1],
    ['Mon-Fri 08:00-18:00 UTC extra', 'Syntax', 'extra', 24, 1],
    ['Mon-Fri08:00-18:00 UTC', 'Syntax', 'Mon-Fri08:00-18:00', 0, 1],
    ['Mon-Fri 08:00 - 18:00 UTC', 'Syntax', '08:00', 8, 1],
    ['Mon-Fri', 'Syntax', 'Mon-Fri', 0, 1],
    ['Mon 08:00-18:00 UTC', 'Syntax', 'Mon', 0, 1],
    ['2025-01-01T00:00:00Z', 'Syntax', '2025-01-01T00:00:00Z', 0, 1],
    ['from', 'Syntax', 'from', 0, 1],
    ['Mon-Fry 08:00-18:00 UTC', 'UnknownWeekday', 'Fry', 4, 1],
    ['UTC 08:00-09:00, Monday-Fri 08:00-18:00 UTC', 'Syntax', 'UTC', 0, 1],
    ['Mon-Fri 08:00-18:00 UTC, Tue-Thr 08:00-18:00 UTC', 'UnknownWeekday', 'Thr', 29, 2],
    ['Mon-Fri 07:30-25:99 UTC', 'TimeOutOfRange', '25', 14, 1],
    ['Mon-Fri 24:00-08:00 UTC', 'TimeOutOfRange', '24', 8, 1],
    ['Mon-Fri 08:60-09:00 UTC', 'TimeOutOfRange', '60', 11, 1],
    ['Mon-Fri 08:00-09:75 UTC', 'TimeOutOfRange', '75', 17, 1],
    ['Mon-Fri 08:00-24:30 UTC', 'TimeOutOfRange', '24:30', 14, 1],
    ['Mon-Fri 03:00-03:00 UTC', 'EmptyRange', '03:00-03:00', 8, 1],
    ['2025-01-02T00:00:00Z - 2025-01-01T00:00:00Z', 'EmptyRange', '2025-01-02T00:00:00Z - 2025-01-01T00:00:00Z', 0, 1],
    ['2025-01-01T00:00:00Z - 2025-01-01T00:00:00Z', 'EmptyRange', '2025-01-01T00:00:00Z - 2025-01-01T00:00:00Z', 0, 1],
    ['Mon-Fri 08:00-18:00 Mars/Phobos', 'UnknownZone', 'Mars/Phobos', 20, 1],
    ['Mon-Fri 08:00-18:00 PST', 'ZoneNotAllowed', 'PST', 20, 1],
    ['Mon-Fri 08:00-18:00 CET', 'ZoneNotAllowed', 'CET', 20, 1],
    ['Mon-Fri 08:00-18:00 EST', 'ZoneNotAllowed', 'EST', 20, 1],
    ['Mon-Fri 08:00-18:00 MST7MDT', 'ZoneNotAllowed', 'MST7MDT', 20, 1],
    ['Mon-Fri 08:00-18:00 US/Pacific', 'ZoneNotAllowed', 'US/Pacific', 20, 1],
    ['Mon-Fri 08:00-18:00 Etc/GMT+5', 'ZoneNotAllowed', 'Etc/GMT+5', 20, 1],
    ['Mon-Fri 08:00-18:00 Japan', 'ZoneNotAllowed', 'Japan', 20, 1],
    ['Mon-Fri 08:00-18:00 Europe/berlin', 'ZoneCase', 'Europe/berlin', 20, 1],
    ['Mon-Fri 08:00-18:00', 'MissingZone', 'Mon-Fri 08:00-18:00', 0, 1],
    ['08:00-18:00 UTC', 'MissingWeekdays', '08:00-18:00 UTC', 0, 1],
    ['always, Mon-Fri 08:00-09:00 UTC', 'KeywordInList', 'always', 0, 1],
    ['Mon-Fri 08:00-09:00 UTC, never', 'KeywordInList', 'never', 25, 2],
    ['2025-02-30T00:00:00Z - 2025-03-01T00:00:00Z', 'InvalidInstant', '2025-02-30T00:00:00Z', 0, 1],
    ['2025-01-01T00:00:00 - 2025-01-02T00:00:00Z', 'InvalidInstant', '2025-01-01T00:00:00', 0, 1],
    ['2025-01-01t00:00:00Z - 2025-01-02T00:00:00Z', 'InvalidInstant', '2025-01-01t00:00:00Z', 0, 1],
    ['2025-01-01T00:00:00Z - 2025-01-02T00:00:00z', 'InvalidInstant', '2025-01-02T00:00:00z', 23, 1],
    ['until 2025-01-01T25:00:00Z', 'InvalidInstant', '2025-01-01T25:00:00Z', 6, 1],
    ['from 2025-01-01', 'InvalidInstant', '2025-01-01', 5, 1],
  ])('%j → %s', (raw, code, token, position, item) => {
    const r = parseSpec(raw);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect({
      code: r.errors[0]!.code,
      token: r.errors[0]!.token,
      position: r.errors[0]!.position,
      item: r.errors[0]!.item,
    }).toEqual({
      code,
      token,
      position,
      item,
    });
    // the position points at the token in the value
    if (token) expect(raw.slice(position, position + token.length)).toBe(token);
  });

  it('reports every broken item', () => {
    const r = parseSpec('Mon-Fry 08:00-09:00 UTC, Mon-Fri 08:00-09:00 PST');
    expect(!r.ok && r.errors.map((e) => [e.item, e.code])).toEqual([
      [1, 'UnknownWeekday'],
      [2, 'ZoneNotAllowed'],
    ]);
  });

  it('formats messages naming key, item, token and the valid form', () => {
    const r = parseSpec('Mon-Fri 08:00-09:00 UTC, Mon-Fri 07:30-25:99 UTC');
    expect(!r.ok && formatGrammarError('downscaler/uptime', r.errors[0]!)).toBe(
      'downscaler/uptime item 2 "Mon-Fri 07:30-25:99 UTC": hour 25 out of range 00-24',
    );
    const z = parseSpec('Mon-Fri 08:00-09:00 PST');
    expect(!z.ok && z.errors[0]!.detail).toContain('America/Los_Angeles');
    const c = parseSpec('Mon-Fri 08:00-09:00 Europe/berlin');
    expect(!c.ok && c.errors[0]!.detail).toContain('"Europe/Berlin"');
  });
});

describe('zone allow-list', () => {
  it.each<[string, ReturnType<typeof checkZone>]>([
    ['Europe/Berlin', { ok: true }],
    ['UTC', { ok: true }],
    ['Etc/UTC', { ok: true }],
    ['Asia/Calcutta', { ok: true }], // a Link under Asia/
    ['America/Argentina/Buenos_Aires', { ok: true }],
    ['Asia/Kolkata', { ok: true }],
    ['PST', { ok: false, code: 'ZoneNotAllowed', suggestion: 'America/Los_Angeles' }],
    ['EST', { ok: false, code: 'ZoneNotAllowed', suggestion: 'America/New_York' }],
    ['CET', { ok: false, code: 'ZoneNotAllowed', suggestion: 'Europe/Berlin' }],
    ['MST7MDT', { ok: false, code: 'ZoneNotAllowed', suggestion: 'America/Denver' }],
    ['US/Pacific', { ok: false, code: 'ZoneNotAllowed', suggestion: 'America/Los_Angeles' }],
    ['US/Eastern', { ok: false, code: 'ZoneNotAllowed', suggestion: 'America/New_York' }],
    ['Japan', { ok: false, code: 'ZoneNotAllowed', suggestion: 'Asia/Tokyo' }],
    ['Etc/GMT+5', { ok: false, code: 'ZoneNotAllowed', suggestion: 'UTC' }],
    ['GMT', { ok: false, code: 'ZoneNotAllowed', suggestion: 'Europe/London' }],
    ['Europe/berlin', { ok: false, code: 'ZoneCase', suggestion: 'Europe/Berlin' }],
    ['utc', { ok: false, code: 'ZoneCase', suggestion: 'UTC' }],
    ['Mars/Phobos', { ok: false, code: 'UnknownZone' }],
    ['Europe/Berlín', { ok: false, code: 'UnknownZone' }],
  ])('%s', (name, expected) => {
    expect(checkZone(name)).toEqual(expected);
  });

  it('holds every allowed name the runtime can evaluate, and drops the others', () => {
    expect(allowedZones().size).toBeGreaterThan(450);
    expect(dropUnevaluableZones()).toEqual([]);
    const dropped = dropUnevaluableZones((z) => z !== 'Antarctica/Troll');
    expect(dropped).toEqual(['Antarctica/Troll']);
    expect(checkZone('Antarctica/Troll').ok).toBe(false);
  });
});

describe('other grammars', () => {
  it('parses weekranges, wrapping the week', () => {
    expect(parseWeekrange('Sun-Tue')).toEqual({ ok: true, value: 0b1000011 });
    expect(parseWeekrange('Fri-Mon')).toEqual({ ok: true, value: 0b1110001 });
    expect(parseWeekrange('SAT-sat')).toEqual({ ok: true, value: 0b0100000 });
    expect(parseWeekrange('Mon-Fry')).toMatchObject({ ok: false, errors: [{ code: 'UnknownWeekday', token: 'Fry' }] });
    expect(parseWeekrange('Mon')).toMatchObject({ ok: false, errors: [{ code: 'Syntax' }] });
  });

  it.each<[string, boolean | 'spec' | GrammarErrorCode]>([
    ['true', true],
    ['TRUE', true],
    ['False', false],
    ['Mon-Fri 08:00-09:00 UTC', 'spec'],
    ['0', 'InvalidBool'],
    ['yes', 'InvalidBool'],
    ['1', 'InvalidBool'],
    ['Mon-Fri 8:00-09:00 UTC', 'Syntax'],
  ])('bool-or-spec %j', (raw, expected) => {
    const r = parseBoolOrSpec(raw);
    if (typeof expected === 'boolean') expect(r).toEqual({ ok: true, value: { kind: 'bool', value: expected } });
    else if (expected === 'spec') expect(r.ok && r.value.kind).toBe('spec');
    else expect(!r.ok && r.errors[0]!.code).toBe(expected);
  });

  it.each<[string, number | GrammarErrorCode]>([
    ['0', 0],
    ['3', 3],
    ['007', 7],
    ['2147483647', 2147483647],
    ['2147483648', 'InvalidInteger'],
    ['-1', 'InvalidInteger'],
    ['+1', 'InvalidInteger'],
    ['1.5', 'InvalidInteger'],
    ['50%', 'Percentage'],
    ['', 'InvalidInteger'],
    [' 1', 'InvalidInteger'],
  ])('integer %j', (raw, expected) => {
    const r = parseInteger(raw);
    if (typeof expected === 'number') expect(r).toEqual({ ok: true, value: expected });
    else expect(!r.ok && r.errors[0]!.code).toBe(expected);
  });

  it.each<[string, number | undefined]>([
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['900', 900_000],
    ['0', 0],
    ['1h2m3s', 3_723_000],
    ['', undefined],
    ['1d', undefined],
    ['1.5h', undefined],
    ['30m1h', undefined],
    ['-5m', undefined],
    ['250ms', undefined],
  ])('duration %j', (raw, ms) => {
    const r = parseDurationStrict(raw);
    if (ms === undefined) expect(!r.ok && r.errors[0]!.code).toBe('InvalidDuration');
    else expect(r).toEqual({ ok: true, value: ms });
  });

  it.each<[string, number | undefined]>([
    ['2025-03-30T01:00:00Z', Date.UTC(2025, 2, 30, 1)],
    ['2025-03-30T03:00:00+02:00', Date.UTC(2025, 2, 30, 1)],
    ['2024-02-29T12:00:00.123456-00:30', Date.UTC(2024, 1, 29, 12, 30) + 123],
    ['2025-02-29T00:00:00Z', undefined],
    ['2025-04-31T00:00:00Z', undefined],
    ['2025-01-01T00:00:60Z', undefined],
    ['2025-01-01T00:00Z', undefined],
    ['2025-01-01 00:00:00Z', undefined],
    ['2025-01-01T00:00:00+24:00', undefined],
    ['2025-01-01T00:00:00+0100', undefined],
  ])('instant %j', (raw, ms) => {
    const r = parseInstant(raw);
    if (ms === undefined) expect(!r.ok && r.errors[0]!.code).toBe('InvalidInstant');
    else expect(r).toEqual({ ok: true, value: ms });
  });

  it.each<[string, number | undefined]>([
    ['2025-06-01T12:00:00+02:00', Date.UTC(2025, 5, 1, 10)],
    ['2025-06-01T12:00', Date.UTC(2025, 5, 1, 12)],
    ['2025-06-01T12:00:30Z', Date.UTC(2025, 5, 1, 12, 0, 30)],
    ['2025-06-01 12:00', Date.UTC(2025, 5, 1, 12)],
    ['2025-06-01', Date.UTC(2025, 5, 1)],
    ['2025-06-31', undefined],
    ['2025-06-01 12:00:00', undefined],
    ['tomorrow', undefined],
  ])('until-instant %j', (raw, ms) => {
    const r = parseUntilInstant(raw);
    if (ms === undefined) expect(!r.ok && r.errors[0]!.code).toBe('InvalidInstant');
    else expect(r).toEqual({ ok: true, value: ms });
  });
});
