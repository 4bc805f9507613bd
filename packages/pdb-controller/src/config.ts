/**
 * The pdb-controller's own settings (docs/pdb-controller.md#pdb-flags) as a declarative table. The shared runtime reads
 * argv and the environment; this module only says which flags exist and how their strings are parsed.
 * Shared runtime flags (`--kubeconfig`, `--leader-elect`, bind addresses, `--log-level`) are not here.
 */
import {
  type IntOrPercent,
  type Parsed,
  fail,
  ok,
  parseBool,
  parseDuration,
  parseIntOrPercent,
  BOOL_EXPECTED,
  DURATION_EXPECTED,
  INT_OR_PERCENT_EXPECTED,
} from './grammar';

/**
 * Values written to `spec.unhealthyPodEvictionPolicy`; `''` leaves the field unset (docs/pdb-controller.md#pdb-flags).
 */
export type UnhealthyPodEvictionPolicy = 'AlwaysAllow' | 'IfHealthyBudget' | '';

/** Parsed settings of docs/pdb-controller.md#pdb-flags. Durations are milliseconds. */
export interface Settings {
  /** `--max-unavailable`: `spec.maxUnavailable` of created PDBs (intOrPercent). */
  maxUnavailable: IntOrPercent;
  /** `--non-ready-ttl` in ms; 0 = off (docs/pdb-controller.md#pdb-ttl). */
  nonReadyTtlMs: number;
  /**
   * `--min-replicas`: integer ≥ 2; workloads with fewer desired replicas get no PDB (`below_min_replicas`,
   * docs/pdb-controller.md#pdb-states).
   */
  minReplicas: number;
  /** `--unhealthy-pod-eviction-policy`; `''` leaves the field unset. */
  unhealthyPodEvictionPolicy: UnhealthyPodEvictionPolicy;
  /** `--pdb-name-suffix`: DNS label or `''` (docs/pdb-controller.md#pdb-name). */
  pdbNameSuffix: string;
  /** `--enable-rollouts`: also manage `argoproj.io/v1alpha1` Rollouts. */
  enableRollouts: boolean;
  /** `--exclude-namespaces`: anchored regexes (full match) of namespaces without managed PDBs. */
  excludeNamespaces: readonly RegExp[];
  /** `--resync-period` in ms, ≥ 60 000. */
  resyncPeriodMs: number;
  /**
   * `--rollouts-discovery-period` in ms, ≥ 1 000: how often, with `--enable-rollouts`, the Argo Rollouts
   * API is discovered again (docs/pdb-controller.md#pdb-rollouts).
   */
  rolloutsDiscoveryPeriodMs: number;
  /** `--dry-run`: decide and log only; no writes, no Events, no Lease. */
  dryRun: boolean;
  /** `--field-manager`: server-side-apply field manager, 1..128 characters. */
  fieldManager: string;
  /**
   * `--qps`: client-side write rate limit, requests per second (> 0); default 200 with `--burst` 400, chosen from
   * what kube-apiserver's API Priority and Fairness already protects (docs/pdb-controller.md#pdb-write-rate).
   */
  qps: number;
  /** `--burst`: client-side write bucket size (integer ≥ 1). */
  burst: number;
}

/**
 * One row of the flags table (docs/pdb-controller.md#pdb-flags): the flag name without `--`, its environment variable
 * (`undefined` when the flag has none), the default as the string a user would type, a one-line description for
 * `--help`, the expected form, and the parser of the raw string.
 */
export interface SettingSpec<K extends keyof Settings = keyof Settings> {
  key: K;
  flag: string;
  env: string | undefined;
  default: string;
  description: string;
  /** The expected form, for `--help` and errors (a failed parse may add detail, e.g. the regex error). */
  expected: string;
  parse(raw: string): Parsed<Settings[K]>;
}

const MIN_REPLICAS_EXPECTED = 'an integer ≥ 2';
const SUFFIX_EXPECTED = 'a DNS label (lower-case alphanumerics and "-", at most 63 characters) or empty';
const POLICY_EXPECTED = '"AlwaysAllow", "IfHealthyBudget" or "" (unset)';
const REGEX_LIST_EXPECTED = 'a comma-separated list of valid regular expressions';
const RESYNC_EXPECTED = `${DURATION_EXPECTED}, and at least 1m`;
const DISCOVERY_EXPECTED = `${DURATION_EXPECTED}, and at least 1s`;
const FIELD_MANAGER_EXPECTED = 'a non-empty string of at most 128 characters';
const QPS_EXPECTED = 'a positive number';
const BURST_EXPECTED = 'an integer ≥ 1';

function parseIntAtLeast(raw: string, min: number, expected: string): Parsed<number> {
  if (!/^[0-9]{1,10}$/.test(raw)) return fail(expected);
  const n = Number(raw);
  return n >= min && n <= 2147483647 ? ok(n) : fail(expected);
}

/** RFC 1123 DNS label, as required of every part of a PDB name (k8s.io/apimachinery validation). */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/.test(s);
}

/**
 * Parses `--exclude-namespaces`: comma-separated regexes, each matched against the whole namespace
 * name (docs/pdb-controller.md#pdb-flags). Blank items are ignored. Any invalid regex makes the whole value invalid.
 * Note: a comma always separates items, so a regex cannot itself contain a comma.
 */
export function parseRegexList(raw: string): Parsed<readonly RegExp[]> {
  const out: RegExp[] = [];
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    try {
      out.push(new RegExp(`^(?:${item})$`));
    } catch (e) {
      return fail(`${REGEX_LIST_EXPECTED} (${JSON.stringify(item)}: ${(e as Error).message})`);
    }
  }
  return ok(out);
}

/**
 * The flags table of docs/pdb-controller.md#pdb-flags. Keyed by {@link Settings} field; the order of keys is the
 * `--help` order.
 */
export const SETTING_SPECS: { readonly [K in keyof Settings]: SettingSpec<K> } = {
  maxUnavailable: {
    key: 'maxUnavailable',
    flag: 'max-unavailable',
    env: 'MAX_UNAVAILABLE',
    default: '1',
    description: 'spec.maxUnavailable of created PDBs (integer or percentage)',
    expected: INT_OR_PERCENT_EXPECTED,
    parse: parseIntOrPercent,
  },
  nonReadyTtlMs: {
    key: 'nonReadyTtlMs',
    flag: 'non-ready-ttl',
    env: 'NON_READY_TTL',
    default: '0',
    description: 'delete a managed PDB once its workload has not been fully ready this long (0 = off)',
    expected: DURATION_EXPECTED,
    parse: parseDuration,
  },
  minReplicas: {
    key: 'minReplicas',
    flag: 'min-replicas',
    env: 'MIN_REPLICAS',
    default: '2',
    description: 'workloads with fewer desired replicas get no PDB',
    expected: MIN_REPLICAS_EXPECTED,
    parse: (raw) => parseIntAtLeast(raw, 2, MIN_REPLICAS_EXPECTED),
  },
  unhealthyPodEvictionPolicy: {
    key: 'unhealthyPodEvictionPolicy',
    flag: 'unhealthy-pod-eviction-policy',
    env: 'UNHEALTHY_POD_EVICTION_POLICY',
    default: 'AlwaysAllow',
    description: 'spec.unhealthyPodEvictionPolicy of managed PDBs; "" leaves it unset',
    expected: POLICY_EXPECTED,
    parse: (raw) =>
      raw === 'AlwaysAllow' || raw === 'IfHealthyBudget' || raw === '' ? ok(raw) : fail(POLICY_EXPECTED),
  },
  pdbNameSuffix: {
    key: 'pdbNameSuffix',
    flag: 'pdb-name-suffix',
    env: 'PDB_NAME_SUFFIX',
    default: 'pdb',
    description: 'last part of generated PDB names; empty omits it',
    expected: SUFFIX_EXPECTED,
    parse: (raw) => (raw === '' || isDnsLabel(raw) ? ok(raw) : fail(SUFFIX_EXPECTED)),
  },
  enableRollouts: {
    key: 'enableRollouts',
    flag: 'enable-rollouts',
    env: 'ENABLE_ROLLOUTS',
    default: 'false',
    description: 'also manage argoproj.io/v1alpha1 Rollouts',
    expected: BOOL_EXPECTED,
    parse: parseBool,
  },
  excludeNamespaces: {
    key: 'excludeNamespaces',
    flag: 'exclude-namespaces',
    env: 'EXCLUDE_NAMESPACES',
    default: '',
    description: 'comma-separated regexes (full match) of namespaces without managed PDBs',
    expected: REGEX_LIST_EXPECTED,
    parse: parseRegexList,
  },
  resyncPeriodMs: {
    key: 'resyncPeriodMs',
    flag: 'resync-period',
    env: undefined,
    default: '10m',
    description: 're-evaluate every workload from the cache this often (at least 1m)',
    expected: RESYNC_EXPECTED,
    parse: (raw) => {
      const d = parseDuration(raw);
      return d.ok && d.value >= 60_000 ? d : fail(RESYNC_EXPECTED);
    },
  },
  rolloutsDiscoveryPeriodMs: {
    key: 'rolloutsDiscoveryPeriodMs',
    flag: 'rollouts-discovery-period',
    env: undefined,
    default: '5m',
    description: 'with --enable-rollouts, discover the Argo Rollouts API again this often (at least 1s)',
    expected: DISCOVERY_EXPECTED,
    parse: (raw) => {
      const d = parseDuration(raw);
      return d.ok && d.value >= 1_000 ? d : fail(DISCOVERY_EXPECTED);
    },
  },
  dryRun: {
    key: 'dryRun',
    flag: 'dry-run',
    env: undefined,
    default: 'false',
    description: 'decide and log only: no writes, no Events, no Lease',
    expected: BOOL_EXPECTED,
    parse: parseBool,
  },
  fieldManager: {
    key: 'fieldManager',
    flag: 'field-manager',
    env: undefined,
    default: 'kubeaws-pdb-controller',
    description: 'server-side-apply field manager',
    expected: FIELD_MANAGER_EXPECTED,
    parse: (raw) => (raw.length >= 1 && raw.length <= 128 ? ok(raw) : fail(FIELD_MANAGER_EXPECTED)),
  },
  qps: {
    key: 'qps',
    flag: 'qps',
    env: undefined,
    default: '200',
    description: 'client-side limit on write calls, requests per second',
    expected: QPS_EXPECTED,
    parse: (raw) => {
      if (!/^[0-9]+(?:\.[0-9]+)?$/.test(raw)) return fail(QPS_EXPECTED);
      const n = Number(raw);
      return n > 0 && Number.isFinite(n) ? ok(n) : fail(QPS_EXPECTED);
    },
  },
  burst: {
    key: 'burst',
    flag: 'burst',
    env: undefined,
    default: '400',
    description: 'client-side write bucket size',
    expected: BURST_EXPECTED,
    parse: (raw) => parseIntAtLeast(raw, 1, BURST_EXPECTED),
  },
};

/** The flags table of docs/pdb-controller.md#pdb-flags as a list, in `--help` order. */
export const SETTING_LIST: readonly SettingSpec[] = Object.values(SETTING_SPECS) as SettingSpec[];

/** Flag names (without `--`) of the component's settings. */
export type FlagName =
  | 'max-unavailable'
  | 'non-ready-ttl'
  | 'min-replicas'
  | 'unhealthy-pod-eviction-policy'
  | 'pdb-name-suffix'
  | 'enable-rollouts'
  | 'exclude-namespaces'
  | 'resync-period'
  | 'rollouts-discovery-period'
  | 'dry-run'
  | 'field-manager'
  | 'qps'
  | 'burst';

/**
 * One invalid setting (docs/pdb-controller.md#pdb-bad-input, last row): the flag (without `--`), its environment
 * variable if any, the offending value and the expected form. The runtime prints these to stderr and the termination
 * message and exits with code 2.
 */
export interface SettingError {
  flag: string;
  env: string | undefined;
  value: string;
  expected: string;
}

/** Outcome of {@link parseSettings}: all settings, or every problem found. */
export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: SettingError[] };

/**
 * Picks the raw string of one setting by the precedence of docs/pdb-controller.md#pdb-flags: a flag (even `""`, which
 * is how `--pdb-name-suffix=` empties the suffix) wins over the environment variable; an empty environment
 * variable counts as unset; then the default.
 */
export function resolveRaw(
  spec: SettingSpec,
  flagValue: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (flagValue !== undefined) return flagValue;
  const envValue = spec.env === undefined ? undefined : env[spec.env];
  if (envValue !== undefined && envValue !== '') return envValue;
  return spec.default;
}

/**
 * Parses every setting of docs/pdb-controller.md#pdb-flags and reports all problems at once.
 * `values` maps a flag name (without `--`) to the raw string already chosen by the runtime (flag, else
 * non-empty env); `undefined` or a missing key means "use the default". Use {@link resolveRaw} or
 * {@link parseSettingsFrom} to apply the precedence here instead.
 */
export function parseSettings(values: Readonly<Partial<Record<FlagName, string | undefined>>>): SettingsResult {
  const settings: Record<string, unknown> = {};
  const errors: SettingError[] = [];
  for (const spec of SETTING_LIST) {
    const raw = values[spec.flag as FlagName] ?? spec.default;
    const r = spec.parse(raw);
    if (r.ok) settings[spec.key] = r.value;
    else errors.push({ flag: spec.flag, env: spec.env, value: raw, expected: r.expected });
  }
  return errors.length ? { ok: false, errors } : { ok: true, settings: settings as unknown as Settings };
}

/**
 * Convenience over {@link parseSettings}: applies the flag > env > default precedence
 * (docs/pdb-controller.md#pdb-flags). `flags` maps flag names to the values given on the command line (absent = not
 * given); `env` is a `process.env`-like map.
 */
export function parseSettingsFrom(
  flags: Readonly<Partial<Record<FlagName, string | undefined>>>,
  env: Readonly<Record<string, string | undefined>>,
): SettingsResult {
  const values: Partial<Record<FlagName, string>> = {};
  for (const spec of SETTING_LIST) values[spec.flag as FlagName] = resolveRaw(spec, flags[spec.flag as FlagName], env);
  return parseSettings(values);
}

/** Formats one {@link SettingError} as a single stderr / termination-message line. */
export function formatSettingError(e: SettingError): string {
  const src = e.env ? `--${e.flag} / ${e.env}` : `--${e.flag}`;
  return `invalid value for ${src}: ${JSON.stringify(e.value)}; expected ${e.expected}`;
}
