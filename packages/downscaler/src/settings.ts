/**
 * Flags and environment of the downscaler (docs/downscaler.md#ds-flags). The schedule, force, replicas and grace
 * settings are kept as two separate scopes, flags and env (flags > env, docs/downscaler.md#ds-scopes), so that a group
 * set by a flag shadows the whole group in the environment. Everything is parsed before any API call; invalid values
 * throw a runtime {@link ConfigError} (exit code 2) that names the flag or env variable, the item and
 * the offending token.
 */
import {
  ConfigError,
  type FlagSource,
  type FlagSpec,
  type FlagValues,
  type SharedConfig,
  flag,
  parsers,
} from '@kubeaws/runtime';
import type { ScopeSettings, Setting } from './annotations';
import {
  type BoolOrSpec,
  type Parsed,
  type Spec,
  type SpecDefaults,
  formatGrammarError,
  parseBoolOrSpec,
  parseDurationStrict,
  parseSpec,
  parseWeekrange,
  parseZone,
} from './grammar';
import { runtimeTzdataVersion } from './tz';
import { PINNED_TZDATA_VERSION } from './zones';

/** One line for `--help`. */
export const DESCRIPTION =
  'Scales non-production workloads down outside working hours and back up (kube-downscaler compatible)';

/** The kinds the downscaler can write, as named in `--include-resources`. */
export const RESOURCES = [
  'deployments',
  'statefulsets',
  'cronjobs',
  'horizontalpodautoscalers',
  'scaledobjects',
] as const;
/** One entry of `--include-resources`. */
export type Resource = (typeof RESOURCES)[number];

/** Parsed configuration of the downscaler (hard filters, scopes and write settings). */
export interface Settings {
  /** Evaluation tick in ms (1 000–60 000). */
  intervalMs: number;
  /** One evaluation, drain writes, exit. */
  once: boolean;
  /** Plan and log only: no PATCH, no Event, no Lease. */
  dryRun: boolean;
  /** Watched namespaces; empty = all. */
  namespaces: string[];
  /** Kinds that may be written. */
  includeResources: Set<Resource>;
  /** Hard filter: namespaces whose name fully matches one of these are out of scope. */
  excludeNamespaces: RegExp[];
  /** Hard filter: objects (any kind) whose name fully matches one of these are out of scope. */
  excludeNames: RegExp[];
  /** Hard filter: when non-empty, only objects with a label `key=value` fully matching one of these are in scope. */
  matchingLabels: RegExp[];
  /** `exclude=true` at flag scope: objects opt in with `downscaler/exclude: "false"`. */
  explicitInclude: boolean;
  /** Restore excluded objects that still carry `original-replicas`. */
  restoreExcluded: boolean;
  /** Settings given as flags (schedule, force, replicas, grace; explicit-include as exclude). */
  flagScope: ScopeSettings;
  /** Settings given as environment variables. */
  envScope: ScopeSettings;
  /** Defaults for recurring items without weekrange or zone. */
  specDefaults: SpecDefaults;
  /** Annotation whose RFC 3339 value restarts the grace period (e.g. `deployment-time`). */
  deploymentTimeAnnotation?: string;
  /** Re-read and re-decide after HTTP 409 this many times. */
  maxRetriesOnConflict: number;
  /** Client-side PATCH rate (requests/s) and burst. */
  qps: number;
  burst: number;
  /** fieldManager of every PATCH. */
  fieldManager: string;
  /** Start-up notes about settings shadowed by a group of a more specific scope (logged once). */
  shadowed: string[];
}

/** Built-in defaults (scope `default`): uptime always, downtime/periods never, force off, 0 replicas, 15 min grace. */
export const DEFAULT_SCOPE: ScopeSettings = {
  uptime: { value: { kind: 'always' }, scope: 'default', source: 'default' },
  downtimeReplicas: { value: 0, scope: 'default', source: 'default' },
  gracePeriod: { value: 15 * 60_000, scope: 'default', source: 'default' },
};

function regexList(raw: string): RegExp[] {
  return parsers.list((x) => new RegExp(`^(?:${x})$`))(raw);
}

/** Scoped settings: flag, env, parser kind and scope field. */
const SCOPED = [
  { key: 'uptime', flag: 'default-uptime', env: 'DEFAULT_UPTIME', kind: 'spec', group: 'schedule' },
  { key: 'downtime', flag: 'default-downtime', env: 'DEFAULT_DOWNTIME', kind: 'spec', group: 'schedule' },
  { key: 'upscalePeriod', flag: 'upscale-period', env: 'UPSCALE_PERIOD', kind: 'spec', group: 'schedule' },
  { key: 'downscalePeriod', flag: 'downscale-period', env: 'DOWNSCALE_PERIOD', kind: 'spec', group: 'schedule' },
  { key: 'forceUptime', flag: 'force-uptime', env: 'FORCE_UPTIME', kind: 'boolOrSpec', group: 'force' },
  { key: 'forceDowntime', flag: 'force-downtime', env: 'FORCE_DOWNTIME', kind: 'boolOrSpec', group: 'force' },
  { key: 'downtimeReplicas', flag: 'downtime-replicas', env: 'DOWNTIME_REPLICAS', kind: 'integer', group: 'replicas' },
  { key: 'gracePeriod', flag: 'grace-period', env: 'GRACE_PERIOD', kind: 'duration', group: 'grace' },
] as const;

const SCOPED_DEFAULTS: Record<string, string> = {
  'default-uptime': 'always',
  'default-downtime': 'never',
  'upscale-period': 'never',
  'downscale-period': 'never',
  'force-uptime': 'false',
  'force-downtime': 'false',
  'downtime-replicas': '0',
  'grace-period': '15m',
};

const EXPECTED: Record<string, string> = {
  spec: 'a time spec: always, never, or items like "Mon-Fri 08:00-18:00 Europe/Berlin" separated by commas',
  boolOrSpec: 'true, false or a time spec',
  integer: 'an integer ≥ 0',
  duration: 'a duration like 15m, 1h30m, 90s or 900 (seconds)',
};

/**
 * The downscaler's own flags (docs/downscaler.md#ds-flags); the framework adds the shared runtime flags
 * (`sharedFlags`, Lease `kubeaws-downscaler`). The scoped settings (schedule, force, replicas, grace) have
 * no env fallback here: their environment variables are a scope of their own, read by {@link buildSettings}.
 */
export function downscalerFlags() {
  const str = (
    name: string,
    env: string | undefined,
    description: string,
    expected: string,
    def: string,
  ): FlagSpec<string> => flag<string>({ flag: name, env, description, expected, default: def, parse: parsers.string });
  const bool = (name: string, description: string, def: boolean): FlagSpec<boolean> =>
    flag<boolean>({
      flag: name,
      description,
      expected: 'true or false',
      default: def,
      parse: parsers.bool,
      boolean: true,
    });
  const scoped: Record<string, FlagSpec<string | undefined>> = {};
  for (const s of SCOPED) {
    scoped[s.key] = flag<string | undefined>({
      flag: s.flag,
      description: `${s.group} setting (default ${SCOPED_DEFAULTS[s.flag]}) [env ${s.env}, a separate, less specific scope]`,
      expected: EXPECTED[s.kind]!,
      default: undefined,
      parse: parsers.string,
    });
  }
  return {
    interval: str('interval', 'DOWNSCALER_INTERVAL', 'Evaluation tick', 'a duration from 1s to 60s, e.g. 30s', '30s'),
    once: bool('once', 'One evaluation, drain writes, exit 0 (1 if a write failed)', false),
    dryRun: bool('dry-run', 'Plan and log only: no PATCH, no Event, no Lease', false),
    namespace: str(
      'namespace',
      'NAMESPACE',
      'Watch only these namespaces (comma-separated; empty = all)',
      'a comma-separated list of namespace names',
      '',
    ),
    includeResources: str(
      'include-resources',
      'INCLUDE_RESOURCES',
      'Kinds that may be written',
      `a comma-separated subset of ${RESOURCES.join(',')}`,
      'deployments',
    ),
    excludeNamespaces: str(
      'exclude-namespaces',
      'EXCLUDE_NAMESPACES',
      'Namespaces out of scope (regexes, full match)',
      'a comma-separated list of regular expressions',
      'kube-system',
    ),
    excludeDeployments: str(
      'exclude-deployments',
      'EXCLUDE_DEPLOYMENTS',
      'Object names (of every kind) out of scope (regexes, full match)',
      'a comma-separated list of regular expressions',
      'kubeaws-downscaler',
    ),
    matchingLabels: str(
      'matching-labels',
      'MATCHING_LABELS',
      'Only objects with a label key=value matching one of these regexes (full match) are in scope; empty = all',
      'a comma-separated list of regular expressions over key=value',
      '',
    ),
    explicitInclude: bool(
      'explicit-include',
      'Exclude by default; workloads opt in with downscaler/exclude: "false"',
      false,
    ),
    restoreExcluded: bool(
      'restore-excluded',
      'Restore excluded objects that still carry downscaler/original-replicas',
      true,
    ),
    ...(scoped as {
      uptime: FlagSpec<string | undefined>;
      downtime: FlagSpec<string | undefined>;
      upscalePeriod: FlagSpec<string | undefined>;
      downscalePeriod: FlagSpec<string | undefined>;
      forceUptime: FlagSpec<string | undefined>;
      forceDowntime: FlagSpec<string | undefined>;
      downtimeReplicas: FlagSpec<string | undefined>;
      gracePeriod: FlagSpec<string | undefined>;
    }),
    deploymentTimeAnnotation: str(
      'deployment-time-annotation',
      undefined,
      'Annotation holding the last deploy time (RFC 3339); grace counts from it',
      'an annotation key',
      '',
    ),
    defaultTimezone: str(
      'default-timezone',
      'DEFAULT_TIMEZONE',
      'Zone of recurring items that omit it',
      'an IANA zone such as Europe/Berlin',
      '',
    ),
    defaultWeekframe: str(
      'default-weekframe',
      'DEFAULT_WEEKFRAME',
      'Weekdays of recurring items that omit them',
      'a weekday range such as Mon-Fri',
      '',
    ),
    maxRetriesOnConflict: flag<number>({
      flag: 'max-retries-on-conflict',
      description: 'Re-read and re-decide after HTTP 409 this many times',
      expected: 'an integer ≥ 0',
      default: 3,
      parse: parsers.int({ min: 0, max: 100 }),
    }),
    qps: flag<number>({
      flag: 'qps',
      description: 'Client-side PATCH rate limit (requests/s)',
      expected: 'a number > 0',
      default: 50,
      parse: parsers.number({ min: 0.001 }),
    }),
    burst: flag<number>({
      flag: 'burst',
      description: 'Client-side PATCH burst',
      expected: 'an integer ≥ 1',
      default: 100,
      parse: parsers.int({ min: 1 }),
    }),
    fieldManager: str(
      'field-manager',
      undefined,
      'fieldManager of every PATCH',
      'a non-empty string',
      'kubeaws-downscaler',
    ),
  };
}

/** Raw values of {@link downscalerFlags} as returned by the runtime's `parseFlags`. */
export type RawFlags = FlagValues<ReturnType<typeof downscalerFlags>>;

/** Where each raw value came from (`parseFlagsWithSources`); a missing key counts as the flag. */
export type RawSources = Partial<Record<keyof RawFlags, FlagSource>>;

function scopedValue(
  kind: (typeof SCOPED)[number]['kind'],
  raw: string,
  defaults: SpecDefaults,
): Parsed<Spec | BoolOrSpec | number> {
  switch (kind) {
    case 'spec':
      return parseSpec(raw, defaults);
    case 'boolOrSpec':
      return parseBoolOrSpec(raw, defaults);
    case 'integer': {
      if (!/^\d+$/.test(raw) || Number(raw) > 2147483647) {
        return {
          ok: false,
          errors: [{ code: 'InvalidInteger', token: raw, position: 0, detail: `"${raw}" is not an integer ≥ 0` }],
        };
      }
      return { ok: true, value: Number(raw) };
    }
    case 'duration':
      return parseDurationStrict(raw);
  }
}

function configError(
  flagName: string,
  env: string | undefined,
  source: 'flag' | 'env',
  raw: string,
  detail: string,
  expected: string,
): ConfigError {
  const subject = source === 'env' ? `env ${env} (flag --${flagName})` : `--${flagName}${env ? ` (env ${env})` : ''}`;
  return new ConfigError(
    flagName,
    raw,
    expected,
    env,
    source,
    `invalid value ${JSON.stringify(raw)} for ${subject}: ${detail}; expected ${expected}`,
  );
}

/**
 * Builds {@link Settings} from the flags parsed by the runtime and the environment. Throws ConfigError
 * for any invalid value, and for a time key and a period key set in the same scope. `sources` says
 * where each raw value came from, so that errors name `env VAR` or `--flag` accordingly.
 */
export function buildSettings(raw: RawFlags, env: NodeJS.ProcessEnv, sources: RawSources = {}): Settings {
  // The runtime merged flag > env for the plain settings; errors name the source the value came from.
  const fromEnv = (key: keyof RawFlags): 'flag' | 'env' => (sources[key] === 'env' ? 'env' : 'flag');
  const fail = (
    flagName: string,
    envName: string | undefined,
    source: 'flag' | 'env',
    value: string,
    detail: string,
    expected: string,
  ) => {
    throw configError(flagName, envName, source, value, detail, expected);
  };
  const interval = parseDurationStrict(raw.interval);
  if (!interval.ok || interval.value < 1000 || interval.value > 60_000) {
    fail('interval', 'DOWNSCALER_INTERVAL', fromEnv('interval'), raw.interval, 'out of range', 'a duration from 1s to 60s, e.g. 30s');
  }
  const includeResources = new Set<Resource>();
  for (const r of parsers.list()(raw.includeResources)) {
    if (!(RESOURCES as readonly string[]).includes(r)) {
      fail(
        'include-resources',
        'INCLUDE_RESOURCES',
        fromEnv('includeResources'),
        raw.includeResources,
        `unknown resource "${r}"`,
        `a comma-separated subset of ${RESOURCES.join(',')}`,
      );
    }
    includeResources.add(r as Resource);
  }
  const regexes = (key: keyof RawFlags, flagName: string, envName: string): RegExp[] => {
    const value = raw[key] as string;
    try {
      return regexList(value);
    } catch (e) {
      return fail(
        flagName,
        envName,
        fromEnv(key),
        value,
        (e as Error).message,
        'a comma-separated list of regular expressions',
      );
    }
  };
  const specDefaults: SpecDefaults = {};
  if (raw.defaultTimezone) {
    const z = parseZone(raw.defaultTimezone);
    if (!z.ok)
      fail(
        'default-timezone',
        'DEFAULT_TIMEZONE',
        fromEnv('defaultTimezone'),
        raw.defaultTimezone,
        z.errors[0]!.detail,
        'an IANA zone such as Europe/Berlin',
      );
    specDefaults.timezone = raw.defaultTimezone;
  }
  if (raw.defaultWeekframe) {
    const w = parseWeekrange(raw.defaultWeekframe);
    if (!w.ok)
      fail(
        'default-weekframe',
        'DEFAULT_WEEKFRAME',
        fromEnv('defaultWeekframe'),
        raw.defaultWeekframe,
        w.errors[0]!.detail,
        'a weekday range such as Mon-Fri',
      );
    else specDefaults.weekframe = w.value;
  }
  const flagScope: ScopeSettings = {};
  const envScope: ScopeSettings = {};
  for (const s of SCOPED) {
    const fromFlag = (raw as unknown as Record<string, string | undefined>)[s.key];
    const fromEnvVal = env[s.env] === '' ? undefined : env[s.env];
    for (const [scope, value] of [
      ['flag', fromFlag],
      ['env', fromEnvVal],
    ] as const) {
      if (value === undefined) continue;
      const r = scopedValue(s.kind, value, specDefaults);
      if (!r.ok) {
        const subject = scope === 'env' ? `env ${s.env}` : `--${s.flag}`;
        const detail = r.errors.map((e) => formatGrammarError(subject, e, value)).join('; ');
        throw new ConfigError(
          s.flag,
          value,
          EXPECTED[s.kind]!,
          s.env,
          scope,
          `invalid value ${JSON.stringify(value)}: ${detail}; expected ${EXPECTED[s.kind]}`,
        );
      }
      const setting: Setting<unknown> = {
        value: r.value,
        scope,
        source: scope === 'flag' ? `flag --${s.flag}` : `env ${s.env}`,
      };
      ((scope === 'flag' ? flagScope : envScope) as Record<string, Setting<unknown>>)[s.key] = setting;
    }
  }
  for (const [scope, set] of [
    ['flags', flagScope],
    ['env', envScope],
  ] as const) {
    if ((set.uptime || set.downtime) && (set.upscalePeriod || set.downscalePeriod)) {
      const names = SCOPED.filter((s) => s.group === 'schedule' && set[s.key as keyof ScopeSettings]).map((s) =>
        scope === 'flags' ? `--${s.flag}` : s.env,
      );
      throw new ConfigError(
        '',
        names.join(', '),
        'either time keys or period keys',
        undefined,
        scope === 'flags' ? 'flag' : 'env',
        `conflicting settings in the ${scope} scope: ${names.join(' and ')} mix time keys (uptime/downtime) with period keys (upscale/downscale-period); use one kind per scope`,
      );
    }
  }
  const shadowed: string[] = [];
  for (const group of ['schedule', 'force'] as const) {
    const members = SCOPED.filter((s) => s.group === group);
    const flagSets = members.filter((s) => flagScope[s.key as keyof ScopeSettings]);
    const envSets = members.filter((s) => envScope[s.key as keyof ScopeSettings]);
    if (flagSets.length && envSets.length) {
      shadowed.push(
        `${envSets.map((s) => s.env).join(', ')} shadowed: the ${group} group comes from ${flagSets.map((s) => `--${s.flag}`).join(', ')} (flags win over env as a whole group)`,
      );
    }
  }
  for (const s of SCOPED.filter((x) => x.group === 'replicas' || x.group === 'grace')) {
    if (flagScope[s.key as keyof ScopeSettings] && envScope[s.key as keyof ScopeSettings])
      shadowed.push(`${s.env} shadowed by --${s.flag}`);
  }
  if (raw.explicitInclude) {
    flagScope.exclude = { value: { kind: 'bool', value: true }, scope: 'flag', source: 'flag --explicit-include' };
  }
  if (
    raw.deploymentTimeAnnotation &&
    !/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(raw.deploymentTimeAnnotation)
  ) {
    fail(
      'deployment-time-annotation',
      undefined,
      'flag',
      raw.deploymentTimeAnnotation,
      'not an annotation key',
      'an annotation key such as deployment-time',
    );
  }
  if (!raw.fieldManager) fail('field-manager', undefined, 'flag', raw.fieldManager, 'empty', 'a non-empty string');
  return {
    intervalMs: interval.ok ? interval.value : 30_000,
    once: raw.once,
    dryRun: raw.dryRun,
    namespaces: parsers.list()(raw.namespace),
    includeResources,
    excludeNamespaces: regexes('excludeNamespaces', 'exclude-namespaces', 'EXCLUDE_NAMESPACES'),
    excludeNames: regexes('excludeDeployments', 'exclude-deployments', 'EXCLUDE_DEPLOYMENTS'),
    matchingLabels: regexes('matchingLabels', 'matching-labels', 'MATCHING_LABELS'),
    explicitInclude: raw.explicitInclude,
    restoreExcluded: raw.restoreExcluded,
    flagScope,
    envScope,
    specDefaults,
    deploymentTimeAnnotation: raw.deploymentTimeAnnotation || undefined,
    maxRetriesOnConflict: raw.maxRetriesOnConflict,
    qps: raw.qps,
    burst: raw.burst,
    fieldManager: raw.fieldManager,
    shadowed,
  };
}

/**
 * The configuration of the downscaler component: the shared runtime flags plus {@link Settings}
 * (`startComponent(downscaler, { config })` overrides any of its fields).
 */
export type DownscalerConfig = SharedConfig & Settings;

/**
 * The component's `configure` (docs/downscaler.md#ds-flags): the shared values as parsed, and
 * {@link buildSettings} for the rest (env scopes, cross-field checks). Throws ConfigError (exit 2).
 */
export function configureDownscaler(
  values: SharedConfig & RawFlags,
  env: NodeJS.ProcessEnv,
  ctx: { sources: RawSources },
): DownscalerConfig {
  const { kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress, logLevel } =
    values;
  const shared = { kubeconfig, leaderElect, leaseName, leaseNamespace, metricsBindAddress, healthProbeBindAddress };
  return { ...shared, logLevel, ...buildSettings(values, env, ctx.sources) };
}

/**
 * The configuration as logged in the component's start line: regexes as their sources, scoped settings
 * as their origin (`flag --…` / `env …`), plus the runtime's and the allow-list's tz database versions.
 */
export function describeSettings(s: DownscalerConfig) {
  return {
    intervalMs: s.intervalMs,
    dryRun: s.dryRun,
    once: s.once,
    namespaces: s.namespaces,
    includeResources: [...s.includeResources],
    excludeNamespaces: s.excludeNamespaces.map((r) => r.source),
    excludeDeployments: s.excludeNames.map((r) => r.source),
    matchingLabels: s.matchingLabels.map((r) => r.source),
    explicitInclude: s.explicitInclude,
    restoreExcluded: s.restoreExcluded,
    flags: Object.fromEntries(Object.entries(s.flagScope).map(([k, v]) => [k, v?.source])),
    env: Object.fromEntries(Object.entries(s.envScope).map(([k, v]) => [k, v?.source])),
    tzdata: runtimeTzdataVersion(),
    allowListTzdata: PINNED_TZDATA_VERSION,
  };
}
