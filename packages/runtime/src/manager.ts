import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Clock, realClock } from './clock.js';
import { KubeClient, type KubeObject } from './client.js';
import { ControllerBuilder } from './builder.js';
import { Controller, type ControllerOptions } from './controller.js';
import { ConfigError, ExitError } from './errors.js';
import { EventRecorder } from './events.js';
import { HelpDisplayed, type SharedConfig } from './flags.js';
import { Informer, type InformerOptions } from './informer.js';
import { LeaderElector, defaultIdentity } from './leaderelection.js';
import { type Logger, createLogger } from './logging.js';
import { type ClusterConfig, Kubeconfig, KubeconfigError, loadDefaultKubeconfig } from './kubeconfig.js';
import { ComponentMetrics } from './metrics.js';
import { type HealthCheck, type ListeningAddresses, ProbeServer } from './server.js';

/** What `--kubeconfig` accepts, as {@link ConfigError}s from {@link loadClusterKubeConfig} state it. */
export const KUBECONFIG_EXPECTED =
  'the path of a readable kubeconfig file with a current context, or empty for the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster)';

/** Why a kubeconfig file could not be used, in words: the Node error code's meaning, else the loader's message. */
function kubeconfigProblem(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${file} does not exist (ENOENT)`;
    case 'EACCES':
    case 'EPERM':
      return `${file} is not readable by this process (${code})`;
    case 'EISDIR':
      return `${file} is a directory, not a file (EISDIR)`;
    default:
      return err instanceof KubeconfigError
        ? err.message
        : `${file} is not a valid kubeconfig: ${(err as Error)?.message ?? String(err)}`;
  }
}

/**
 * The cluster access of a component ({@link Kubeconfig}, client-go's loading rules): the file of
 * `--kubeconfig` (`flagValue`), else the files of `KUBECONFIG` in `env` (merged), else `~/.kube/config`,
 * else the pod's service account. A file named by the flag or by `KUBECONFIG` that is missing, unreadable,
 * a directory, not a kubeconfig, or without a current context throws a {@link ConfigError} naming the flag
 * (or `KUBECONFIG`), the path and what is wrong, so the process exits 2 before any API call, e.g.
 * `invalid value "/nonexistent" for --kubeconfig: /nonexistent does not exist (ENOENT); expected ...`. No
 * cluster access at all is a ConfigError too; an unusable `~/.kube/config` or service-account mount an
 * {@link ExitError} (exit 1).
 */
export function loadClusterKubeConfig(flagValue: string, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const source = flagValue ? 'flag' : env.KUBECONFIG ? 'env' : undefined;
  const value = flagValue || env.KUBECONFIG || '';
  const fail = (problem: string): never => {
    throw new ConfigError(
      'kubeconfig',
      value,
      KUBECONFIG_EXPECTED,
      source === 'env' ? 'KUBECONFIG' : undefined,
      source === 'env' ? 'env' : 'flag',
      source === 'env'
        ? `invalid value ${JSON.stringify(value)} for env KUBECONFIG: ${problem}; expected ${KUBECONFIG_EXPECTED}`
        : `invalid value ${JSON.stringify(value)} for --kubeconfig: ${problem}; expected ${KUBECONFIG_EXPECTED}`,
    );
  };
  if (!source) {
    let kc: Kubeconfig | undefined;
    try {
      kc = loadDefaultKubeconfig(env);
    } catch (err) {
      throw new ExitError(`cluster access: ${(err as Error).message}`);
    }
    if (!kc)
      throw new ConfigError(
        'kubeconfig',
        '',
        KUBECONFIG_EXPECTED,
        undefined,
        'default',
        'no cluster access: --kubeconfig not given, KUBECONFIG unset, no ~/.kube/config and not running in a pod (KUBERNETES_SERVICE_HOST unset)',
      );
    return kc;
  }
  const files = source === 'flag' ? [flagValue] : value.split(path.delimiter).filter((f) => f);
  for (const file of files) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
      if (fs.statSync(file).isDirectory()) fail(kubeconfigProblem(file, { code: 'EISDIR' }));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      fail(kubeconfigProblem(file, err));
    }
  }
  const where = files.length === 1 ? files[0]! : value;
  let kc: Kubeconfig;
  try {
    kc = Kubeconfig.fromFiles(files);
  } catch (err) {
    return fail(kubeconfigProblem(where, err));
  }
  if (!kc.getCurrentCluster()) {
    fail(`${where} has no usable current context (current-context ${JSON.stringify(kc.getCurrentContext())} names no context)`);
  }
  return kc;
}

/** Options of {@link Manager}. */
export interface ManagerOptions {
  /** Component name, e.g. "pdb-controller": metric prefix, log `component`, User-Agent. */
  component: string;
  /** Parsed shared flags ({@link sharedFlags}). */
  config: SharedConfig;
  /** Cluster access; default {@link loadClusterKubeConfig}(config.kubeconfig). Ignored when `standalone`. */
  kubeConfig?: ClusterConfig;
  /**
   * Run without cluster access (see {@link Manager.standalone}): no Kubernetes client, informers, Lease
   * or Events. Set by the framework for a component declared with `clusterAccess: 'optional'` when no
   * cluster access is configured. Default false.
   */
  standalone?: boolean;
  /** Lease identity and Events' reportingInstance; default {@link defaultIdentity} (POD_NAME). */
  identity?: string;
  /** Dry run: no Lease (this replica acts as leader), Events logged but not written. */
  dryRun?: boolean;
  /** Client-side write limit (requests/s, burst); default 20 / 40. */
  qps?: number;
  burst?: number;
  /**
   * Events: the recorder writes through a client of its own with this client-side limit (default
   * 50 / 100), so Events never take the write tokens of the component's objects, and drops what
   * exceeds its budget (default 10 / 100 writes per second) and client-go's per-object spam filter
   * (burst 25, one more per 5 minutes).
   */
  eventQps?: number;
  eventBurst?: number;
  eventBudget?: { qps?: number; burst?: number };
  /** Default field manager of the client; default `kubeaws-<component>`. */
  fieldManager?: string;
  /** Events' reportingController; default `kubeaws.io/<component>`. */
  reportingController?: string;
  /** Leader-election timings (ms); defaults 15 000 / 10 000 / 2 000. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Max time to drain the work queues on shutdown (ms); default 30 000. */
  drainTimeoutMs?: number;
  /**
   * Time for reconcile timers and work queues (`requeueAfter`, `addAfter`, backoff), informer resync
   * and Event aggregation; inject a {@link FakeClock} to test hour- or day-long timings. Leader
   * election, client rate limiting and informer backoff/watchdogs always run on real time, because
   * they pace network traffic and coordinate with other processes.
   */
  clock?: Clock;
  logger?: Logger;
  metrics?: ComponentMetrics;
}

/** Extra options of {@link Manager.informer}. */
export interface ManagedInformerOptions {
  /**
   * An optional informer (e.g. a CRD that may be missing) does not count toward `/readyz` and is not
   * awaited before controllers start. Default false.
   */
  optional?: boolean;
}

/**
 * Something the {@link Manager} starts and stops (controller-runtime's `manager.Runnable`): tick
 * loops, pollers, queue consumers, servers.
 *
 * `start(signal)` runs until `signal` aborts and then returns (a promise that settles once the
 * runnable has stopped). A leader-only runnable (`leaderOnly`, the default) starts each time this
 * replica starts leading, after the required informers synced, and its signal aborts when leadership
 * is lost or at shutdown; others start with the Manager and stop at shutdown. A `start` that throws or
 * rejects while its signal is not aborted fails the component ({@link Manager.done} resolves with 1),
 * like a controller-runtime runnable returning an error.
 */
export interface Runnable {
  /** Name for logs. */
  name: string;
  /** Run only while leading (default true). */
  leaderOnly?: boolean;
  start(signal: AbortSignal): Promise<void> | void;
}

/**
 * Wires a component together, like controller-runtime's manager:
 *
 * - one {@link KubeClient} (`client`; `leaderClient` refuses writes unless leading), an
 *   {@link EventRecorder} (`events`) on a client and rate budget of its own, one clock, a logger, a
 *   metrics registry and the {@link ProbeServer};
 * - {@link Runnable}s ({@link add}): leader-only ones run while this replica leads, the others always;
 * - informers run on every replica from {@link start}; controllers start only while this replica
 *   leads (or always, with `--leader-elect=false` or dry run) and after the required informers synced;
 *   on losing the Lease they pause at once and the replica campaigns again;
 * - `/healthz`: event loop alive and no informer stalled; `/readyz`: every required informer synced,
 *   plus checks added by the component, and not shutting down;
 * - {@link shutdown} (SIGTERM/SIGINT through `runComponent`): readiness fails, runnables stop,
 *   queues stop accepting work and drain (at most `drainTimeoutMs`), the Lease is released, pending
 *   Events flushed, informers stopped, servers closed;
 * - {@link standalone} (no cluster access): none of the Kubernetes parts exist; see there.
 */
export class Manager {
  readonly component: string;
  readonly logger: Logger;
  readonly metrics: ComponentMetrics;
  readonly clock: Clock;
  /**
   * True when this Manager runs without cluster access ({@link ManagerOptions.standalone}): there is no
   * Kubernetes client, so {@link client}, {@link leaderClient}, {@link events}, {@link eventsClient} and
   * {@link informer} throw; there is no Lease, so leader election is off and this replica acts as the
   * leader (leader-only runnables run, as with `--leader-elect=false`); `/healthz` and `/readyz` hold
   * only the component's checks and the shutdown check (no informer checks).
   */
  readonly standalone: boolean;
  private readonly kube?: {
    client: KubeClient;
    leaderClient: KubeClient;
    events: EventRecorder;
    eventsClient: KubeClient;
  };
  readonly probes: ProbeServer;
  /** Lease identity of this replica. */
  readonly identity: string;
  private readonly informers: Array<{
    inf: Informer<KubeObject>;
    optional: boolean;
  }> = [];
  private readonly controllers: Controller[] = [];
  private readonly runnables: Array<{ r: Runnable; run?: Promise<void>; abort?: AbortController }> = [];
  private exitCode?: number;
  private resolveDone!: (code: number) => void;
  /**
   * Resolves with an exit code when the component asks to end ({@link requestExit}) or a runnable
   * failed (1). {@link runComponent} then shuts down and exits with that code.
   */
  readonly done: Promise<number> = new Promise((r) => (this.resolveDone = r));
  private elector?: LeaderElector;
  private electorAbort?: AbortController;
  private electorRun?: Promise<void>;
  private leading = false;
  private leadSignal?: AbortSignal;
  private started = false;
  private stopping = false;
  private stopped?: Promise<void>;
  private startedHooks: Array<(signal: AbortSignal) => void> = [];
  private stoppedHooks: Array<() => void> = [];
  private shutdownHooks: Array<() => Promise<void> | void> = [];
  private addresses?: ListeningAddresses;

  constructor(private readonly opts: ManagerOptions) {
    this.component = opts.component;
    this.clock = opts.clock ?? realClock;
    this.logger = opts.logger ?? createLogger({ component: opts.component, level: opts.config.logLevel });
    this.metrics = opts.metrics ?? new ComponentMetrics(opts.component);
    this.identity = opts.identity ?? defaultIdentity();
    this.standalone = opts.standalone ?? false;
    if (!this.standalone) {
      const client = new KubeClient({
        kubeConfig: opts.kubeConfig ?? loadClusterKubeConfig(opts.config.kubeconfig),
        component: opts.component,
        metrics: this.metrics,
        logger: this.logger,
        qps: opts.qps,
        burst: opts.burst,
        fieldManager: opts.fieldManager ?? `kubeaws-${opts.component}`,
      });
      const eventsClient = new KubeClient({
        kubeConfig: client.kubeConfig,
        component: opts.component,
        metrics: this.metrics,
        logger: this.logger,
        qps: opts.eventQps ?? 50,
        burst: opts.eventBurst ?? 100,
        fieldManager: opts.fieldManager ?? `kubeaws-${opts.component}`,
      });
      this.kube = {
        client,
        leaderClient: client.withWriteGuard(() => this.isLeader()),
        eventsClient,
        events: new EventRecorder({
          client: eventsClient,
          budget: opts.eventBudget,
          reportingController: opts.reportingController ?? `kubeaws.io/${opts.component}`,
          reportingInstance: this.identity,
          dryRun: opts.dryRun,
          clock: this.clock,
          logger: this.logger,
          metrics: this.metrics,
        }),
      };
    }
    this.probes = new ProbeServer({
      metricsBindAddress: opts.config.metricsBindAddress,
      healthProbeBindAddress: opts.config.healthProbeBindAddress,
      registry: this.metrics.registry,
      logger: this.logger,
    });
    if (!this.standalone) {
      this.probes.addHealthzCheck('informers', () => {
        const stalled = this.informers.filter((i) => i.inf.isStalled()).map((i) => i.inf.name);
        return stalled.length ? `informer(s) stalled: ${stalled.join(', ')}` : true;
      });
      this.probes.addReadyzCheck('informers-synced', () => {
        const pending = this.informers.filter((i) => !i.optional && !i.inf.hasSynced()).map((i) => i.inf.name);
        return pending.length ? `informer(s) not synced: ${pending.join(', ')}` : true;
      });
    }
    this.probes.addReadyzCheck('shutdown', () => (this.stopping ? 'shutting down' : true));
  }

  /** The Kubernetes parts; throws in {@link standalone} mode, naming what was asked for. */
  private cluster(what: string): NonNullable<Manager['kube']> {
    if (!this.kube)
      throw new Error(`${this.component} runs without cluster access (standalone): the Manager has no ${what}`);
    return this.kube;
  }

  /** Client for reads and writes (never guarded). Throws in {@link standalone} mode. */
  get client(): KubeClient {
    return this.cluster('Kubernetes client').client;
  }

  /** Client whose writes throw NotLeaderError unless this replica currently leads. Throws in {@link standalone} mode. */
  get leaderClient(): KubeClient {
    return this.cluster('Kubernetes client').leaderClient;
  }

  /** The Event recorder (see {@link ManagerOptions.eventQps}). Throws in {@link standalone} mode. */
  get events(): EventRecorder {
    return this.cluster('Event recorder').events;
  }

  /** The client the Event recorder writes through (own rate limit). Throws in {@link standalone} mode. */
  get eventsClient(): KubeClient {
    return this.cluster('Kubernetes client').eventsClient;
  }

  /** True while this replica may write: it holds the Lease (or leader election is off / dry run). */
  isLeader(): boolean {
    if (this.elector) return this.leading && this.elector.isLeader();
    return this.leading;
  }

  /** The listening addresses of the probe and metrics servers (after {@link start}). */
  get listening(): ListeningAddresses | undefined {
    return this.addresses;
  }

  /**
   * Creates an informer on the manager's client, clock, logger and metrics. Started by {@link start},
   * or at once when the manager already runs. Throws in {@link standalone} mode.
   */
  informer<T extends KubeObject>(
    opts: Omit<InformerOptions<T>, 'client' | 'clock' | 'logger' | 'metrics'> & ManagedInformerOptions,
  ): Informer<T> {
    const { optional, ...rest } = opts;
    const inf = new Informer<T>({
      ...rest,
      client: this.cluster(`Kubernetes client for the informer of ${opts.name ?? opts.path}`).client,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.informers.push({
      inf: inf as unknown as Informer<KubeObject>,
      optional: optional ?? false,
    });
    if (this.started && !this.stopping) inf.start();
    return inf;
  }

  /** Stops an informer and forgets it (e.g. a CRD that disappeared). */
  async removeInformer<T extends KubeObject>(inf: Informer<T>): Promise<void> {
    const i = this.informers.findIndex((x) => x.inf === (inf as unknown));
    if (i >= 0) this.informers.splice(i, 1);
    await inf.stop();
  }

  /**
   * Creates a controller on the manager's clock, logger and metrics. Its `waitFor` defaults to every
   * required (non-optional) informer registered when the controller starts.
   */
  controller(opts: Omit<ControllerOptions, 'clock' | 'logger' | 'metrics'>): Controller {
    const c = new Controller({
      ...opts,
      waitFor: opts.waitFor ?? [
        {
          hasSynced: () => this.requiredSynced(),
          waitForSync: (s) => this.waitRequiredSynced(s),
        },
      ],
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.controllers.push(c);
    if (this.leading && this.leadSignal) void c.start(this.leadSignal);
    return c;
  }

  /**
   * Adds a {@link Runnable}. Started by {@link start} (leader-only ones with leadership), or at once
   * when the manager already runs (and leads, for leader-only ones).
   */
  add(r: Runnable): void {
    const entry: (typeof this.runnables)[number] = { r };
    this.runnables.push(entry);
    if (this.stopping) return;
    if ((r.leaderOnly ?? true) ? this.leading && this.leadSignal : this.started) {
      this.startRunnable(entry, this.leadSignal);
    }
  }

  /**
   * Ends the component with `code` (e.g. a `--once` run that finished): {@link done} resolves and
   * {@link runComponent} shuts down gracefully. The first code wins.
   */
  requestExit(code: number): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = code;
    this.resolveDone(code);
  }

  private startRunnable(entry: (typeof this.runnables)[number], parent?: AbortSignal): void {
    if (entry.run) return;
    const ac = new AbortController();
    entry.abort = ac;
    parent?.addEventListener('abort', () => ac.abort(), { once: true });
    const leaderOnly = entry.r.leaderOnly ?? true;
    entry.run = (async () => {
      if (leaderOnly && !(await this.waitRequiredSynced(ac.signal))) return;
      this.logger.debug({ runnable: entry.r.name, leaderOnly }, 'runnable starting');
      await entry.r.start(ac.signal);
    })()
      .catch((err) => {
        if (ac.signal.aborted) return;
        this.logger.error({ err, runnable: entry.r.name }, 'runnable failed; stopping the component');
        this.requestExit(1);
      })
      .finally(() => {
        entry.run = undefined;
        entry.abort = undefined;
      });
  }

  private async stopRunnables(filter: (r: Runnable) => boolean, timeoutMs: number): Promise<void> {
    const runs: Promise<void>[] = [];
    for (const e of this.runnables) {
      if (!e.run || !filter(e.r)) continue;
      e.abort?.abort();
      runs.push(e.run);
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(runs), new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    if (t) clearTimeout(t);
  }

  /** Resolves true once every required (non-optional) informer has synced; false when `signal` aborted first. */
  waitForCacheSync(signal?: AbortSignal): Promise<boolean> {
    return this.waitRequiredSynced(signal);
  }

  /** Declares a controller ({@link ControllerBuilder}): `mgr.builder('name').for(...).owns(...).complete(reconcile)`. */
  builder(name: string): ControllerBuilder {
    return new ControllerBuilder(this, name);
  }

  private requiredSynced(): boolean {
    return this.informers.every((i) => i.optional || i.inf.hasSynced());
  }

  private async waitRequiredSynced(signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      const pending = this.informers.filter((i) => !i.optional && !i.inf.hasSynced());
      if (pending.length === 0) return true;
      if (!(await pending[0]!.inf.waitForSync(signal))) return false;
    }
  }

  /** Adds a `/healthz` check. */
  addHealthzCheck(name: string, check: HealthCheck): void {
    this.probes.addHealthzCheck(name, check);
  }

  /** Adds a `/readyz` check (e.g. "config-valid"). */
  addReadyzCheck(name: string, check: HealthCheck): void {
    this.probes.addReadyzCheck(name, check);
  }

  /** Runs `fn` whenever this replica starts leading (after controllers were started). */
  onStartedLeading(fn: (signal: AbortSignal) => void): void {
    this.startedHooks.push(fn);
  }

  /** Runs `fn` whenever this replica stops leading. */
  onStoppedLeading(fn: () => void): void {
    this.stoppedHooks.push(fn);
  }

  /** Runs `fn` during shutdown, after controllers drained and before informers stop. */
  onShutdown(fn: () => Promise<void> | void): void {
    this.shutdownHooks.push(fn);
  }

  /**
   * Starts the probe/metrics servers, the informers and leader election (or the controllers directly
   * when leader election is off or in dry run). Resolves with the listening addresses once the
   * servers listen; does not wait for sync or leadership.
   */
  async start(): Promise<ListeningAddresses> {
    if (this.started) return this.addresses ?? {};
    this.started = true;
    this.addresses = await this.probes.start();
    for (const i of this.informers) i.inf.start();
    for (const e of this.runnables) if (!(e.r.leaderOnly ?? true)) this.startRunnable(e);
    const cfg = this.opts.config;
    if (this.standalone) {
      this.logger.info('no cluster access (standalone): no Lease, leader election disabled');
      this.becomeLeader(new AbortController().signal);
    } else if (cfg.leaderElect && !this.opts.dryRun) {
      this.elector = new LeaderElector({
        client: this.cluster('Kubernetes client').client,
        namespace: cfg.leaseNamespace,
        name: cfg.leaseName,
        identity: this.identity,
        leaseDurationMs: this.opts.leaseDurationMs,
        renewDeadlineMs: this.opts.renewDeadlineMs,
        retryPeriodMs: this.opts.retryPeriodMs,
        releaseOnCancel: true,
        logger: this.logger,
        metrics: this.metrics,
        onStartedLeading: (signal) => this.becomeLeader(signal),
        onStoppedLeading: () => this.loseLeadership(),
        onNewLeader: (id) => this.logger.info({ leader: id }, 'observed leader'),
      });
      this.electorAbort = new AbortController();
      this.electorRun = this.elector.run(this.electorAbort.signal);
    } else {
      this.logger.info({ dryRun: !!this.opts.dryRun }, 'leader election disabled; running controllers');
      this.becomeLeader(new AbortController().signal);
    }
    return this.addresses;
  }

  private becomeLeader(signal: AbortSignal): void {
    if (this.stopping) return;
    this.leading = true;
    this.leadSignal = signal;
    for (const c of this.controllers) void c.start(signal);
    for (const e of this.runnables) if (e.r.leaderOnly ?? true) this.startRunnable(e, signal);
    for (const h of this.startedHooks) {
      try {
        h(signal);
      } catch (err) {
        this.logger.error({ err }, 'onStartedLeading hook threw');
      }
    }
  }

  private loseLeadership(): void {
    const was = this.leading;
    this.leading = false;
    this.leadSignal = undefined;
    if (!this.stopping) {
      for (const c of this.controllers) void c.pause();
      void this.stopRunnables((r) => r.leaderOnly ?? true, 5000);
      if (was) this.logger.error('leadership lost; controllers paused, campaigning again');
    }
    for (const h of this.stoppedHooks) {
      try {
        h();
      } catch (err) {
        this.logger.error({ err }, 'onStoppedLeading hook threw');
      }
    }
  }

  /** Graceful shutdown (idempotent; see the class docs). */
  shutdown(): Promise<void> {
    if (!this.stopped) this.stopped = this.doShutdown();
    return this.stopped;
  }

  private async doShutdown(): Promise<void> {
    this.stopping = true;
    // Readiness fails from here on; answers of the probe and metrics servers carry `Connection: close`.
    this.probes.beginDrain();
    const drainMs = this.opts.drainTimeoutMs ?? 30_000;
    this.logger.info({ drainTimeoutMs: drainMs }, 'shutting down');
    const [drained] = await Promise.all([
      Promise.all(this.controllers.map((c) => c.stop(drainMs))),
      this.stopRunnables(() => true, drainMs),
    ]);
    if (drained.some((d) => !d)) this.logger.warn('work queues not drained before the deadline');
    for (const h of this.shutdownHooks) {
      try {
        await h();
      } catch (err) {
        this.logger.error({ err }, 'shutdown hook threw');
      }
    }
    this.electorAbort?.abort();
    await this.electorRun;
    if (!this.elector) this.leading = false;
    if (this.kube) await Promise.race([this.kube.events.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await Promise.all(this.informers.map((i) => i.inf.stop()));
    await this.probes.stop();
    this.logger.info('shutdown complete');
  }
}

/** Passed to the main function of {@link runMain}. */
export interface MainContext {
  /** Aborted on the first SIGTERM or SIGINT. */
  signal: AbortSignal;
  argv: string[];
  env: NodeJS.ProcessEnv;
}

/** Options of {@link runMain} (for tests; defaults fit a container). */
export interface RunMainOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Termination message file; written only when it exists and is writable. Default `/dev/termination-log`. */
  terminationLogPath?: string;
  /** Default `process.exit`. */
  exit?: (code: number) => void;
  /** Default writes to process.stderr. */
  stderr?: (s: string) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
}

/**
 * Runs a component's main function with container-friendly process handling:
 *
 * - SIGTERM / SIGINT abort `ctx.signal` (the main function should then shut down gracefully, e.g.
 *   `runComponent`); a second signal exits with 130 at once;
 * - main resolves: exit with its return value (default 0);
 * - {@link ConfigError}: `error: <message>` on stderr and in the termination log, exit code 2 (main is
 *   expected to parse flags before any API call);
 * - {@link ExitError} (e.g. an invalid configuration file): `error: <message>` on stderr and in the
 *   termination log, no stack trace, exit code `err.exitCode`;
 * - `--help` ({@link HelpDisplayed}): exit 0;
 * - any other error: message on stderr and in the termination log, exit code 1.
 *
 * Resolves with the exit code (after calling `exit`).
 */
export async function runMain(
  main: (ctx: MainContext) => Promise<void | number>,
  opts: RunMainOptions = {},
): Promise<number> {
  const exit = opts.exit ?? ((c: number) => process.exit(c));
  const stderr = opts.stderr ?? ((s: string) => process.stderr.write(s));
  const termPath = opts.terminationLogPath ?? '/dev/termination-log';
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      stderr(`received ${sig} again; exiting now\n`);
      exit(130);
      return;
    }
    ac.abort();
  };
  const handle = opts.handleSignals ?? true;
  if (handle) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const terminationMessage = (msg: string) => {
    try {
      if (fs.existsSync(termPath)) fs.writeFileSync(termPath, msg);
    } catch {
      // not writable: stderr has it
    }
  };
  let code: number;
  try {
    const r = await main({
      signal: ac.signal,
      argv: opts.argv ?? process.argv.slice(2),
      env: opts.env ?? process.env,
    });
    code = typeof r === 'number' ? r : 0;
  } catch (err) {
    if (err instanceof HelpDisplayed) code = 0;
    else if (err instanceof ExitError) {
      const msg = `error: ${err.message}\n`;
      stderr(msg);
      terminationMessage(msg);
      code = err.exitCode;
    } else if (err instanceof ConfigError) {
      const msg = `error: ${err.message}\n`;
      stderr(msg);
      terminationMessage(msg);
      code = 2;
    } else {
      const msg = `error: ${(err as Error)?.stack ?? String(err)}\n`;
      stderr(msg);
      terminationMessage(`error: ${(err as Error)?.message ?? String(err)}\n`);
      code = 1;
    }
  } finally {
    if (handle) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
  exit(code);
  return code;
}
