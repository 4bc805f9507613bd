/**
 * The component framework: a component is declared with {@link defineComponent} and run by one
 * {@link runComponent} (its container entry point) or {@link startComponent} (in-process, for tests and
 * the local platform). The framework owns everything components share: flags (parsed once; invalid
 * values exit 2 before any API call), the logger, the metrics registry, one {@link Manager} with one
 * clock, leader election, Events, probes, SIGTERM drain, Lease release and the Event flush. A component
 * only declares its flags and, in `setup`, its informers, controllers ({@link Manager.builder}) and
 * {@link Runnable}s. A component that can work without a cluster declares `clusterAccess: 'optional'`
 * and then runs on a standalone Manager when no cluster access is configured ({@link Manager.standalone}).
 * See `packages/runtime/README.md` ("Write a new component", "Running without a cluster") and ADR 0003.
 */
import type { ClusterConfig } from './kubeconfig.js';
import type { Clock } from './clock.js';
import { type ClusterAccessSource, clusterAccessSource } from './cluster-access.js';
import {
  type FlagSource,
  type FlagSpecs,
  type FlagValues,
  type SharedConfig,
  parseFlagsWithSources,
  sharedFlags,
} from './flags.js';
import { defaultIdentity } from './leaderelection.js';
import { type Logger, type LoggerOptions, createLogger } from './logging.js';
import { type ListeningAddresses } from './server.js';
import { Manager, type ManagerOptions, type RunMainOptions, loadClusterKubeConfig, runMain } from './manager.js';
import { ComponentMetrics } from './metrics.js';

/** The shared flags every component gets ({@link sharedFlags}). */
export type SharedFlagSpecs = ReturnType<typeof sharedFlags>;

/**
 * What a component may change about a shared flag: its environment variable, default, help text and
 * expected form (e.g. a component whose flags all read `<PREFIX>_<FLAG>` and whose ports differ from
 * controller-runtime's). Never its name, its key or its value type; the parser stays the framework's
 * unless replaced by one returning the same type.
 */
export type SharedFlagOverrides = {
  [K in keyof SharedFlagSpecs]?: Partial<Omit<SharedFlagSpecs[K], 'flag' | 'boolean'>>;
};

/**
 * The complete flag specs of a component: the shared flags ({@link sharedFlags}, Lease
 * `kubeaws-<name>`) with `overrides` applied, then the component's own `flags`. What
 * {@link Component.parse} parses; exported for tests and help generators.
 */
export function componentFlagSpecs<F extends FlagSpecs>(
  name: string,
  flags: F,
  overrides: SharedFlagOverrides = {},
): SharedFlagSpecs & F {
  const shared = sharedFlags({ leaseName: `kubeaws-${name}` });
  for (const key of Object.keys(overrides) as Array<keyof SharedFlagSpecs>)
    (shared as Record<string, unknown>)[key] = { ...shared[key], ...overrides[key] };
  return { ...shared, ...flags };
}

/**
 * Where a component's cluster access comes from: {@link ClusterAccessSource} (`--kubeconfig`,
 * `$KUBECONFIG`, `~/.kube/config`, in-cluster), or `option` for a `KubeConfig` handed to
 * {@link startComponent}; undefined when there is none.
 */
export type ComponentClusterAccess = ClusterAccessSource | 'option' | undefined;

/** Parsed values of the shared flags plus the component's own flags. */
export type ComponentValues<F extends FlagSpecs> = SharedConfig & FlagValues<F>;

/** What `configure` gets besides the parsed values and the environment. */
export interface ConfigureContext<F extends FlagSpecs> {
  /** The command-line arguments that were parsed. */
  argv: string[];
  /**
   * Where each value came from (`flag`, `env` or `default`), by key of the shared and the component's
   * flags: a cross-field {@link ConfigError} names `--flag` or `env VAR` the way parse errors do.
   */
  sources: Record<keyof (SharedFlagSpecs & F), FlagSource>;
  /**
   * Where cluster access comes from; undefined when none is configured. For a component declared with
   * `clusterAccess: 'optional'` undefined means the Manager will be standalone
   * ({@link Manager.standalone}); `configure` throws a {@link ConfigError} when the configuration
   * needs the cluster after all.
   */
  clusterAccess: ComponentClusterAccess;
}

/** Manager settings a component may derive from its configuration. */
export type ManagerSettings = Partial<
  Pick<
    ManagerOptions,
    'qps' | 'burst' | 'dryRun' | 'fieldManager' | 'eventQps' | 'eventBurst' | 'eventBudget' | 'drainTimeoutMs'
  >
>;

/** What `setup` gets besides the Manager and the configuration. */
export interface SetupContext {
  /** The process environment (downward API: `POD_NAME`, `POD_NAMESPACE`, `POD_UID`, ...). */
  env: NodeJS.ProcessEnv;
}

/**
 * A component's declaration.
 *
 * @typeParam F its own flags (the shared flags are added by the framework)
 * @typeParam C its configuration: the parsed flag values, or what `configure` makes of them
 * @typeParam H what `setup` returns: the component's parts, reachable from tests as `handle`
 */
export interface ComponentDefinition<F extends FlagSpecs, C extends SharedConfig, H> {
  /** Name, e.g. "pdb-controller": metric prefix `kubeaws_pdb_controller_`, log `component`, Lease `kubeaws-<name>`. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** The component's own flags ({@link flag}); the shared ones are added. */
  flags: F;
  /** Changes to the shared flags' env vars, defaults and texts ({@link SharedFlagOverrides}); default none. */
  sharedFlagOverrides?: SharedFlagOverrides;
  /**
   * `required` (default): the Manager always has a Kubernetes client (without any configured access
   * client-node's fallback, `http://localhost:8080`, is used and fails). `optional`: when no cluster
   * access is configured (no `KubeConfig` option, `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config` or
   * pod service account; {@link clusterAccessSource}), the component runs standalone
   * ({@link Manager.standalone}): no client, informers, Lease or Events, and `/readyz` holds only its
   * own checks. `configure` learns which through {@link ConfigureContext.clusterAccess}.
   */
  clusterAccess?: 'required' | 'optional';
  /**
   * Cross-field validation and derived settings: turns the parsed values into the configuration.
   * Throw {@link ConfigError} (exit 2, before any API call) naming the flag, the value and what is valid.
   */
  configure?(values: ComponentValues<F>, env: NodeJS.ProcessEnv, ctx: ConfigureContext<F>): C;
  /** Manager settings taken from the configuration (client write limit, dry run, field manager, ...). */
  manager?(cfg: C): ManagerSettings;
  /** The configuration as logged in the start line; default the configuration itself. */
  describe?(cfg: C): unknown;
  /**
   * Declares the component on the Manager: informers, controllers, runnables, readiness checks. Runs
   * before the Manager starts, once per process. Must not write to the API (nothing leads yet).
   */
  setup(mgr: Manager, cfg: C, ctx: SetupContext): H | Promise<H>;
}

/** Options of {@link Component.parse}. */
export interface ParseComponentOptions {
  /** Cluster access handed over in-process ({@link StartComponentOptions.kubeConfig}): counts as `option`. */
  kubeConfig?: ClusterConfig;
  /** Probe for files (`~/.kube/config`, the service-account token); default `fs.existsSync`. */
  exists?: (file: string) => boolean;
}

/** A declared component ({@link defineComponent}). */
export interface Component<F extends FlagSpecs, C extends SharedConfig, H> extends ComponentDefinition<F, C, H> {
  /**
   * Parses argv and env into the configuration (flags, then `configure`). Throws ConfigError,
   * HelpDisplayed, or what `configure` throws.
   */
  parse(argv: string[], env: NodeJS.ProcessEnv, opts?: ParseComponentOptions): C;
  /**
   * Every flag the component accepts ({@link componentFlagSpecs}: the shared flags with the component's
   * overrides, then its own), e.g. to check that the configuration items of a cluster name env vars the
   * component reads.
   */
  readonly flagSpecs: SharedFlagSpecs & F;
  /**
   * {@link parse}, also saying whether the Manager runs standalone: `clusterAccess: 'optional'` and no
   * cluster access configured.
   */
  parseWithAccess(
    argv: string[],
    env: NodeJS.ProcessEnv,
    opts?: ParseComponentOptions,
  ): { config: C; clusterAccess: ComponentClusterAccess; standalone: boolean };
}

/** Declares a component. See the module docs. */
export function defineComponent<F extends FlagSpecs, H, C extends SharedConfig = ComponentValues<F>>(
  def: ComponentDefinition<F, C, H>,
): Component<F, C, H> {
  const specs = componentFlagSpecs(def.name, def.flags, def.sharedFlagOverrides);
  const parseWithAccess: Component<F, C, H>['parseWithAccess'] = (argv, env, opts = {}) => {
    const { values, sources } = parseFlagsWithSources(specs, {
      argv,
      env,
      name: def.name,
      description: def.description,
    });
    const clusterAccess: ComponentClusterAccess = opts.kubeConfig
      ? 'option'
      : clusterAccessSource((values as SharedConfig).kubeconfig, env, opts.exists);
    const standalone = def.clusterAccess === 'optional' && clusterAccess === undefined;
    const config = def.configure
      ? def.configure(values as ComponentValues<F>, env, {
          argv,
          sources: sources as ConfigureContext<F>['sources'],
          clusterAccess,
        })
      : (values as unknown as C);
    return { config, clusterAccess, standalone };
  };
  return {
    ...def,
    flagSpecs: specs,
    parseWithAccess,
    parse: (argv, env, opts) => parseWithAccess(argv, env, opts).config,
  };
}

/** Options of {@link startComponent}. Everything has a production default. */
export interface StartComponentOptions<C> {
  /** Command-line arguments; default none. */
  argv?: string[];
  /** Environment; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Configuration values that replace parsed ones (tests: `{ leaderElect: false, ... }`). */
  config?: Partial<C>;
  /**
   * Cluster access; default from `--kubeconfig` or the default loading rules (none configured and
   * `clusterAccess: 'optional'`: standalone).
   */
  kubeConfig?: ClusterConfig;
  /** The Manager's one clock (reconcile timers, work queues, decisions); default the real clock. */
  clock?: Clock;
  /** Lease identity and Events' reportingInstance; default `POD_NAME`, else `<hostname>_<uuid>`. */
  identity?: string;
  /** Logger; default a JSON logger at `--log-level` writing to `logDestination` (default stdout). */
  logger?: Logger;
  logDestination?: LoggerOptions['destination'];
  /** Metrics registry; default a new one, with process metrics unless `processMetrics` is false. */
  metrics?: ComponentMetrics;
  processMetrics?: boolean;
  /** Leader-election timings (ms); defaults 15 000 / 10 000 / 2 000. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** A component running in this process. */
export interface RunningComponent<C, H> {
  name: string;
  config: C;
  manager: Manager;
  /** What `setup` returned. */
  handle: H;
  metrics: ComponentMetrics;
  /** Listening addresses of `/metrics` and `/healthz` + `/readyz`. */
  addresses: ListeningAddresses;
  /** True while this replica may write (it holds the Lease, or leader election is off / dry run). */
  isLeader(): boolean;
  /** Resolves once every required informer has synced. */
  synced(): Promise<void>;
  /** Resolves with an exit code when the component asks to end ({@link Manager.requestExit}). */
  done: Promise<number>;
  /** Graceful stop: drain, stop runnables, release the Lease, flush Events, stop informers and servers. */
  stop(): Promise<void>;
}

/**
 * Builds the Manager, runs `setup` and starts everything; resolves once the probe and metrics servers
 * listen (not waiting for sync or leadership). Throws ConfigError / HelpDisplayed from parsing before
 * anything is built.
 */
export async function startComponent<F extends FlagSpecs, C extends SharedConfig, H>(
  component: Component<F, C, H>,
  o: StartComponentOptions<C> = {},
): Promise<RunningComponent<C, H>> {
  const env = o.env ?? process.env;
  const parsed = component.parseWithAccess(o.argv ?? [], env, { kubeConfig: o.kubeConfig });
  const config: C = { ...parsed.config, ...o.config };
  const standalone = parsed.standalone;
  const logger =
    o.logger ?? createLogger({ component: component.name, level: config.logLevel, destination: o.logDestination });
  const metrics = o.metrics ?? new ComponentMetrics(component.name, { processMetrics: o.processMetrics ?? true });
  const settings = component.manager?.(config) ?? {};
  // A kubeconfig named by --kubeconfig or $KUBECONFIG that cannot be used is a bad flag (exit 2).
  const kubeConfig = o.kubeConfig ?? (standalone ? undefined : loadClusterKubeConfig(config.kubeconfig, env));
  const manager = new Manager({
    ...settings,
    component: component.name,
    config,
    kubeConfig,
    standalone,
    identity: o.identity ?? (env.POD_NAME || defaultIdentity()),
    clock: o.clock,
    logger,
    metrics,
    leaseDurationMs: o.leaseDurationMs,
    renewDeadlineMs: o.renewDeadlineMs,
    retryPeriodMs: o.retryPeriodMs,
  });
  const handle = await component.setup(manager, config, { env });
  logger.info(
    {
      config: component.describe ? component.describe(config) : config,
      leaderElect: config.leaderElect && !settings.dryRun && !standalone,
      lease: standalone ? undefined : `${config.leaseNamespace}/${config.leaseName}`,
      ...(standalone ? { standalone: true } : {}),
      identity: manager.identity,
    },
    `starting ${component.name}`,
  );
  const addresses = await manager.start();
  return {
    name: component.name,
    config,
    manager,
    handle,
    metrics,
    addresses,
    isLeader: () => manager.isLeader(),
    synced: async () => {
      await manager.waitForCacheSync();
    },
    done: manager.done,
    stop: () => manager.shutdown(),
  };
}

/**
 * The container entry point of a component (`main.ts`: `void runComponent(c)`, unguarded; a
 * `require.main === module` guard never fires in the ESM image bundle):
 * parses flags and environment (invalid: exit 2 with a message naming the flag, the value and the
 * expected form, also in the termination message), starts the component, and on the first SIGTERM or
 * SIGINT (or when the component asks to end) shuts down gracefully and exits with the component's code
 * (default 0). See {@link runMain} for the exit codes.
 */
export function runComponent<F extends FlagSpecs, C extends SharedConfig, H>(
  component: Component<F, C, H>,
  opts: RunMainOptions & Omit<StartComponentOptions<C>, 'argv' | 'env'> = {},
): Promise<number> {
  return runMain(async (ctx) => {
    const rc = await startComponent(component, { ...opts, argv: ctx.argv, env: ctx.env });
    const aborted = new Promise<number>((resolve) => {
      if (ctx.signal.aborted) resolve(0);
      ctx.signal.addEventListener('abort', () => resolve(0), { once: true });
    });
    const code = await Promise.race([rc.done, aborted]);
    await rc.stop();
    return code;
  }, opts);
}
