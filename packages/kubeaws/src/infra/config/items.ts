/**
 * The config-item registry (`infra/config-defaults.yaml`): typed items with a production and a test value,
 * and the parsers that check a value against an item's type.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries -- schedule items are checked with the downscaler's own strict parser (docs/infra.md#infra-config)
import { parseSpec } from '@kubeaws/downscaler';
import { formatDuration, tryParseCidr, tryParseDuration } from '@kubeaws/runtime';
import { parse as parseYaml } from 'yaml';

/** Item types of the registry. */
export const ITEM_TYPES = [
  'duration',
  'bool',
  'int',
  'intOrPercent',
  'enum',
  'string',
  'list',
  'cidrList',
  'schedule',
] as const;
/** One item type. */
export type ItemType = (typeof ITEM_TYPES)[number];

/** Stack consumers of items. */
export const STACK_CONSUMERS = ['etcd-stack', 'cluster-stack', 'pool-stack'] as const;
/** Component consumers of items (their `<workload>-config` ConfigMap gets the item's env var). */
export const COMPONENT_CONSUMERS = [
  'node-lifecycle-controller',
  'downscaler',
  'pdb-controller',
  'static-egress-controller',
  'metrics-adapter',
] as const;
/** Every consumer name a registry entry may use. */
export const CONSUMERS = [...STACK_CONSUMERS, ...COMPONENT_CONSUMERS, 'render', 'master-userdata'] as const;
/** One consumer. */
export type Consumer = (typeof CONSUMERS)[number];

/** One registry entry. */
export interface ConfigItem {
  name: string;
  type: ItemType;
  scope: 'cluster' | 'pool';
  consumers: Consumer[];
  /** Env var of the consuming components. */
  env?: string;
  /** The component flag this env var feeds, for settings a component takes only as a flag. */
  flag?: string;
  /** CloudFormation parameter of the consuming stack. */
  parameter?: string;
  description: string;
  /** Allowed values (enum; every element of a list). */
  values?: string[];
  /** Bounds: int values, or duration values in seconds. */
  min?: number;
  max?: number;
  /** Regular expression a string (or every list element) must match. */
  pattern?: string;
  /** `""` is allowed (means off / the component's default). */
  allowEmpty?: boolean;
  /** int must be odd. */
  odd?: boolean;
  production: ItemValue;
  test: ItemValue;
}

/** A parsed item value: durations in seconds, lists as arrays. `null` = no value (required when used). */
export type ItemValue = string | number | boolean | string[] | null;

/** Environments of a cluster. */
export type Environment = 'production' | 'test';

/** The registry: items by name, in file order. */
export type Registry = Map<string, ConfigItem>;

/** Result of checking one value: the parsed value or what is allowed. */
export type CheckResult = { ok: true; value: ItemValue } | { ok: false; expected: string };

/**
 * Parses a duration of the registry into whole seconds, or undefined: `parseDuration` of
 * `@kubeaws/runtime` (Go's `time.ParseDuration` without a sign) plus `d` (24 h), e.g. `90s`, `5m`, `6h`,
 * `3d`, `1h30m`, `1.5h`; values that are not whole seconds are invalid.
 */
export function parseDurationSeconds(raw: string): number | undefined {
  const r = tryParseDuration(raw, { allowDays: true });
  return r.ok && r.value % 1000 === 0 ? r.value / 1000 : undefined;
}

/** Formats seconds as the `<h>h<m>m<s>s` form every component parses (`0s` for zero). */
function formatSeconds(seconds: number): string {
  return formatDuration(seconds * 1000);
}

function describeType(item: ConfigItem): string {
  const bounds = (unit: (n: number) => string): string =>
    item.min !== undefined && item.max !== undefined ? ` between ${unit(item.min)} and ${unit(item.max)}` : '';
  switch (item.type) {
    case 'duration':
      return `a duration like 90s, 5m, 6h or 3d${bounds(formatSeconds)}${item.allowEmpty ? ', or "" (off)' : ''}`;
    case 'bool':
      return 'true or false';
    case 'int':
      return `an integer${bounds(String)}${item.odd ? ' (odd)' : ''}`;
    case 'intOrPercent':
      return 'an integer ≥ 0 or a percentage like 25%';
    case 'enum':
      return `one of ${(item.values ?? []).join(', ')}`;
    case 'string':
      return item.pattern ? `a string matching ${item.pattern}` : 'a string';
    case 'list':
      return `a comma-separated list${item.values ? ` of ${item.values.join(', ')}` : ''}${item.pattern ? ` of values matching ${item.pattern}` : ''}${item.allowEmpty ? ', or ""' : ''}`;
    case 'cidrList':
      return 'a list of IPv4 CIDRs like 10.0.255.0/28';
    case 'schedule':
      return 'a downscaler schedule: always, never or items like "Mon-Fri 07:30-20:30 Europe/Berlin"';
  }
}

function toList(raw: unknown): string[] | undefined {
  if (Array.isArray(raw))
    return raw.every((v) => typeof v === 'string') ? (raw as string[]).map((s) => s.trim()) : undefined;
  if (typeof raw === 'string') return raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  return undefined;
}

/**
 * Checks `raw` (a YAML scalar or sequence) against the item's type. Durations become seconds, lists arrays of
 * strings, bools booleans; `null` passes only for items without a default (`cidrList`).
 */
export function checkItemValue(item: ConfigItem, raw: unknown): CheckResult {
  const bad: CheckResult = { ok: false, expected: describeType(item) };
  if (raw === null || raw === undefined) return item.type === 'cidrList' ? { ok: true, value: null } : bad;
  if (raw === '' && item.allowEmpty) return { ok: true, value: item.type === 'list' ? [] : '' };
  switch (item.type) {
    case 'duration': {
      if (typeof raw !== 'string') return bad;
      const s = parseDurationSeconds(raw);
      if (s === undefined) return bad;
      if ((item.min !== undefined && s < item.min) || (item.max !== undefined && s > item.max)) return bad;
      return { ok: true, value: s };
    }
    case 'bool':
      return typeof raw === 'boolean'
        ? { ok: true, value: raw }
        : raw === 'true' || raw === 'false'
          ? { ok: true, value: raw === 'true' }
          : bad;
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?[0-9]+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) return bad;
      if ((item.min !== undefined && n < item.min) || (item.max !== undefined && n > item.max)) return bad;
      if (item.odd && n % 2 === 0) return bad;
      return { ok: true, value: n };
    }
    case 'intOrPercent':
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return { ok: true, value: raw };
      if (typeof raw === 'string' && /^(100|[1-9]?[0-9])%$/.test(raw)) return { ok: true, value: raw };
      if (typeof raw === 'string' && /^[0-9]+$/.test(raw)) return { ok: true, value: Number(raw) };
      return bad;
    case 'enum':
      return typeof raw === 'string' && (item.values ?? []).includes(raw) ? { ok: true, value: raw } : bad;
    case 'string':
      if (typeof raw !== 'string') return bad;
      if (item.pattern && !new RegExp(item.pattern).test(raw)) return bad;
      return { ok: true, value: raw };
    case 'list': {
      const list = toList(raw);
      if (!list || list.some((v) => v === '')) return bad;
      if (item.values && list.some((v) => !item.values!.includes(v))) return bad;
      if (item.pattern && list.some((v) => !new RegExp(item.pattern!).test(v))) return bad;
      return { ok: true, value: list };
    }
    case 'cidrList': {
      const list = toList(raw);
      if (!list || list.length === 0) return bad;
      for (const v of list) {
        const r = tryParseCidr(v, { family: 'ipv4' });
        // a block with host bits set gets the canonical network named
        if (!r.ok) return r.error.canonical ? { ok: false, expected: `${bad.expected} (${r.error.message})` } : bad;
      }
      return { ok: true, value: list };
    }
    case 'schedule': {
      if (typeof raw !== 'string') return bad;
      const r = parseSpec(raw);
      if (!r.ok) return { ok: false, expected: `${describeType(item)} (${r.errors.map((e) => e.detail).join('; ')})` };
      return { ok: true, value: raw };
    }
  }
}

/** Renders a parsed value as the string a component reads from its env (durations as `1h30m`, lists comma-joined). */
export function envValue(item: ConfigItem, value: ItemValue): string {
  if (value === null) return '';
  if (item.type === 'duration') return value === '' ? '' : formatSeconds(value as number);
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Thrown when `config-defaults.yaml` itself is malformed (a repository bug, not user input). */
export class RegistryError extends Error {}

/**
 * Loads and checks the registry: every field known, types and consumers valid, both environment values of the
 * item's type, stack consumers with a `parameter` where the stack takes one.
 * @throws RegistryError naming every broken entry.
 */
export function loadRegistry(file: string): Registry {
  const doc = parseYaml(fs.readFileSync(file, 'utf8')) as { items?: Record<string, Record<string, unknown>> };
  const problems: string[] = [];
  const registry: Registry = new Map();
  const known = new Set([
    'type',
    'scope',
    'consumers',
    'env',
    'flag',
    'parameter',
    'description',
    'values',
    'min',
    'max',
    'pattern',
    'allowEmpty',
    'odd',
    'production',
    'test',
  ]);
  for (const [name, raw] of Object.entries(doc?.items ?? {})) {
    const where = `${path.basename(file)}: items.${name}`;
    for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`${where}.${k}: unknown field`);
    if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push(`${where}: item names are snake_case`);
    if (!ITEM_TYPES.includes(raw.type as ItemType))
      problems.push(`${where}.type: expected one of ${ITEM_TYPES.join(', ')}`);
    if (raw.scope !== 'cluster' && raw.scope !== 'pool') problems.push(`${where}.scope: expected cluster or pool`);
    const consumers = Array.isArray(raw.consumers) ? (raw.consumers as string[]) : [];
    if (consumers.length === 0) problems.push(`${where}.consumers: at least one consumer`);
    for (const c of consumers)
      if (!CONSUMERS.includes(c as Consumer)) problems.push(`${where}.consumers: unknown consumer ${c}`);
    if (consumers.some((c) => (COMPONENT_CONSUMERS as readonly string[]).includes(c)) && typeof raw.env !== 'string') {
      problems.push(`${where}.env: items consumed by a component need an env var`);
    }
    if (typeof raw.description !== 'string' || raw.description === '') problems.push(`${where}.description: required`);
    const item = { name, ...raw } as unknown as ConfigItem;
    for (const env of ['production', 'test'] as const) {
      if (!ITEM_TYPES.includes(item.type)) break;
      if (!(env in raw)) {
        problems.push(`${where}.${env}: required`);
        continue;
      }
      const r = checkItemValue(item, raw[env]);
      if (!r.ok) problems.push(`${where}.${env}: expected ${r.expected}, got ${JSON.stringify(raw[env])}`);
      else item[env] = r.value;
    }
    registry.set(name, item);
  }
  if (problems.length > 0) throw new RegistryError(`invalid config registry:\n${problems.join('\n')}`);
  return registry;
}

/** Closest item name by edit distance (≤ 3 edits), for "did you mean" suggestions. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
