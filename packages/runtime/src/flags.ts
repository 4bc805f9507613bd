import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './logging.js';
import { parseBindAddress } from './server.js';
import { type DurationOptions, parseDuration } from './units.js';

/**
 * Declaration of one flag with an optional environment variable fallback. Precedence: the flag, then
 * the environment variable (an empty value counts as unset), then the default.
 */
export interface FlagSpec<T> {
  /** Flag name without dashes, e.g. "max-unavailable" (used as `--max-unavailable`). */
  flag: string;
  /** Environment variable, e.g. "MAX_UNAVAILABLE". */
  env?: string;
  /** One-line help text. */
  description: string;
  /** The expected form, used in errors and help, e.g. "an integer >= 2" or "a duration like 10m". */
  expected: string;
  /** Default value, or a function of the environment computing it (not parsed). */
  default: T | ((env: NodeJS.ProcessEnv) => T);
  /** Parses a raw string; throwing anything makes it a {@link ConfigError}. */
  parse: (raw: string) => T;
  /** A boolean flag: a bare `--flag` means "true"; `--flag=false` / `--flag false` also work. */
  boolean?: boolean;
}

/** A record of flag specs (the keys become the property names of the parsed result). */
export type FlagSpecs = Record<string, FlagSpec<unknown>>;

/** The parsed values of a record of flag specs. */
export type FlagValues<F extends FlagSpecs> = {
  [K in keyof F]: F[K] extends FlagSpec<infer T> ? T : never;
};

/** Identity helper that infers the value type of a spec. */
export function flag<T>(spec: FlagSpec<T>): FlagSpec<T> {
  return spec;
}

/** Thrown by {@link parseFlags} after `--help` printed the usage; {@link runMain} exits 0. */
export class HelpDisplayed extends Error {
  override readonly name = 'HelpDisplayed';
}

/** The duration options of flags and their env vars: {@link parseDuration} plus `d` and bare seconds. */
const FLAG_DURATION: DurationOptions = { allowDays: true, allowBareSeconds: true };

/**
 * Parses a flag's duration into milliseconds: the grammar of {@link parseDuration} (Go's
 * `time.ParseDuration` without a sign) with `d` (24 h) and bare digits meaning seconds, e.g. `90`,
 * `1h30m`, `1.5h`, `250ms`, `7d`. Throws a `UnitError` for anything else or values above `maxMs`
 * (default 365 d).
 */
export function parseFlagDuration(raw: string, maxMs = 365 * 86_400_000): number {
  return parseDuration(raw, { ...FLAG_DURATION, max: maxMs });
}

/** Ready-made parsers for {@link FlagSpec.parse}. Each throws on invalid input. */
export const parsers = {
  /** Any string, unchanged. */
  string: (raw: string): string => raw,
  /** A non-empty string. */
  nonEmpty: (raw: string): string => {
    if (raw === '') throw new Error('empty');
    return raw;
  },
  /** `true` or `false` (lower case only). */
  bool: (raw: string): boolean => {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new Error('not a bool');
  },
  /** A decimal integer without leading zeros, within [min, max]. */
  int:
    (opts: { min?: number; max?: number } = {}) =>
    (raw: string): number => {
      if (!/^-?(0|[1-9]\d*)$/.test(raw)) throw new Error('not an integer');
      const n = Number(raw);
      if (
        !Number.isSafeInteger(n) ||
        (opts.min !== undefined && n < opts.min) ||
        (opts.max !== undefined && n > opts.max)
      ) {
        throw new Error('out of range');
      }
      return n;
    },
  /** A finite decimal number within [min, max]. */
  number:
    (opts: { min?: number; max?: number } = {}) =>
    (raw: string): number => {
      if (!/^-?\d+(\.\d+)?$/.test(raw)) throw new Error('not a number');
      const n = Number(raw);
      if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max))
        throw new Error('out of range');
      return n;
    },
  /** A duration ({@link parseFlagDuration}) in ms, within [minMs, maxMs] (maxMs default 365 d). */
  duration:
    (opts: { minMs?: number; maxMs?: number } = {}) =>
    (raw: string): number =>
      parseDuration(raw, { ...FLAG_DURATION, min: opts.minMs, max: opts.maxMs ?? 365 * 86_400_000 }),
  /** One of the given values (exact match). */
  oneOf:
    <V extends string>(values: readonly V[]) =>
    (raw: string): V => {
      if (!(values as readonly string[]).includes(raw)) throw new Error('not allowed');
      return raw as V;
    },
  /** A comma-separated list (items trimmed, empty items dropped), each checked by `item`. */
  list:
    <V = string>(item: (raw: string) => V = (x) => x as unknown as V) =>
    (raw: string): V[] =>
      raw
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map(item),
  /** A bind address (`:8080`, `127.0.0.1:0`, `0` = disabled), returned unchanged. */
  bindAddress: (raw: string): string => {
    parseBindAddress(raw);
    return raw;
  },
  /** A pino log level. */
  logLevel: (raw: string): LogLevel => {
    if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new Error('not a log level');
    return raw as LogLevel;
  },
};

/** Values of the shared runtime flags ({@link sharedFlags}). */
export interface SharedConfig {
  /** Path of a kubeconfig; empty = the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig: string;
  /** Run leader election before starting controllers. */
  leaderElect: boolean;
  /** Lease name. */
  leaseName: string;
  /** Lease namespace. */
  leaseNamespace: string;
  /** `/metrics` bind address. */
  metricsBindAddress: string;
  /** `/healthz` and `/readyz` bind address. */
  healthProbeBindAddress: string;
  /** Log level. */
  logLevel: LogLevel;
}

/**
 * The shared flags of every component, with controller-runtime's names:
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--kubeconfig` | - (client-node reads `KUBECONFIG` itself) | "" (default loading rules) |
 * | `--leader-elect` | `LEADER_ELECT` | true |
 * | `--lease-name` | `LEASE_NAME` | `opts.leaseName` |
 * | `--lease-namespace` | `LEASE_NAMESPACE` | `POD_NAMESPACE`, else `kube-system` |
 * | `--metrics-bind-address` | `METRICS_BIND_ADDRESS` | `:8080` |
 * | `--health-probe-bind-address` | `HEALTH_PROBE_BIND_ADDRESS` | `:8081` |
 * | `--log-level` | `LOG_LEVEL` | `info` |
 */
export function sharedFlags(opts: { leaseName: string }) {
  return {
    kubeconfig: flag<string>({
      flag: 'kubeconfig',
      description: 'Path to a kubeconfig. Empty: the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster)',
      expected: 'a file path',
      default: '',
      parse: parsers.string,
    }),
    leaderElect: flag<boolean>({
      flag: 'leader-elect',
      env: 'LEADER_ELECT',
      description: 'Elect a leader through a coordination.k8s.io Lease; only the leader runs controllers',
      expected: 'true or false',
      default: true,
      parse: parsers.bool,
      boolean: true,
    }),
    leaseName: flag<string>({
      flag: 'lease-name',
      env: 'LEASE_NAME',
      description: 'Name of the leader-election Lease',
      expected: 'a DNS subdomain name (lower case alphanumerics, "-" and ".")',
      default: opts.leaseName,
      parse: (raw) => {
        if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(raw) || raw.length > 253)
          throw new Error('bad name');
        return raw;
      },
    }),
    leaseNamespace: flag<string>({
      flag: 'lease-namespace',
      env: 'LEASE_NAMESPACE',
      description: 'Namespace of the leader-election Lease (default: POD_NAMESPACE, else kube-system)',
      expected: 'a DNS label (lower case alphanumerics and "-", at most 63 characters)',
      default: (env) => env.POD_NAMESPACE || 'kube-system',
      parse: (raw) => {
        if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(raw) || raw.length > 63) throw new Error('bad namespace');
        return raw;
      },
    }),
    metricsBindAddress: flag<string>({
      flag: 'metrics-bind-address',
      env: 'METRICS_BIND_ADDRESS',
      description: 'Address of the /metrics endpoint ("0" disables)',
      expected: '[host]:port such as ":8080" or "127.0.0.1:0", or "0" to disable',
      default: ':8080',
      parse: parsers.bindAddress,
    }),
    healthProbeBindAddress: flag<string>({
      flag: 'health-probe-bind-address',
      env: 'HEALTH_PROBE_BIND_ADDRESS',
      description: 'Address of the /healthz and /readyz endpoints ("0" disables)',
      expected: '[host]:port such as ":8081" or "127.0.0.1:0", or "0" to disable',
      default: ':8081',
      parse: parsers.bindAddress,
    }),
    logLevel: flag<LogLevel>({
      flag: 'log-level',
      env: 'LOG_LEVEL',
      description: 'Minimum log level',
      expected: `one of ${LOG_LEVELS.join(', ')}`,
      default: 'info',
      parse: parsers.logLevel,
    }),
  };
}

/** Options of {@link parseFlags}. */
export interface ParseFlagsOptions {
  /** Arguments after the program name; default `process.argv.slice(2)`. */
  argv?: string[];
  /** Environment; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Program name shown in help. */
  name?: string;
  /** Program description shown in help. */
  description?: string;
  /** Where `--help` output goes; default stdout. */
  writeOut?: (s: string) => void;
}

function camel(flagName: string): string {
  return flagName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * A Kubernetes dependent-variable reference `$(VAR)`: the form the kubelet expands in a container's
 * `command`, `args` and `env[].value` (Kubernetes docs, "Define Dependent Environment Variables";
 * kubernetes/kubernetes `third_party/forked/golang/expansion/expand.go`). VAR is an environment
 * variable name as the API server validates it (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
 */
const VAR_REFERENCE = /\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/;

/**
 * The {@link ConfigError} for a raw value that still holds a `$(VAR)` reference, or undefined. The
 * kubelet leaves `$(VAR)` as written when VAR is not defined in the container's `env` or `envFrom`
 * (expand.go: "If the variable cannot be resolved, the reference in the input string will be
 * unchanged"), typically because an optional ConfigMap or Secret is missing or lacks the key; the
 * program then gets the literal text. The message names the flag, the value, the variable that is
 * missing and what to do, instead of the parser's complaint about the literal text.
 */
function unexpandedReference(
  spec: FlagSpec<unknown>,
  raw: string,
  source: 'flag' | 'env',
  env: NodeJS.ProcessEnv,
): ConfigError | undefined {
  const m = VAR_REFERENCE.exec(raw);
  if (!m) return undefined;
  const name = m[1]!;
  const subject =
    source === 'env' && spec.env
      ? `env ${spec.env} (flag --${spec.flag})`
      : `--${spec.flag}${spec.env ? ` (env ${spec.env})` : ''}`;
  const why =
    env[name] === undefined
      ? `the variable ${name} is not defined in this container's environment, so Kubernetes left the reference ` +
        `unexpanded (it substitutes $(VAR) in command, args and env values only for variables defined in env or envFrom): ` +
        `is the ConfigMap or Secret that should provide ${name} missing, or does it lack the key ${name}?`
      : `${name} is set in the environment now, but the reference was not substituted (Kubernetes substitutes $(VAR) ` +
        `only with variables defined before it, in env or envFrom; a shell does not substitute $(VAR))`;
  return new ConfigError(
    spec.flag,
    raw,
    spec.expected,
    spec.env,
    source,
    `invalid value ${JSON.stringify(raw)} for ${subject}: unexpanded variable reference $(${name}): ${why}; ` +
      `define ${name} or remove the setting; expected ${spec.expected}`,
  );
}

/**
 * Parses argv and environment against flag specs, built on commander. Accepts `--flag value` and
 * `--flag=value`; boolean flags also accept a bare `--flag`. Throws:
 * - {@link ConfigError} for an unknown flag, a missing value, positional arguments, or a value its
 *   parser rejects (the error names the flag, its env var, the value and the expected form, and
 *   whether the value came from the flag or the environment); a value holding a Kubernetes
 *   `$(VAR)` reference the kubelet did not expand is rejected before its parser runs, naming the
 *   variable that is missing;
 * - {@link HelpDisplayed} after printing `--help`.
 */
export function parseFlags<F extends FlagSpecs>(specs: F, opts: ParseFlagsOptions = {}): FlagValues<F> {
  return parseFlagsWithSources(specs, opts).values;
}

/** Where a parsed flag value came from: the command line, the flag's environment variable, or the default. */
export type FlagSource = 'flag' | 'env' | 'default';

/** Result of {@link parseFlagsWithSources}. */
export interface ParsedFlags<F extends FlagSpecs> {
  values: FlagValues<F>;
  /** Where each value came from, by key of the specs (for errors that name `--flag` or `env VAR`). */
  sources: Record<keyof F, FlagSource>;
}

/**
 * {@link parseFlags}, also returning where each value came from (same precedence: flag, then its
 * environment variable if non-empty, then the default), so that later cross-field validation can
 * name the source of an offending value the way parse errors do. Throws as {@link parseFlags}.
 */
export function parseFlagsWithSources<F extends FlagSpecs>(specs: F, opts: ParseFlagsOptions = {}): ParsedFlags<F> {
  const env = opts.env ?? process.env;
  const argv = opts.argv ?? process.argv.slice(2);
  const program = new Command(opts.name ?? 'component');
  if (opts.description) program.description(opts.description);
  program
    .exitOverride()
    .allowExcessArguments(false)
    .helpOption('-h, --help', 'Show this help')
    .configureOutput({
      writeOut: opts.writeOut ?? ((s) => process.stdout.write(s)),
      writeErr: () => {},
      outputError: () => {},
    });
  const byAttr = new Map<string, string>();
  for (const [, spec] of Object.entries(specs)) {
    const flags = spec.boolean ? `--${spec.flag} [bool]` : `--${spec.flag} <value>`;
    const o = new Option(flags, `${spec.description}${spec.env ? ` [env ${spec.env}]` : ''} (${spec.expected})`);
    program.addOption(o);
    byAttr.set(o.attributeName(), spec.flag);
  }
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help')
        throw new HelpDisplayed('help displayed');
      const m = /'([^']+)'/.exec(e.message);
      const what = m?.[1] ?? argv.join(' ');
      const flagName = what.replace(/^-+/, '').split(/[ =]/)[0] ?? '';
      if (e.code === 'commander.unknownOption') {
        throw new ConfigError(
          flagName,
          what,
          'one of the flags listed by --help',
          undefined,
          'flag',
          `unknown flag ${what}: expected one of the flags listed by --help`,
        );
      }
      if (e.code === 'commander.excessArguments') {
        throw new ConfigError(
          '',
          argv.join(' '),
          'flags only',
          undefined,
          'flag',
          `unexpected argument(s) ${JSON.stringify(program.args)}: this program takes flags only (see --help)`,
        );
      }
      if (e.code === 'commander.optionMissingArgument') {
        const spec = Object.values(specs).find((s) => what.startsWith(`--${s.flag}`));
        throw new ConfigError(
          spec?.flag ?? flagName,
          '',
          spec?.expected ?? 'a value',
          spec?.env,
          'flag',
          `flag --${spec?.flag ?? flagName} needs a value: expected ${spec?.expected ?? 'a value'}`,
        );
      }
      throw new ConfigError(
        flagName,
        what,
        'valid flags (see --help)',
        undefined,
        'flag',
        e.message.replace(/^error: /, ''),
      );
    }
    throw e;
  }
  const given = program.opts() as Record<string, string | boolean | undefined>;
  const out: Record<string, unknown> = {};
  const sources: Record<string, FlagSource> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const attr = camel(spec.flag);
    let raw: string | undefined;
    let source: 'flag' | 'env' = 'flag';
    const g = given[attr];
    if (g !== undefined) raw = g === true ? 'true' : String(g);
    else if (spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      raw = env[spec.env];
      source = 'env';
    }
    if (raw === undefined) {
      out[key] =
        typeof spec.default === 'function' ? (spec.default as (e: NodeJS.ProcessEnv) => unknown)(env) : spec.default;
      sources[key] = 'default';
      continue;
    }
    sources[key] = source;
    const unexpanded = unexpandedReference(spec, raw, source, env);
    if (unexpanded) throw unexpanded;
    try {
      out[key] = spec.parse(raw);
    } catch {
      throw new ConfigError(spec.flag, raw, spec.expected, spec.env, source);
    }
  }
  return { values: out as FlagValues<F>, sources: sources as Record<keyof F, FlagSource> };
}
