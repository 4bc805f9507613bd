import {
  MAX_DURATION_MS,
  UnitError,
  cidrContains,
  cidrsOverlap,
  durationExpected,
  formatDuration,
  parseCidr,
  parseDuration,
  parseQuantity,
  tryParseCidr,
  tryParseDuration,
  tryParseQuantity,
} from './units';

function errorOf(f: () => unknown): UnitError {
  try {
    f();
  } catch (e) {
    if (e instanceof UnitError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('parseDuration: Go time.ParseDuration grammar', () => {
  // Values and meanings from Go's time.ParseDuration tests, in ms (rounded up to a whole ms).
  it.each<[string, number]>([
    ['0', 0],
    ['0s', 0],
    ['5s', 5000],
    ['30s', 30_000],
    ['1478s', 1_478_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['300ms', 300],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['10.5s', 10_500],
    ['1.004s', 1004],
    ['1.0040s', 1004],
    ['100.00100s', 100_001],
    ['3h30m', 12_600_000],
    ['1h1h', 7_200_000],
    ['30m1h', 5_400_000],
    ['1m1.5s', 61_500],
    ['10ns', 1],
    ['11us', 1],
    ['12µs', 1],
    ['12μs', 1],
    ['1000000ns', 1],
    ['1000001ns', 2],
    ['1.5ms', 2],
    ['0.0001s', 1],
    ['3000us', 3],
    ['39h9m14.425s', 140_954_425],
    ['2562047h', 2_562_047 * 3_600_000],
  ])('%j = %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
    expect(tryParseDuration(raw)).toEqual({ ok: true, value: ms });
  });

  it.each<[string, string]>([
    ['empty', ''],
    ['unit only', 'h'],
    ['bare number', '90'],
    ['bare zero with fraction', '0.0'],
    ['unknown unit', '90x'],
    ['days need allowDays', '1d'],
    ['weeks', '1w'],
    ['upper-case unit', '1H'],
    ['negative (Go accepts; no negative durations here)', '-1s'],
    ['plus sign', '+1s'],
    ['inner space', '1h 30m'],
    ['leading space', ' 1h'],
    ['trailing space', '1h '],
    ['trailing dot (Go accepts)', '1.s'],
    ['leading dot (Go accepts)', '.5s'],
    ['bare fraction', '1.5'],
    ['missing unit in last term', '1h30'],
    ['exponent', '1e3s'],
    ['comma', '1,5s'],
    ['word', 'forever'],
  ])('rejects %s (%j)', (_name, raw) => {
    const e = errorOf(() => parseDuration(raw));
    expect(e.value).toBe(raw);
    expect(e.message).toBe(
      `${JSON.stringify(raw)} is not a duration: expected a sequence of <number><unit> with units ns, us, ms, s, m, h, like "1h30m"`,
    );
    const r = tryParseDuration(raw);
    expect(r.ok).toBe(false);
  });

  it('rejects values above the int64 nanoseconds Go holds (about 292 years)', () => {
    expect(parseDuration('2562047h47m16.854s')).toBe(MAX_DURATION_MS);
    const e = errorOf(() => parseDuration('2562048h'));
    expect(e.message).toBe('"2562048h" is out of range: expected a duration of at most 2562047h47m16s854ms');
    expect(() => parseDuration('99999999999999999999999h')).toThrow(UnitError);
  });

  describe('options', () => {
    it.each<[string, string, Parameters<typeof parseDuration>[1], number | undefined]>([
      ['allowDays', '7d', { allowDays: true }, 604_800_000],
      ['allowDays with other units', '1d2h3m4s5ms', { allowDays: true }, 93_784_005],
      ['allowDays fraction', '0.5d', { allowDays: true }, 43_200_000],
      ['allowBareSeconds', '90', { allowBareSeconds: true }, 90_000],
      ['allowBareSeconds zero', '00', { allowBareSeconds: true }, 0],
      ['allowBareSeconds not a fraction', '1.5', { allowBareSeconds: true }, undefined],
      ['allowBareSeconds not mixed', '1h30', { allowBareSeconds: true }, undefined],
      ['units: ms and up', '1us', { units: ['ms', 's', 'm', 'h'] }, undefined],
      ['units: µs spelling follows us', '1µs', { units: ['ms', 's', 'm', 'h'] }, undefined],
      ['units: h m s', '250ms', { units: ['h', 'm', 's'] }, undefined],
      ['units: h m s accepted', '1h2m3s', { units: ['h', 'm', 's'] }, 3_723_000],
      ['allowFractions false', '1.5h', { allowFractions: false }, undefined],
      ['allowFractions false integers', '90m', { allowFractions: false }, 5_400_000],
      ['descending', '1h30m', { descending: true }, 5_400_000],
      ['descending: out of order', '30m1h', { descending: true }, undefined],
      ['descending: repeated', '1m1m', { descending: true }, undefined],
      ['min inclusive', '1s', { min: 1000 }, 1000],
      ['below min', '999ms', { min: 1000 }, undefined],
      ['zero below min', '0', { min: 1 }, undefined],
      ['max inclusive', '365d', { allowDays: true, max: 365 * 86_400_000 }, 365 * 86_400_000],
      ['above max', '365d1ms', { allowDays: true, max: 365 * 86_400_000 }, undefined],
      ['above max by rounding up', '60.0001s', { max: 60_000 }, undefined],
    ])('%s: %j', (_name, raw, opts, ms) => {
      const r = tryParseDuration(raw, opts);
      if (ms === undefined) expect(r.ok).toBe(false);
      else expect(r).toEqual({ ok: true, value: ms });
    });

    it('names the valid form for the options in use', () => {
      expect(errorOf(() => parseDuration('1w', { allowDays: true, allowBareSeconds: true })).message).toBe(
        '"1w" is not a duration: expected a sequence of <number><unit> with units ns, us, ms, s, m, h, d, like "1h30m", or a whole number of seconds like "90"',
      );
      expect(
        durationExpected({ units: ['h', 'm', 's'], allowFractions: false, descending: true, allowBareSeconds: true }),
      ).toBe(
        'a sequence of <integer><unit> with units s, m, h (each unit at most once, largest first), like "1h30m", or a whole number of seconds like "90"',
      );
      expect(durationExpected({ units: ['ms', 's'] })).toBe('a sequence of <number><unit> with units ms, s, like "1s"');
    });

    it('names the range', () => {
      expect(errorOf(() => parseDuration('61s', { min: 1000, max: 60_000 })).message).toBe(
        '"61s" is out of range: expected a duration from 1s to 1m',
      );
      expect(errorOf(() => parseDuration('400d', { allowDays: true, max: 365 * 86_400_000 })).message).toBe(
        '"400d" is out of range: expected a duration of at most 365d',
      );
      const e = errorOf(() => parseDuration('0s', { min: 60_000 }));
      expect([e.value, e.expected]).toEqual(['0s', 'a duration of at least 1m']);
      expect(errorOf(() => parseDuration('2562048h', { min: 60_000 })).expected).toBe(
        'a duration from 1m to 2562047h47m16s854ms',
      );
    });
  });
});

describe('formatDuration', () => {
  it.each<[number, string, Parameters<typeof formatDuration>[1]]>([
    [0, '0s', {}],
    [1, '1ms', {}],
    [0.2, '1ms', {}],
    [1500, '1s500ms', {}],
    [90_000, '1m30s', {}],
    [5_400_000, '1h30m', {}],
    [3_600_000, '1h', {}],
    [30 * 86_400_000, '720h', {}],
    [30 * 86_400_000, '30d', { allowDays: true }],
    [93_784_005, '1d2h3m4s5ms', { allowDays: true }],
    [-90_000, '-1m30s', {}],
    [5_400_000, '90m', { singleUnit: true }],
    [7_200_000, '2h', { singleUnit: true }],
    [20_000, '20s', { singleUnit: true }],
    [1500, '1500ms', { singleUnit: true }],
    [172_800_000, '2d', { singleUnit: true, allowDays: true }],
    [0, '0s', { singleUnit: true }],
  ])('%d ms -> %j %j', (ms, text, opts) => {
    expect(formatDuration(ms, opts)).toBe(text);
  });

  it.each([0, 1, 999, 1000, 61_001, 5_400_000, 93_784_005, MAX_DURATION_MS])('%d ms round-trips', (ms) => {
    expect(parseDuration(formatDuration(ms))).toBe(ms);
    expect(parseDuration(formatDuration(ms, { singleUnit: true }))).toBe(ms);
    expect(parseDuration(formatDuration(ms, { allowDays: true }), { allowDays: true })).toBe(ms);
  });

  it('refuses non-finite values', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
    expect(() => formatDuration(Infinity)).toThrow(RangeError);
  });
});

describe('parseCidr: RFC 4632 / RFC 4291 prefix notation with a canonical network', () => {
  it.each<[string, string, number, 'ipv4' | 'ipv6', string]>([
    ['10.0.255.0/28', '10.0.255.0', 28, 'ipv4', '10.0.255.0/28'],
    ['0.0.0.0/0', '0.0.0.0', 0, 'ipv4', '0.0.0.0/0'],
    ['203.0.113.7/32', '203.0.113.7', 32, 'ipv4', '203.0.113.7/32'],
    ['198.51.100.0/24', '198.51.100.0', 24, 'ipv4', '198.51.100.0/24'],
    ['255.255.255.254/31', '255.255.255.254', 31, 'ipv4', '255.255.255.254/31'],
    ['2001:db8::/32', '2001:db8::', 32, 'ipv6', '2001:db8::/32'],
    ['2001:DB8:0:0::/32', '2001:db8::', 32, 'ipv6', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1', 128, 'ipv6', '2001:db8::1/128'],
    ['::/0', '::', 0, 'ipv6', '::/0'],
    ['fd00::/8', 'fd00::', 8, 'ipv6', 'fd00::/8'],
    ['fe80::/10', 'fe80::', 10, 'ipv6', 'fe80::/10'],
    ['::ffff:10.0.0.0/104', '::ffff:10.0.0.0', 104, 'ipv6', '::ffff:10.0.0.0/104'],
    ['64:ff9b::192.0.2.0/120', '64:ff9b::c000:200', 120, 'ipv6', '64:ff9b::c000:200/120'],
  ])('%j', (raw, address, prefixLength, family, canonical) => {
    expect(parseCidr(raw)).toEqual({ address, prefixLength, family, canonical });
    expect(tryParseCidr(raw)).toEqual({ ok: true, value: { address, prefixLength, family, canonical } });
  });

  it.each<[string, string]>([
    ['10.0.255.5/28', '10.0.255.0/28'],
    ['198.51.100.7/24', '198.51.100.0/24'],
    ['10.0.0.1/8', '10.0.0.0/8'],
    ['1.2.3.4/0', '0.0.0.0/0'],
    ['10.0.255.17/31', '10.0.255.16/31'],
    ['2001:db8::1/64', '2001:db8::/64'],
    ['2001:db8:ffff::/33', '2001:db8:8000::/33'],
  ])('host bits set in %j: names the network %j', (raw, network) => {
    const e = errorOf(() => parseCidr(raw));
    expect(e.message).toBe(`${JSON.stringify(raw)} has host bits set; the network is ${JSON.stringify(network)}`);
    expect(e.canonical).toBe(network);
    expect(e.value).toBe(raw);
  });

  it.each<[string, string]>([
    ['empty', ''],
    ['address only', '10.0.0.0'],
    ['prefix only', '/24'],
    ['octet above 255', '10.0.0.300/28'],
    ['three octets', '10.0.0/24'],
    ['leading zero octet (octal in some parsers)', '010.0.0.0/8'],
    ['hex octet', '0x0a.0.0.0/8'],
    ['prefix above 32', '10.0.0.0/33'],
    ['prefix above 128', '2001:db8::/129'],
    ['leading zero prefix', '10.0.0.0/08'],
    ['signed prefix', '10.0.0.0/+8'],
    ['two slashes', '10.0.0.0/8/8'],
    ['space', '10.0.0.0 /8'],
    ['trailing space', '10.0.0.0/8 '],
    ['IPv6 zone', 'fe80::%eth0/64'],
    ['IPv6 two ::', '1::2::3/64'],
    ['IPv6 nine groups', '1:2:3:4:5:6:7:8:9/64'],
    ['IPv6 group above 16 bits', '10000::/16'],
    ['deprecated IPv4-compatible', '::1.2.3.4/128'],
    ['IPv6 with octal IPv4 tail', '::ffff:010.0.0.1/128'],
    ['hostname', 'example.org/24'],
  ])('rejects %s (%j)', (_name, raw) => {
    const e = errorOf(() => parseCidr(raw));
    expect(e.message).toBe(
      `${JSON.stringify(raw)} is not a CIDR: expected <address>/<prefix length> with an IPv4 address (four decimal octets) and a prefix length 0-32, or an IPv6 address and a prefix length 0-128, like "10.0.0.0/16" or "2001:db8::/32"`,
    );
    expect(e.canonical).toBeUndefined();
  });

  it('restricts the family on request', () => {
    expect(parseCidr('10.0.0.0/16', { family: 'ipv4' }).family).toBe('ipv4');
    expect(errorOf(() => parseCidr('2001:db8::/32', { family: 'ipv4' })).message).toBe(
      '"2001:db8::/32" is not an IPv4 CIDR: expected <address>/<prefix length> with an IPv4 address (four decimal octets) and a prefix length 0-32, like "10.0.0.0/16"',
    );
    expect(tryParseCidr('10.0.0.0/16', { family: 'ipv6' }).ok).toBe(false);
    expect(errorOf(() => parseCidr('10.0.0.5/16', { family: 'ipv4' })).canonical).toBe('10.0.0.0/16');
  });
});

describe('cidrContains / cidrsOverlap', () => {
  it.each<[string, string, boolean]>([
    ['10.0.0.0/16', '10.1.255.0/28', false],
    ['10.0.0.0/16', '10.0.255.0/28', true],
    ['10.0.0.0/16', '10.0.15.0/28', true],
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['10.0.0.0/16', '10.0.0.0/8', false],
    ['10.0.0.0/16', '10.0.1.2', true],
    ['10.0.0.0/16', '10.1.0.0', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['2001:db8::/32', '2001:db8:1::/48', true],
    ['2001:db8::/32', '2001:db9::/48', false],
    ['::/0', '10.0.0.0/8', false],
    ['::ffff:0.0.0.0/96', '10.0.0.1', false],
    ['::ffff:0.0.0.0/96', '::ffff:10.0.0.1', true],
  ])('%j contains %j: %s', (outer, inner, want) => {
    expect(cidrContains(outer, inner)).toBe(want);
  });

  it('takes parsed blocks too', () => {
    expect(cidrContains(parseCidr('10.0.0.0/16'), parseCidr('10.0.3.0/24'))).toBe(true);
  });

  it.each<[string, string, boolean]>([
    ['10.0.0.0/16', '10.0.3.0/24', true],
    ['10.0.3.0/24', '10.0.0.0/16', true],
    ['10.0.255.0/28', '10.0.255.16/28', false],
    ['10.0.255.0/28', '10.0.255.0/28', true],
    ['10.0.0.0/8', '2001:db8::/32', false],
  ])('%j and %j overlap: %s', (a, b, want) => {
    expect(cidrsOverlap(a, b)).toBe(want);
  });

  it('refuses invalid blocks and addresses', () => {
    expect(() => cidrContains('10.0.0.1/16', '10.0.0.0/24')).toThrow(/host bits set/);
    expect(() => cidrContains('10.0.0.0/16', '10.0.0.256')).toThrow(/"10.0.0.256" is not an address/);
  });
});

describe('parseQuantity: Kubernetes resource.Quantity', () => {
  it.each<[string, number]>([
    ['0', 0],
    ['1', 1],
    ['1.5', 1.5],
    ['250m', 0.25],
    ['100m', 0.1],
    ['1k', 1000],
    ['2M', 2e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['128974848', 128_974_848],
    ['129e6', 129e6],
    ['129E6', 129e6],
    ['1e-3', 0.001],
    ['123Mi', 123 * 1024 ** 2],
    ['512Mi', 536_870_912],
    ['1Ki', 1024],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['1Ti', 1024 ** 4],
    ['1Ei', 1024 ** 6],
    ['12345n', 0.000012345],
    ['5u', 0.000005],
    ['1.', 1],
    ['.5', 0.5],
    ['+1', 1],
    ['-1', -1],
  ])('%j = %d', (raw, n) => {
    expect(parseQuantity(raw)).toBeCloseTo(n, 12);
    expect(tryParseQuantity(raw).ok).toBe(true);
  });

  it.each(['', ' 1', '1 ', '1K', '1kb', '1Mb', '1e', '1.5.5', 'm', '.', 'one', '1Mi1'])('rejects %j', (raw) => {
    const e = errorOf(() => parseQuantity(raw));
    expect(e.message).toMatch(
      new RegExp(
        `^${JSON.stringify(raw).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a quantity: expected a number with an optional suffix`,
      ),
    );
  });
});
