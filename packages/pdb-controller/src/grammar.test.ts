import {
  formatDuration,
  formatTimestamp,
  parseBool,
  parseDuration,
  parseIntOrPercent,
  parseTimestamp,
  parseUpstreamDuration,
  UPSTREAM_DURATION_EXPECTED,
} from './grammar';

describe('parseIntOrPercent (PDB-VALUES)', () => {
  test.each([
    ['1', 1],
    ['3', 3],
    ['2147483647', 2147483647],
    ['1%', '1%'],
    ['25%', '25%'],
    ['100%', '100%'],
  ])('valid %s', (raw, value) => {
    expect(parseIntOrPercent(raw)).toEqual({ ok: true, value });
  });

  test.each([
    ['zero', '0'],
    ['zero percent', '0%'],
    ['leading zero', '01'],
    ['leading zero percent', '05%'],
    ['sign', '+1'],
    ['negative', '-1'],
    ['above int32', '2147483648'],
    ['far above int32', '99999999999'],
    ['above 100%', '101%'],
    ['fraction', '1.5'],
    ['fraction percent', '1.5%'],
    ['space', ' 1'],
    ['empty', ''],
    ['word', 'one'],
    ['percent only', '%'],
  ])('invalid: %s (%j)', (_name, raw) => {
    const r = parseIntOrPercent(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.expected).toMatch(/integer 1\.\.2147483647 or a percentage/);
  });
});

describe('parseDuration (PDB-VALUES)', () => {
  test.each([
    ['0', 0],
    ['00', 0],
    ['90', 90_000],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5h', 5_400_000],
    ['0.1h', 360_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1m1ms', 60_001],
    ['1.5ms', 2],
    ['0.0001s', 1],
    ['0s', 0],
    ['365d', 365 * 86_400_000],
    ['364d24h', 365 * 86_400_000],
    ['31536000', 365 * 86_400_000],
  ])('valid %s = %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toEqual({ ok: true, value: ms });
  });

  test.each([
    ['empty', ''],
    ['unit only', 'h'],
    ['unknown unit', '1w'],
    ['upper-case unit', '1H'],
    ['negative', '-1s'],
    ['sign', '+1s'],
    ['space', '1 s'],
    ['trailing dot', '1.s'],
    ['leading dot', '.5s'],
    ['bare fraction', '1.5'],
    ['bare digits then term', '1h30'],
    ['microseconds', '1us'],
    ['above 365d', '366d'],
    ['just above 365d', '365d1ms'],
    ['above 365d in seconds', '31536001'],
    ['huge', '99999999999999999999999d'],
    ['word', 'forever'],
  ])('invalid: %s (%j)', (_name, raw) => {
    const r = parseDuration(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.expected).toMatch(/duration/);
  });
});

/**
 * The alias `pdb-controller.zalando.org/non-ready-ttl` is read with Go's `time.ParseDuration`, as upstream
 * reads it (docs/pdb-controller.md#pdb-upstream). Rows: `parseDurationTests` and
 * `parseDurationErrorTests` of Go's src/time/time_test.go, in milliseconds rounded up.
 */
describe('parseUpstreamDuration (PDB-UPSTREAM, Go time.ParseDuration)', () => {
  const S = 1000;
  const MIN = 60 * S;
  const H = 60 * MIN;
  test.each<[string, number]>([
    // simple
    ['0', 0],
    ['5s', 5 * S],
    ['30s', 30 * S],
    ['1478s', 1478 * S],
    // sign
    ['-5s', -5 * S],
    ['+5s', 5 * S],
    ['-0', 0],
    ['+0', 0],
    // decimal
    ['5.0s', 5 * S],
    ['5.6s', 5600],
    ['5.s', 5 * S],
    ['.5s', 500],
    ['1.0s', S],
    ['1.00s', S],
    ['1.004s', 1004],
    ['1.0040s', 1004],
    ['100.00100s', 100_001],
    // different units (below a millisecond: rounded up)
    ['10ns', 1],
    ['11us', 1],
    ['12µs', 1],
    ['12μs', 1],
    ['13ms', 13],
    ['14s', 14 * S],
    ['15m', 15 * MIN],
    ['16h', 16 * H],
    // composite durations
    ['3h30m', 3 * H + 30 * MIN],
    ['10.5s4m', 4 * MIN + 10_500],
    ['-2m3.4s', -(2 * MIN + 3400)],
    ['1h2m3s4ms5us6ns', H + 2 * MIN + 3 * S + 5],
    ['39h9m14.425s', 39 * H + 9 * MIN + 14_425],
    // large value
    ['52763797000ns', 52_764],
    // more than 9 digits after decimal point, golang.org/issue/6617
    ['0.3333333333333333333h', 20 * MIN],
    ['9007199254740993ns', 9_007_199_255],
    // huge string, golang.org/issue/15011
    ['0.100000000000000000000h', 6 * MIN],
    ['0.830103483285477580700h', 49 * MIN + 48 * S + 373],
    // the values of the issue this alias was reported with
    ['.5h', 30 * MIN],
    ['+30m', 30 * MIN],
    ['1us', 1],
    ['1.h', H],
  ])('Go accepts %j: %d ms', (raw, ms) => {
    expect(parseUpstreamDuration(raw)).toEqual({ ok: true, value: ms });
  });

  test.each([
    // invalid
    '',
    '3',
    '-',
    's',
    '.',
    '-.',
    '.s',
    '+.s',
    '1d',
    '\x85\x85',
    '\xffff',
    'hello \xffff world',
    '\uFFFD',
    '\uFFFD hello \uFFFD world',
    // overflow
    '9223372036854775810ns',
    '9223372036854775808ns',
    '-9223372036854775809ns',
    '9223372036854776us',
    '3000000h',
    '9223372036854775.808us',
    '9223372036854ms775us808ns',
    // more Go rejects
    '--5m',
    '+-5m',
    '1..5s',
    '1.5.5s',
    '00',
    '1H',
    '1 h',
    ' 1h',
    '7d',
    '1w',
    '90',
  ])('Go rejects %j', (raw) => {
    expect(parseUpstreamDuration(raw)).toEqual({ ok: false, expected: UPSTREAM_DURATION_EXPECTED });
  });
});

describe('parseBool (PDB-VALUES)', () => {
  test.each([
    ['true', true],
    ['false', false],
  ])('valid %s', (raw, value) => expect(parseBool(raw)).toEqual({ ok: true, value }));

  test.each(['True', 'FALSE', 'yes', '1', '0', '', ' true'])('invalid %j', (raw) => {
    expect(parseBool(raw)).toEqual({ ok: false, expected: expect.stringContaining('"true" or "false"') });
  });
});

describe('parseTimestamp / formatTimestamp (PDB-VALUES)', () => {
  test.each([
    ['2025-03-01T10:00:00Z', Date.UTC(2025, 2, 1, 10)],
    ['2025-03-01t10:00:00z', Date.UTC(2025, 2, 1, 10)],
    ['2025-03-01T10:00:00.250Z', Date.UTC(2025, 2, 1, 10, 0, 0, 250)],
    ['2025-03-01T12:30:00+02:30', Date.UTC(2025, 2, 1, 10)],
    ['2025-03-01T05:00:00-05:00', Date.UTC(2025, 2, 1, 10)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
  ])('valid %s', (raw, ms) => expect(parseTimestamp(raw)).toEqual({ ok: true, value: ms }));

  test.each([
    '',
    'yesterday',
    '2025-03-01',
    '2025-03-01 10:00:00Z',
    '2025-03-01T10:00:00',
    '2025-13-01T10:00:00Z',
    '2025-02-30T10:00:00Z',
    '2023-02-29T10:00:00Z',
    '2025-03-01T24:00:00Z',
    '2025-03-01T10:60:00Z',
    '2025-03-01T10:00:60Z',
    '2025-03-01T10:00:00+24:00',
    '1740823200',
  ])('invalid %j', (raw) => expect(parseTimestamp(raw).ok).toBe(false));

  test('format is UTC with whole seconds', () => {
    expect(formatTimestamp(Date.UTC(2025, 2, 1, 10, 0, 0, 999))).toBe('2025-03-01T10:00:00Z');
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0'],
    [1, '1ms'],
    [1500, '1s500ms'],
    [90_000, '1m30s'],
    [93_784_005, '1d2h3m4s5ms'],
  ])('%d ms → %s and back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });
});
