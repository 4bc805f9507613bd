/**
 * Metric values as Kubernetes Quantities, in Go's canonical DecimalSI form (docs/metrics-adapter.md#ma-quantity;
 * apimachinery `resource.Quantity.String()`). The HPA reads only milli precision.
 */

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * The milli-value of `v`: its shortest round-trip decimal (`String(v)`) times 1000, truncated toward zero
 * with exact BigInt arithmetic (so 1.005 gives 1005). Returns undefined for NaN, ±Infinity and milli-values
 * outside int64 (the collection error `invalid_value`).
 */
export function milliValue(v: number): bigint | undefined {
  if (!Number.isFinite(v)) return undefined;
  const s = String(v);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(s);
  if (!m) return undefined;
  const neg = m[1] === '-';
  const frac = m[3] ?? '';
  const exp = Number(m[4] ?? '0') + 3 - frac.length;
  let digits = BigInt(m[2] + frac);
  if (exp >= 0) digits *= 10n ** BigInt(exp);
  else digits /= 10n ** BigInt(-exp); // BigInt division truncates toward zero
  const r = neg ? -digits : digits;
  if (r > INT64_MAX || r < INT64_MIN) return undefined;
  return r === 0n ? 0n : r;
}

const SUFFIXES: Array<[string, bigint]> = [
  ['E', 10n ** 18n],
  ['P', 10n ** 15n],
  ['T', 10n ** 12n],
  ['G', 10n ** 9n],
  ['M', 10n ** 6n],
  ['k', 10n ** 3n],
];

/**
 * Formats a milli-value in canonical DecimalSI: `<m>m` when not a whole number, else `n` with the largest
 * suffix of k M G T P E that divides it exactly (`1500` → `1500`, `2500000` → `2500k`, `-0` → `0`).
 */
export function formatMilli(m: bigint): string {
  if (m % 1000n !== 0n) return `${m}m`;
  const n = m / 1000n;
  if (n === 0n) return '0';
  for (const [suffix, factor] of SUFFIXES) if (n % factor === 0n) return `${n / factor}${suffix}`;
  return `${n}`;
}

/** `v` as a canonical DecimalSI Quantity string, or undefined when it cannot be served (see {@link milliValue}). */
export function formatQuantity(v: number): string | undefined {
  const m = milliValue(v);
  return m === undefined ? undefined : formatMilli(m);
}
