import {
  formatDuration,
  formatTimestamp,
  parseBool,
  parseDuration,
  parseIntOrPercent,
  parseTimestamp,
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
