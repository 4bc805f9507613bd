/**
 * Validation of one ConfigMap value, first failure wins (docs/static-egress-controller.md#seg-validation).
 * CIDR maths only through the runtime's units module (`parseCidr`, `cidrsOverlap`).
 */
import { cidrsOverlap, parseCidr, tryParseCidr } from '@kubeaws/runtime';

/** Why a value was rejected: the Event reason and, for `CIDRRejected`, the detail. */
export type RejectReason = 'InvalidCIDR' | 'CIDRRejected';
/** Detail of a `CIDRRejected` rejection (docs/static-egress-controller.md#seg-validation). */
export type RejectDetail = 'IPv6NotSupported' | 'DefaultRouteNotAllowed' | 'PrefixTooShort' | 'OverlapsVPC' | 'ReservedRange';

/** Outcome of {@link validateValue}. */
export type ValueResult =
  | { ok: true; cidr: string; hostBitsSet: boolean }
  | { ok: false; reason: RejectReason; detail?: RejectDetail; expected: string };

/** Settings of {@link validateValue}. */
export interface ValidateOptions {
  /** Shortest accepted prefix length, 1-32 (`--min-prefix-length`). */
  minPrefixLength: number;
  /** IPv4 CIDR blocks of the VPC (canonical), from DescribeVpcs; empty before discovery. */
  vpcCidrs: readonly string[];
}

/** Ranges never routed to the internet (docs/static-egress-controller.md#seg-validation). */
export const RESERVED_RANGES = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4'] as const;

/** The valid form, named in Events and log lines. */
export const CIDR_EXPECTED = 'one IPv4 CIDR <a.b.c.d>/<1-32> without leading zeros, like "203.0.113.0/24"';

/**
 * Validates one ConfigMap value (surrounding whitespace trimmed) in the order of
 * docs/static-egress-controller.md#seg-validation: grammar (`InvalidCIDR`), IPv6, `/0` and short prefixes,
 * host bits (normalised, accepted), VPC overlap, reserved ranges. Never throws.
 */
export function validateValue(raw: string, opts: ValidateOptions): ValueResult {
  const value = raw.trim();
  const expected = CIDR_EXPECTED;
  if (value === '' || /[\s,;]/.test(value)) return { ok: false, reason: 'InvalidCIDR', expected };
  if (value.includes(':')) {
    return { ok: false, reason: 'CIDRRejected', detail: 'IPv6NotSupported', expected: 'an IPv4 CIDR; IPv6 egress is not supported' };
  }
  if (!value.includes('/')) {
    const asHost = tryParseCidr(`${value}/32`, { family: 'ipv4' });
    return {
      ok: false,
      reason: 'InvalidCIDR',
      expected: asHost.ok ? `a CIDR: write "${value}/32" for a single address` : expected,
    };
  }
  const parsed = tryParseCidr(value, { family: 'ipv4' });
  let cidr: string;
  let hostBitsSet = false;
  if (parsed.ok) cidr = parsed.value.canonical;
  else if (parsed.error.canonical) {
    cidr = parsed.error.canonical;
    hostBitsSet = true;
  } else return { ok: false, reason: 'InvalidCIDR', expected };
  const prefix = parseCidr(cidr).prefixLength;
  if (prefix === 0) {
    return { ok: false, reason: 'CIDRRejected', detail: 'DefaultRouteNotAllowed', expected: 'a prefix length of at least 1; /0 is never routed' };
  }
  if (prefix < opts.minPrefixLength) {
    return {
      ok: false,
      reason: 'CIDRRejected',
      detail: 'PrefixTooShort',
      expected: `a prefix length of at least ${opts.minPrefixLength} (--min-prefix-length)`,
    };
  }
  const vpc = opts.vpcCidrs.find((v) => cidrsOverlap(v, cidr));
  if (vpc) {
    return { ok: false, reason: 'CIDRRejected', detail: 'OverlapsVPC', expected: `a CIDR outside the VPC's ${vpc}` };
  }
  const reserved = RESERVED_RANGES.find((r) => cidrsOverlap(r, cidr));
  if (reserved) {
    return { ok: false, reason: 'CIDRRejected', detail: 'ReservedRange', expected: `a CIDR outside the reserved ${reserved}` };
  }
  return { ok: true, cidr, hostBitsSet };
}
