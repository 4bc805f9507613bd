/**
 * Value grammars of the pdb-controller (docs/pdb-controller.md#pdb-values): intOrPercent, duration, bool, plus the RFC
 * 3339 timestamps of the `non-ready-since` annotations (docs/pdb-controller.md#pdb-values). Every parser is total: it
 * never throws and returns either the value or a human-readable description of the expected form, so callers can
 * build errors that name the field, the value and the expected form (docs/pdb-controller.md#pdb-bad-input).
 */
import { type DurationOptions, formatDuration as formatUnits, tryParseDuration } from '@kubeaws/runtime';

/**
 * Result of a parser: the value, or the expected form (a phrase such as `"true" or "false"`) that the
 * caller quotes in its error, Event or log line.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

/** Builds a successful {@link Parsed}. */
export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

/** Builds a failed {@link Parsed} carrying the expected form. */
export function fail<T>(expected: string): Parsed<T> {
  return { ok: false, expected };
}

/**
 * A PodDisruptionBudget budget as written to `spec.maxUnavailable`: an integer 1..2147483647 (number)
 * or a percentage `"1%"`..`"100%"` (string). Same shape as `IntOrString` of the Kubernetes API.
 */
export type IntOrPercent = number | string;

/** Expected form of {@link parseIntOrPercent}, quoted in errors. */
export const INT_OR_PERCENT_EXPECTED = 'an integer 1..2147483647 or a percentage 1%..100%';

const MAX_INT32 = 2147483647;

/**
 * Parses `intOrPercent = int | pct` (docs/pdb-controller.md#pdb-values): `int` is 1..2147483647 without sign or leading
 * zero, `pct` is `1%`..`100%`. `0` and `0%` are invalid (a zero budget blocks every voluntary eviction).
 * Returns a number for `int` and the original string for `pct`.
 */
export function parseIntOrPercent(raw: string): Parsed<IntOrPercent> {
  if (/^[1-9][0-9]*$/.test(raw)) {
    const n = Number(raw);
    return raw.length <= 10 && n <= MAX_INT32 ? ok(n) : fail(INT_OR_PERCENT_EXPECTED);
  }
  if (/^(?:[1-9][0-9]?|100)%$/.test(raw)) return ok(raw);
  return fail(INT_OR_PERCENT_EXPECTED);
}

/** Longest valid duration (above `365d` is invalid), in milliseconds. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/** Expected form of {@link parseDuration}, quoted in errors. */
export const DURATION_EXPECTED = 'a duration such as 0, 90 (seconds), 500ms, 30s, 1.5h, 1h30m or 7d, at most 365d';

/**
 * The pdb-controller's duration form: the shared grammar of `parseDuration` in `@kubeaws/runtime` (Go's
 * `time.ParseDuration` without a sign) with `d` (24 h) and bare digits meaning seconds, units from `ms`
 * up (no `us`/`ns`), at most 365d.
 */
export const DURATION_OPTIONS: DurationOptions = {
  allowDays: true,
  allowBareSeconds: true,
  units: ['ms', 's', 'm', 'h'],
  max: MAX_DURATION_MS,
};

/**
 * Parses a duration of the form {@link DURATION_OPTIONS}: `0`, bare digits (seconds), or terms such as
 * `500ms`, `1.5h`, `1h30m`, `7d`. Returns milliseconds; fractions are computed exactly and rounded up to a
 * whole millisecond, so a non-zero duration never becomes 0 (which would mean "off" for a TTL).
 */
export function parseDuration(raw: string): Parsed<number> {
  const r = tryParseDuration(raw, DURATION_OPTIONS);
  return r.ok ? ok(r.value) : fail(DURATION_EXPECTED);
}

/** Expected form of {@link parseUpstreamDuration}, quoted in errors. */
export const UPSTREAM_DURATION_EXPECTED =
  'a Go duration (time.ParseDuration) such as 0, 30s, 1.5h, .5h, 1h30m, 1us or -5m; no d, no bare numbers';

/**
 * Parses a value of the upstream alias `pdb-controller.zalando.org/non-ready-ttl` as the upstream
 * controller does: Go's `time.ParseDuration` (mikkeloscar/pdb-controller `overrideNonReadyTTL` in
 * controller.go; docs/pdb-controller.md#pdb-upstream). That grammar is the shared one of
 * `parseDuration` in `@kubeaws/runtime` without options (all Go units, no `d`, no bare numbers), plus
 * what the shared one leaves out on purpose: one leading sign (`-5m`, `+30m`, `-0`) and a decimal point
 * with digits on one side only (`.5h`, `1.h`). The sign is taken off and a `0` is put on the empty side of
 * such a point (which Go reads the same way) before the shared parser reads the value.
 *
 * Returns signed milliseconds, the magnitude rounded up to a whole millisecond (`1us` = 1, `-1us` = -1);
 * `-0` is 0. Anything Go rejects (``, `3`, `1d`, `.s`, `--5m`, `1..5s`, overflow) fails with
 * {@link UPSTREAM_DURATION_EXPECTED}. One edge differs: a magnitude less than a millisecond below Go's
 * limit (2^63-1 ns, about 292 years), such as `9223372036854775807ns`, rounds up past the shared
 * parser's limit and fails too.
 */
export function parseUpstreamDuration(raw: string): Parsed<number> {
  const sign = raw.startsWith('-') ? -1 : 1;
  const unsigned = raw.startsWith('-') || raw.startsWith('+') ? raw.slice(1) : raw;
  const normalised = unsigned.replace(/(^|[^0-9])\.(?=[0-9])/g, '$10.').replace(/([0-9])\.(?![0-9])/g, '$1.0');
  const r = tryParseDuration(normalised);
  if (!r.ok) return fail(UPSTREAM_DURATION_EXPECTED);
  return ok(r.value === 0 ? 0 : sign * r.value);
}

/** Expected form of {@link parseBool}, quoted in errors. */
export const BOOL_EXPECTED = '"true" or "false" (lower case)';

/** Parses `bool = "true" | "false"` (docs/pdb-controller.md#pdb-values, lower case only). */
export function parseBool(raw: string): Parsed<boolean> {
  if (raw === 'true') return ok(true);
  if (raw === 'false') return ok(false);
  return fail(BOOL_EXPECTED);
}

/** Expected form of {@link parseTimestamp}, quoted in errors. */
export const TIMESTAMP_EXPECTED = 'an RFC 3339 timestamp such as 2025-03-01T10:00:00Z';

/**
 * Parses an RFC 3339 `date-time` (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), as written in the
 * `kubeaws.io/non-ready-since` and upstream `pdb-controller.zalando.org/non-ready-since` annotations
 * (docs/pdb-controller.md#pdb-values). Returns epoch milliseconds. Out-of-range fields (month 13, Feb 30, hour 24, leap
 * second 60) are invalid.
 */
export function parseTimestamp(raw: string): Parsed<number> {
  const m =
    /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/.exec(
      raw,
    );
  if (!m) return fail(TIMESTAMP_EXPECTED);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return fail(TIMESTAMP_EXPECTED);
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(base).getUTCDate() !== d) return fail(TIMESTAMP_EXPECTED);
  let offsetMin = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return fail(TIMESTAMP_EXPECTED);
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fracMs = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  return ok(base + fracMs - offsetMin * 60_000);
}

/**
 * Formats epoch milliseconds as RFC 3339 UTC with whole seconds (`2025-03-01T10:00:00Z`), the form
 * of `kubeaws.io/non-ready-since` (docs/pdb-controller.md#pdb-values). Sub-second parts are truncated.
 */
export function formatTimestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.[0-9]{3}Z$/, 'Z');
}

/**
 * Formats milliseconds in the duration form of {@link parseDuration} (`0`, `1d2h`, `1m30s`, `1500ms` →
 * `1s500ms`), for Events and log lines, with `formatDuration` of `@kubeaws/runtime`. Round-trips through
 * {@link parseDuration} for whole milliseconds.
 */
export function formatDuration(ms: number): string {
  return ms <= 0 ? '0' : formatUnits(ms, { allowDays: true });
}
