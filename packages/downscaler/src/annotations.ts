/**
 * The `downscaler/*` annotations (docs/downscaler.md#ds-annotations) and their parsing into the settings of one scope.
 * Values are parsed once per (key, value) and memoized; an object's whole annotation set is parsed into a
 * {@link ParsedScope} that lists the settings, blocking problems (`InvalidAnnotation`,
 * `ConflictingAnnotations`), non-blocking ones (`UnknownAnnotation`) and wrapped time ranges.
 */
import {
  type BoolOrSpec,
  type GrammarError,
  type Parsed,
  type RecurringItem,
  type Spec,
  type SpecDefaults,
  formatGrammarError,
  parseBoolOrSpec,
  parseDurationStrict,
  parseInteger,
  parseSpec,
  parseUntilInstant,
} from './grammar';

/** Annotation prefix kept from kube-downscaler. */
export const PREFIX = 'downscaler/';

/** Annotation keys (docs/downscaler.md#ds-annotations). */
export const ANN = {
  uptime: 'downscaler/uptime',
  downtime: 'downscaler/downtime',
  upscalePeriod: 'downscaler/upscale-period',
  downscalePeriod: 'downscaler/downscale-period',
  exclude: 'downscaler/exclude',
  excludeUntil: 'downscaler/exclude-until',
  forceUptime: 'downscaler/force-uptime',
  forceDowntime: 'downscaler/force-downtime',
  downtimeReplicas: 'downscaler/downtime-replicas',
  downscaleReplicas: 'downscaler/downscale-replicas',
  gracePeriod: 'downscaler/grace-period',
  originalReplicas: 'downscaler/original-replicas',
} as const;

/** KEDA's pause annotation on ScaledObjects. */
export const KEDA_PAUSED = 'autoscaling.keda.sh/paused-replicas';

/** Where a setting came from. `hpa` is a workload scope that is an HPA (docs/downscaler.md#ds-hpa rule 5). */
export type ScopeName = 'workload' | 'hpa' | 'namespace' | 'flag' | 'env' | 'default';

/** A setting value with its origin, for explanations (`flag --default-uptime`, `namespace annotation downscaler/downtime`). */
export interface Setting<T> {
  value: T;
  scope: ScopeName;
  /** Human-readable origin, e.g. `annotation downscaler/uptime`, `flag --default-uptime`, `env DEFAULT_UPTIME`. */
  source: string;
}

/** The settings one scope may set (every member optional). */
export interface ScopeSettings {
  uptime?: Setting<Spec>;
  downtime?: Setting<Spec>;
  upscalePeriod?: Setting<Spec>;
  downscalePeriod?: Setting<Spec>;
  forceUptime?: Setting<BoolOrSpec>;
  forceDowntime?: Setting<BoolOrSpec>;
  exclude?: Setting<BoolOrSpec>;
  /** Instant (ms since the epoch) before which the object is excluded. */
  excludeUntil?: Setting<number>;
  downtimeReplicas?: Setting<number>;
  /** Milliseconds. */
  gracePeriod?: Setting<number>;
}

/** A configuration problem found on an object or Namespace (docs/downscaler.md#ds-bad-input). */
export interface ConfigProblem {
  /** Event reason: `InvalidAnnotation`, `ConflictingAnnotations` or `UnknownAnnotation`. */
  reason: 'InvalidAnnotation' | 'ConflictingAnnotations' | 'UnknownAnnotation';
  /** Grammar error code or a short code (`Conflict`, `Unknown`). */
  code: string;
  key: string;
  value: string;
  /** Offending token and item, when known. */
  token?: string;
  item?: number;
  /** The full message, naming key, item, token and the valid form. */
  message: string;
}

/** Settings and problems of one object's (or Namespace's) annotations. */
export interface ParsedScope {
  settings: ScopeSettings;
  /** Problems that block every write to the object (and, on a Namespace, to every object in it). */
  errors: ConfigProblem[];
  /** `UnknownAnnotation` warnings; evaluation continues. */
  warnings: ConfigProblem[];
  /** Wrapped recurring items (`20:00-08:00`), for the `WrappedTimeRange` notice. */
  wrapped: Array<{ key: string; value: string; item: RecurringItem }>;
  /** True when schedule, force or replicas keys are set (for HPAs: docs/downscaler.md#ds-hpa rule 5). */
  ownSchedule: boolean;
}

type ValueKind = 'spec' | 'boolOrSpec' | 'until' | 'integer' | 'duration';

const KEY_KIND: Record<string, { field: keyof ScopeSettings | 'alias'; kind: ValueKind }> = {
  [ANN.uptime]: { field: 'uptime', kind: 'spec' },
  [ANN.downtime]: { field: 'downtime', kind: 'spec' },
  [ANN.upscalePeriod]: { field: 'upscalePeriod', kind: 'spec' },
  [ANN.downscalePeriod]: { field: 'downscalePeriod', kind: 'spec' },
  [ANN.forceUptime]: { field: 'forceUptime', kind: 'boolOrSpec' },
  [ANN.forceDowntime]: { field: 'forceDowntime', kind: 'boolOrSpec' },
  [ANN.exclude]: { field: 'exclude', kind: 'boolOrSpec' },
  [ANN.excludeUntil]: { field: 'excludeUntil', kind: 'until' },
  [ANN.downtimeReplicas]: { field: 'downtimeReplicas', kind: 'integer' },
  [ANN.downscaleReplicas]: { field: 'alias', kind: 'integer' },
  [ANN.gracePeriod]: { field: 'gracePeriod', kind: 'duration' },
};

const TIME_KEYS = ['uptime', 'downtime'] as const;
const PERIOD_KEYS = ['upscalePeriod', 'downscalePeriod'] as const;

/** Parses one value of the given kind. */
export function parseValue(kind: ValueKind, raw: string, defaults: SpecDefaults): Parsed<unknown> {
  switch (kind) {
    case 'spec':
      return parseSpec(raw, defaults);
    case 'boolOrSpec':
      return parseBoolOrSpec(raw, defaults);
    case 'until':
      return parseUntilInstant(raw);
    case 'integer':
      return parseInteger(raw);
    case 'duration':
      return parseDurationStrict(raw);
  }
}

function problemFromErrors(key: string, value: string, errors: GrammarError[], subject = key): ConfigProblem {
  const first = errors[0]!;
  return {
    reason: 'InvalidAnnotation',
    code: first.code,
    key,
    value,
    token: first.token,
    item: first.item,
    message: errors.map((e) => formatGrammarError(subject, e, value)).join('; '),
  };
}

function wrappedItems(v: unknown): RecurringItem[] {
  const spec = (v as { kind?: string; spec?: Spec }).kind === 'spec' ? (v as { spec: Spec }).spec : (v as Spec);
  if (!spec || spec.kind !== 'list') return [];
  return spec.items.filter((i): i is RecurringItem => i.type === 'recurring' && i.wrap);
}

/**
 * Parses annotations into scope settings, memoizing by (key, value). One parser per set of defaults
 * (`--default-timezone`, `--default-weekframe` are fixed at start-up).
 */
export class AnnotationParser {
  private readonly memo = new Map<string, Parsed<unknown>>();
  private readonly scopes = new WeakMap<object, { ns: ParsedScope; obj: ParsedScope; hpa: ParsedScope }>();

  constructor(readonly defaults: SpecDefaults = {}) {}

  /** Number of memoized values. */
  get size(): number {
    return this.memo.size;
  }

  private value(kind: ValueKind, key: string, raw: string): Parsed<unknown> {
    const k = `${key}\u0000${raw}`;
    let r = this.memo.get(k);
    if (!r) {
      r = parseValue(kind, raw, this.defaults);
      if (this.memo.size > 100_000) this.memo.clear();
      this.memo.set(k, r);
    }
    return r;
  }

  /**
   * Parses the `downscaler/*` annotations of one object or Namespace. `target` decides the scope name
   * of the settings and which keys are allowed (`original-replicas` is only valid on workloads).
   * Results are cached per annotations object (informer objects are immutable).
   */
  parse(annotations: Record<string, string> | undefined, target: 'workload' | 'hpa' | 'namespace'): ParsedScope {
    const holder = annotations ?? EMPTY;
    let cached = this.scopes.get(holder);
    if (!cached) {
      cached = {} as { ns: ParsedScope; obj: ParsedScope; hpa: ParsedScope };
      this.scopes.set(holder, cached);
    }
    const slot = target === 'namespace' ? 'ns' : target === 'hpa' ? 'hpa' : 'obj';
    return (cached[slot] ??= this.parseUncached(holder, target));
  }

  private parseUncached(annotations: Record<string, string>, target: 'workload' | 'hpa' | 'namespace'): ParsedScope {
    const out: ParsedScope = { settings: {}, errors: [], warnings: [], wrapped: [], ownSchedule: false };
    const where = target === 'namespace' ? 'namespace annotation' : target === 'hpa' ? 'HPA annotation' : 'annotation';
    let alias: { value: number; raw: string } | undefined;
    for (const [key, raw] of Object.entries(annotations)) {
      if (!key.startsWith(PREFIX)) continue;
      if (key === ANN.originalReplicas) {
        if (target === 'namespace') {
          out.warnings.push({
            reason: 'UnknownAnnotation',
            code: 'Unknown',
            key,
            value: raw,
            message: `${key} has no meaning on a Namespace (the downscaler writes it on the workloads it scales); ignored`,
          });
        }
        continue;
      }
      const spec = KEY_KIND[key];
      if (!spec) {
        out.warnings.push({
          reason: 'UnknownAnnotation',
          code: 'Unknown',
          key,
          value: raw,
          message: `unknown annotation ${key}: supported keys are ${[...Object.keys(KEY_KIND), ANN.originalReplicas].join(', ')}; ignored`,
        });
        continue;
      }
      const r = this.value(spec.kind, key, raw);
      if (!r.ok) {
        out.errors.push(problemFromErrors(key, raw, r.errors));
        continue;
      }
      for (const item of wrappedItems(r.value)) out.wrapped.push({ key, value: raw, item });
      const setting = { value: r.value, scope: target, source: `${where} ${key}` } as Setting<never>;
      if (spec.field === 'alias') {
        alias = { value: r.value as number, raw };
        continue;
      }
      (out.settings as Record<string, Setting<unknown>>)[spec.field] = setting;
    }
    if (alias) {
      const main = out.settings.downtimeReplicas;
      const mainBroken = out.errors.some((e) => e.key === ANN.downtimeReplicas);
      if (main && main.value !== alias.value) {
        out.errors.push({
          reason: 'ConflictingAnnotations',
          code: 'Conflict',
          key: ANN.downscaleReplicas,
          value: alias.raw,
          message: `${ANN.downtimeReplicas}="${main.value}" and its alias ${ANN.downscaleReplicas}="${alias.raw}" differ: keep one of them`,
        });
      } else if (!main && !mainBroken) {
        out.settings.downtimeReplicas = {
          value: alias.value,
          scope: target,
          source: `${where} ${ANN.downscaleReplicas}`,
        };
      }
    }
    const s = out.settings;
    const time = TIME_KEYS.filter((k) => s[k] || annotations[keyOf(k)] !== undefined);
    const period = PERIOD_KEYS.filter((k) => s[k] || annotations[keyOf(k)] !== undefined);
    if (time.length && period.length) {
      const keys = [...time, ...period].map(keyOf);
      out.errors.push({
        reason: 'ConflictingAnnotations',
        code: 'Conflict',
        key: keys.join(','),
        value: keys.map((k) => annotations[k]).join(' | '),
        message: `time keys (${time.map(keyOf).join(', ')}) and period keys (${period.map(keyOf).join(', ')}) in one scope: use either uptime/downtime or upscale-period/downscale-period`,
      });
    }
    out.ownSchedule = Boolean(
      s.uptime ||
      s.downtime ||
      s.upscalePeriod ||
      s.downscalePeriod ||
      s.forceUptime ||
      s.forceDowntime ||
      s.downtimeReplicas,
    );
    return out;
  }
}

const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

function keyOf(field: (typeof TIME_KEYS)[number] | (typeof PERIOD_KEYS)[number]): string {
  return ANN[field];
}

/**
 * Parses `downscaler/original-replicas`: an integer ≥ 0, or `-1` on ScaledObjects (= KEDA's annotation
 * was absent). On CronJobs also the previous `spec.suspend` as GoKubeDownscaler writes it
 * (`BooleanReplicas` in caas-team/GoKubeDownscaler `internal/pkg/values/replicas.go`, case-insensitive
 * `true`/`false`): `"false"` (it was running) is the replica value 1, `"true"` (it was suspended) is 0, so a
 * CronJob it suspended is resumed by the next restore (docs/downscaler.md#ds-upstream). Returns undefined when
 * absent.
 */
export function parseOriginal(
  raw: string | undefined,
  allowMinusOne: boolean,
  allowSuspendState = false,
): { ok: true; value: number } | { ok: false; problem: ConfigProblem } | undefined {
  if (raw === undefined) return undefined;
  if (allowMinusOne && raw === '-1') return { ok: true, value: -1 };
  if (allowSuspendState && /^(true|false)$/i.test(raw))
    return { ok: true, value: raw.toLowerCase() === 'false' ? 1 : 0 };
  const r = parseInteger(raw);
  if (r.ok) return r;
  return {
    ok: false,
    problem: {
      reason: 'InvalidAnnotation',
      code: r.errors[0]!.code,
      key: ANN.originalReplicas,
      value: raw,
      token: raw,
      message: `${ANN.originalReplicas} "${raw}" is not a replica count (integer ≥ 0${allowMinusOne ? ' or -1' : ''}${allowSuspendState ? ', or true/false as GoKubeDownscaler writes it' : ''}): the object is left alone until it is fixed by hand`,
    },
  };
}
