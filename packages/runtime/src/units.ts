/**
 * Value units shared by every kubeaws component: durations, CIDR blocks and Kubernetes resource
 * quantities. One grammar per kind of value; components that need a narrower or wider form pass explicit
 * options instead of writing their own parser. Every parser comes in two shapes: `parseX` throws a
 * {@link UnitError}, `tryParseX` returns a {@link UnitResult}. Errors name the bad value and the valid form.
 */
import ipaddr from 'ipaddr.js';

/** A value that does not fit its grammar. `message` is `"<value>" <what is wrong>`. */
export class UnitError extends Error {
  override readonly name = 'UnitError';
  constructor(
    /** The value as given. */
    readonly value: string,
    /** The valid form, a phrase such as `a sequence of <number><unit> ... like "1h30m"`. */
    readonly expected: string,
    message: string,
    /** For a CIDR that only has host bits set: the canonical network, e.g. `10.0.255.0/28`. */
    readonly canonical?: string,
  ) {
    super(message);
  }
}

/** Result of a `tryParseX` function: the value, or the error `parseX` would throw. */
export type UnitResult<T> = { ok: true; value: T } | { ok: false; error: UnitError };

function attempt<T>(f: () => T): UnitResult<T> {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof UnitError) return { ok: false, error: e };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------------

/**
 * A unit of Go's `time.ParseDuration`; `us` also stands for its spellings with U+00B5 (micro sign) and U+03BC
 * (Greek small letter mu).
 */
export type DurationUnit = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Go's units, smallest first. */
const GO_UNITS: readonly DurationUnit[] = ['ns', 'us', 'ms', 's', 'm', 'h'];

/** Nanoseconds per unit, including the `d` extension and the other spellings of `us`. */
const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n,
  '\u03bcs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
};

const NS_PER_MS = 1_000_000n;

/** Longest duration Go's `time.Duration` (int64 nanoseconds) holds, in whole milliseconds (about 292 years). */
export const MAX_DURATION_MS = Number((2n ** 63n - 1n) / NS_PER_MS);

/** Options of {@link parseDuration}. Without options the grammar is Go's, without a sign. */
export interface DurationOptions {
  /** Also accept the unit `d` (24 h), which Go does not have. Default false. */
  allowDays?: boolean;
  /** Also accept a bare whole number meaning seconds (`"90"` = 90 s), which Go does not. Default false. */
  allowBareSeconds?: boolean;
  /**
   * The Go units accepted (`us` covers its spellings with U+00B5 and U+03BC); default all of them. `d` is
   * governed by {@link allowDays} alone.
   */
  units?: readonly DurationUnit[];
  /** Accept a decimal fraction in a term (`1.5h`). Default true. */
  allowFractions?: boolean;
  /** Require each unit at most once, largest first (`1h30m`, not `30m1h` or `1m1m`). Default false. */
  descending?: boolean;
  /** Smallest valid value in milliseconds (inclusive). Default 0. */
  min?: number;
  /** Largest valid value in milliseconds (inclusive). Default {@link MAX_DURATION_MS}. */
  max?: number;
}

function unitsOf(opts: DurationOptions): string[] {
  const units: string[] = [...(opts.units ?? GO_UNITS)];
  if (opts.allowDays) units.push('d');
  return units.sort((a, b) => Number(UNIT_NS[a]! - UNIT_NS[b]!));
}

/** The valid form for `opts`, as quoted in errors. */
export function durationExpected(opts: DurationOptions = {}): string {
  const units = unitsOf(opts);
  const number = opts.allowFractions === false ? '<integer>' : '<number>';
  const example = units.includes('h') && units.includes('m') ? '1h30m' : `1${units[units.length - 1]}`;
  return (
    `a sequence of ${number}<unit> with units ${units.join(', ')}` +
    `${opts.descending ? ' (each unit at most once, largest first)' : ''}, like "${example}"` +
    `${opts.allowBareSeconds ? ', or a whole number of seconds like "90"' : ''}`
  );
}

function rangeExpected(opts: DurationOptions, tooLong: boolean): string {
  const f = (ms: number) => formatDuration(ms, { allowDays: opts.allowDays });
  const max = Math.min(opts.max ?? MAX_DURATION_MS, MAX_DURATION_MS);
  if (opts.min !== undefined && (opts.max !== undefined || tooLong))
    return `a duration from ${f(opts.min)} to ${f(max)}`;
  if (opts.min !== undefined) return `a duration of at least ${f(opts.min)}`;
  return `a duration of at most ${f(max)}`;
}

// ASCII escapes: one character above U+00FF anywhere in a bundle makes V8 hold the bundle's whole source as a
// two-byte string (twice its size, docs/benchmarks.md#where-the-memory-goes).
const TERM = /([0-9]+)(?:\.([0-9]+))?([a-z\u00b5\u03bc]*)/y;

/**
 * Parses a duration into milliseconds. The grammar is that of Go's `time.ParseDuration` (the form of
 * `metav1.Duration` in Kubernetes objects and of Go components' duration flags): a sequence of decimal
 * numbers, each with an optional fraction and a unit, e.g. `"300ms"`, `"1.5h"`, `"1h30m"`; units `ns`,
 * `us` (also spelt with U+00B5 or U+03BC), `ms`, `s`, `m`, `h`; `"0"` alone needs no unit.
 *
 * ```
 * duration = "0" | term { term }        ; Go's grammar without the sign
 * term     = digits [ "." digits ] unit
 * unit     = "ns" | "us" | "\u00b5s" | "\u03bcs" | "ms" | "s" | "m" | "h"   ; plus "d" = 24h with allowDays
 * ```
 *
 * Every value accepted without options is accepted by Go with the same meaning. It is stricter than Go in
 * two ways: no sign (`-1s`, `+1s`), and digits on both sides of a decimal point (not `1.s` or `.5s`).
 * Options narrow it (`units`, `allowFractions: false`, `descending`, `min`, `max`) or extend it
 * (`allowDays`, `allowBareSeconds`); see {@link DurationOptions}.
 *
 * The sum is computed exactly and rounded up to a whole millisecond, so a non-zero duration never
 * becomes 0 (`"1.5ms"` = 2, `"1ns"` = 1).
 *
 * @returns milliseconds, within `[min, max]`.
 * @throws UnitError naming the value and the valid form, e.g.
 *   `"90x" is not a duration: expected a sequence of <number><unit> with units ns, us, ms, s, m, h, like "1h30m"`,
 *   or `"400d" is out of range: expected a duration of at most 365d`.
 */
export function parseDuration(value: string, opts: DurationOptions = {}): number {
  const bad = (): UnitError => {
    const expected = durationExpected(opts);
    return new UnitError(value, expected, `${JSON.stringify(value)} is not a duration: expected ${expected}`);
  };
  const units = new Set(unitsOf(opts));
  if (units.has('us')) units.add('\u00b5s').add('\u03bcs');
  // The exact sum is num / den nanoseconds, den a power of ten.
  let num = 0n;
  let den = 1n;
  if (value === '0' || (opts.allowBareSeconds && /^[0-9]+$/.test(value))) {
    num = BigInt(value) * UNIT_NS.s!;
  } else {
    let pos = 0;
    let previous: bigint | undefined;
    while (pos < value.length) {
      TERM.lastIndex = pos;
      const m = TERM.exec(value);
      if (!m || !units.has(m[3]!)) throw bad();
      const [whole, int, frac = '', unit] = m as unknown as [string, string, string | undefined, string];
      if (frac !== '' && opts.allowFractions === false) throw bad();
      const size = UNIT_NS[unit]!;
      if (opts.descending && previous !== undefined && size >= previous) throw bad();
      previous = size;
      const termDen = 10n ** BigInt(frac.length);
      const termNum = BigInt(int + frac) * size;
      if (termDen > den) {
        num *= termDen / den;
        den = termDen;
      }
      num += termNum * (den / termDen);
      pos += whole.length;
    }
    if (pos === 0) throw bad();
  }
  const msDen = den * NS_PER_MS;
  const msBig = (num + msDen - 1n) / msDen;
  const min = opts.min ?? 0;
  const max = Math.floor(Math.min(opts.max ?? MAX_DURATION_MS, MAX_DURATION_MS));
  if (msBig > BigInt(max) || msBig < BigInt(Math.ceil(min))) {
    const expected = rangeExpected(opts, msBig > BigInt(max));
    throw new UnitError(value, expected, `${JSON.stringify(value)} is out of range: expected ${expected}`);
  }
  return Number(msBig);
}

/** {@link parseDuration} without throwing: the milliseconds or the {@link UnitError}. */
export function tryParseDuration(value: string, opts: DurationOptions = {}): UnitResult<number> {
  return attempt(() => parseDuration(value, opts));
}

/** Options of {@link formatDuration}. */
export interface FormatDurationOptions {
  /** Use the unit `d` for whole days (only for readers that parse with `allowDays`). Default false. */
  allowDays?: boolean;
  /** A single term in the largest unit that holds the value exactly (`90m`, not `1h30m`). Default false. */
  singleUnit?: boolean;
}

/**
 * Formats milliseconds in the grammar of {@link parseDuration}: the units `h`, `m`, `s`, `ms` (and `d`
 * with `allowDays`) largest first, zero parts left out, e.g. `1h30m`, `1s500ms`; `0s` for zero, a leading
 * `-` for a negative value. Fractions of a millisecond are rounded up (away from zero). A non-negative result
 * parses back to the same value with {@link parseDuration} (with the same `allowDays`) and, without
 * `allowDays`, with Go's `time.ParseDuration`. Unlike Go's `Duration.String` it never writes fractions
 * or zero parts (`1h30m`, not `1h30m0s`).
 * @throws RangeError for a non-finite value.
 */
export function formatDuration(ms: number, opts: FormatDurationOptions = {}): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms < 0) return `-${formatDuration(-ms, opts)}`;
  let rest = Math.ceil(ms);
  if (rest === 0) return '0s';
  const sizes: [string, number][] = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ];
  if (opts.allowDays) sizes.unshift(['d', 86_400_000]);
  if (opts.singleUnit) {
    const [unit, size] = sizes.find(([, size]) => rest % size === 0)!;
    return `${rest / size}${unit}`;
  }
  let out = '';
  for (const [unit, size] of sizes) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// CIDR blocks
// ---------------------------------------------------------------------------------------------------

/** An address family. */
export type IpFamily = 'ipv4' | 'ipv6';

/** A parsed CIDR block with a canonical network address. */
export interface Cidr {
  /** The network address in canonical text: dotted decimal, or RFC 5952 for IPv6 (`2001:db8::`). */
  address: string;
  /** Prefix length: 0-32 (IPv4), 0-128 (IPv6). */
  prefixLength: number;
  family: IpFamily;
  /** `address/prefixLength`, e.g. `10.0.255.0/28` or `2001:db8::/32`. */
  canonical: string;
}

/** Options of {@link parseCidr}. */
export interface CidrOptions {
  /** Accept only this family. Default: both. */
  family?: IpFamily;
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const IPV4_TAIL = new RegExp(`:${OCTET}(?:\\.${OCTET}){3}$`);

function cidrExpected(family?: IpFamily): string {
  const v4 = 'an IPv4 address (four decimal octets) and a prefix length 0-32';
  const v6 = 'an IPv6 address and a prefix length 0-128';
  if (family === 'ipv4') return `<address>/<prefix length> with ${v4}, like "10.0.0.0/16"`;
  if (family === 'ipv6') return `<address>/<prefix length> with ${v6}, like "2001:db8::/32"`;
  return `<address>/<prefix length> with ${v4}, or ${v6}, like "10.0.0.0/16" or "2001:db8::/32"`;
}

/** Strict parse of an address (no zone, no octal/hex/short IPv4 forms); undefined when invalid. */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (IPV4.test(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes(':') || text.includes('%')) return undefined;
  if (text.includes('.')) {
    // an embedded IPv4 tail must be dotted decimal; `::a.b.c.d` (deprecated IPv4-compatible) is refused
    if (!IPV4_TAIL.test(text) || /^::[0-9]+\./.test(text)) return undefined;
  }
  try {
    return ipaddr.IPv6.parse(text);
  } catch {
    return undefined;
  }
}

function addressText(a: ipaddr.IPv4 | ipaddr.IPv6): string {
  if (a.kind() === 'ipv4') return a.toString();
  const v6 = a as ipaddr.IPv6;
  return v6.isIPv4MappedAddress() ? `::ffff:${v6.toIPv4Address().toString()}` : v6.toRFC5952String();
}

function networkOf(bytes: number[], prefixLength: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefixLength - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

/**
 * Parses a CIDR block `<address>/<prefix length>` (RFC 4632 section 3.1 prefix notation for IPv4,
 * RFC 4291 section 2.3 for IPv6), as Go's `net.ParseCIDR` reads it: IPv4 in four decimal octets without
 * leading zeros, IPv6 in any RFC 4291 text form (including an embedded dotted IPv4 tail), a decimal
 * prefix length without leading zeros. Zones (`%eth0`) and the deprecated `::a.b.c.d` form are refused.
 * Unlike Go, the address must be the network itself: host bits set (`10.0.255.5/28`) is an error that
 * names the canonical network. Address parsing and formatting are done by the `ipaddr.js` library.
 *
 * @returns the canonical block, e.g. `{ address: "2001:db8::", prefixLength: 32, family: "ipv6",
 *   canonical: "2001:db8::/32" }` for `"2001:DB8:0::/32"`.
 * @throws UnitError naming the value and the valid form, e.g.
 *   `"10.0.0.300/28" is not a CIDR: expected <address>/<prefix length> ...`, or, with `canonical` set,
 *   `"10.0.255.5/28" has host bits set; the network is "10.0.255.0/28"`.
 */
export function parseCidr(value: string, opts: CidrOptions = {}): Cidr {
  const expected = cidrExpected(opts.family);
  const what = opts.family === 'ipv4' ? 'an IPv4 CIDR' : opts.family === 'ipv6' ? 'an IPv6 CIDR' : 'a CIDR';
  const bad = () => new UnitError(value, expected, `${JSON.stringify(value)} is not ${what}: expected ${expected}`);
  const m = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/.exec(value);
  if (!m) throw bad();
  const addr = parseAddress(m[1]!);
  const prefixLength = Number(m[2]);
  if (!addr) throw bad();
  const family = addr.kind();
  if ((opts.family && family !== opts.family) || prefixLength > (family === 'ipv4' ? 32 : 128)) throw bad();
  const bytes = addr.toByteArray();
  const network = networkOf(bytes, prefixLength);
  const address = addressText(ipaddr.fromByteArray(network));
  const canonical = `${address}/${prefixLength}`;
  if (network.some((b, i) => b !== bytes[i])) {
    throw new UnitError(
      value,
      `the network address, "${canonical}"`,
      `${JSON.stringify(value)} has host bits set; the network is ${JSON.stringify(canonical)}`,
      canonical,
    );
  }
  return { address, prefixLength, family, canonical };
}

/** {@link parseCidr} without throwing: the block or the {@link UnitError}. */
export function tryParseCidr(value: string, opts: CidrOptions = {}): UnitResult<Cidr> {
  return attempt(() => parseCidr(value, opts));
}

function asBlock(v: string | Cidr): { bytes: number[]; prefixLength: number; family: IpFamily } {
  let c: Cidr;
  if (typeof v !== 'string') c = v;
  else if (v.includes('/')) c = parseCidr(v);
  else {
    const a = parseAddress(v);
    if (!a) {
      const expected = 'an IPv4 or IPv6 address, or a CIDR block';
      throw new UnitError(v, expected, `${JSON.stringify(v)} is not an address: expected ${expected}`);
    }
    return { bytes: a.toByteArray(), prefixLength: a.kind() === 'ipv4' ? 32 : 128, family: a.kind() };
  }
  return { bytes: parseAddress(c.address)!.toByteArray(), prefixLength: c.prefixLength, family: c.family };
}

/**
 * True when every address of `inner` (a CIDR block, or a single address) is inside the block `outer`.
 * Blocks of different families never contain each other (IPv4-mapped IPv6 blocks are IPv6).
 * @throws UnitError for an invalid block or address (see {@link parseCidr}).
 */
export function cidrContains(outer: string | Cidr, inner: string | Cidr): boolean {
  const o = asBlock(outer);
  const i = asBlock(inner);
  if (o.family !== i.family || i.prefixLength < o.prefixLength) return false;
  const n = networkOf(i.bytes, o.prefixLength);
  return n.every((b, k) => b === o.bytes[k]);
}

/**
 * True when two CIDR blocks share at least one address, i.e. one contains the other (aligned blocks are
 * nested or disjoint).
 * @throws UnitError for an invalid block (see {@link parseCidr}).
 */
export function cidrsOverlap(a: string | Cidr, b: string | Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes resource quantities
// ---------------------------------------------------------------------------------------------------

/** The valid form of a quantity, as quoted in errors. */
export const QUANTITY_EXPECTED =
  'a number with an optional suffix: Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), n, u, m, k, M, G, T, P, E (powers of 1000) or an exponent e<n>, like "250m", "1.5" or "512Mi"';

const QUANTITY =
  /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei)|(n|u|m|k|M|G|T|P|E))?$/;
const DECIMAL_EXPONENT: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_EXPONENT: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/**
 * Parses a Kubernetes resource quantity (the `resource.Quantity` grammar of k8s.io/apimachinery):
 * `<sign><number><suffix>`, sign optional, number `1`, `1.5`, `1.` or `.5`, suffix one of the binary SI
 * suffixes `Ki`..`Ei`, the decimal SI suffixes `n`, `u`, `m`, (none), `k`, `M`, `G`, `T`, `P`, `E`, or a
 * decimal exponent `e3` / `E-3`. Examples: `250m` = 0.25, `512Mi` = 536870912, `1e3` = 1000.
 * @returns the value as a number (CPU in cores, memory in bytes); not rounded to Kubernetes' nano units.
 * @throws UnitError naming the value and the valid form.
 */
export function parseQuantity(value: string): number {
  const m = QUANTITY.exec(value);
  if (!m) {
    throw new UnitError(
      value,
      QUANTITY_EXPECTED,
      `${JSON.stringify(value)} is not a quantity: expected ${QUANTITY_EXPECTED}`,
    );
  }
  const [, sign, number, exponent, binary, decimal] = m;
  const sigil = sign === '-' ? -1 : 1;
  if (binary) return sigil * Number(number) * 2 ** BINARY_EXPONENT[binary]!;
  const e = exponent ? Number(exponent.slice(1)) : decimal ? DECIMAL_EXPONENT[decimal]! : 0;
  return sigil * Number(`${number}e${e}`);
}

/** {@link parseQuantity} without throwing: the number or the {@link UnitError}. */
export function tryParseQuantity(value: string): UnitResult<number> {
  return attempt(() => parseQuantity(value));
}
