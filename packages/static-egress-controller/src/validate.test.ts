import { validateValue } from './validate';

const opts = { minPrefixLength: 8, vpcCidrs: ['10.0.0.0/16'] };

describe('validateValue', () => {
  it.each([
    ['203.0.113.0/24', { ok: true, cidr: '203.0.113.0/24', hostBitsSet: false }],
    ['  198.51.100.17/32 ', { ok: true, cidr: '198.51.100.17/32', hostBitsSet: false }],
    ['198.51.100.1/24', { ok: true, cidr: '198.51.100.0/24', hostBitsSet: true }],
    ['10.1.0.1/8', { ok: false, reason: 'CIDRRejected', detail: 'OverlapsVPC' }],
    ['10.0.0.300/24', { ok: false, reason: 'InvalidCIDR' }],
    ['1.2.3.4/33', { ok: false, reason: 'InvalidCIDR' }],
    ['010.0.0.0/8', { ok: false, reason: 'InvalidCIDR' }],
    ['1.2.3.0/024', { ok: false, reason: 'InvalidCIDR' }],
    ['a, b', { ok: false, reason: 'InvalidCIDR' }],
    ['1.2.3.0/24,5.6.7.0/24', { ok: false, reason: 'InvalidCIDR' }],
    ['', { ok: false, reason: 'InvalidCIDR' }],
    ['2001:db8::/32', { ok: false, reason: 'CIDRRejected', detail: 'IPv6NotSupported' }],
    ['0.0.0.0/0', { ok: false, reason: 'CIDRRejected', detail: 'DefaultRouteNotAllowed' }],
    ['0.0.0.0/1', { ok: false, reason: 'CIDRRejected', detail: 'PrefixTooShort' }],
    ['127.0.0.0/8', { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange' }],
    ['169.254.169.254/32', { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange' }],
    ['224.0.0.0/8', { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange' }],
    ['240.1.0.0/16', { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange' }],
    ['0.1.2.0/24', { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange' }],
  ])('%j', (value, want) => expect(validateValue(value, opts)).toMatchObject(want));

  it('hints /32 for a bare address', () => {
    const r = validateValue('8.8.8.8', opts);
    expect(r).toMatchObject({ ok: false, reason: 'InvalidCIDR' });
    expect(!r.ok && r.expected).toContain('"8.8.8.8/32"');
  });

  it('honours --min-prefix-length', () => {
    expect(validateValue('100.64.0.0/10', { minPrefixLength: 16, vpcCidrs: [] })).toMatchObject({ detail: 'PrefixTooShort' });
    expect(validateValue('100.64.0.0/10', { minPrefixLength: 10, vpcCidrs: [] })).toMatchObject({ ok: true });
  });
});
