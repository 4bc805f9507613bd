/**
 * Wiring of the webhook process (docs/authnz-webhook.md#authnz-config, #authnz-reload, #authnz-listeners, #authnz-tls,
 * #authnz-shutdown): configuration with hot reload (content hash polled every 10 s, SIGHUP forces a reload, invalid
 * files rejected and counted), the token pipeline, the SAR policy, the webhook and access listeners with TLS reload,
 * probes and metrics, the AccessRequest informer and leader-only housekeeping, and the graceful shutdown (readiness
 * fails at once, serving continues for `--shutdown-delay`, then in-flight requests finish).
 */
import { readFileSync } from 'node:fs';
import {
  type Clock,
  type Informer,
  type Logger,
  Manager,
  ProbeServer,
  createLogger,
  dropManagedFields,
  objectReference,
  parseBindAddress,
  realClock,
} from '@kubeaws/runtime';
import type { KubeConfig } from '@kubernetes/client-node';
import { AccessApi, type AccessRepo, type EmitEvent } from './access-api.js';
import { Housekeeper, KubeAccessRepo, USER_INDEX, accessRequestsPath } from './access-store.js';
import { Authenticator } from './authenticator.js';
import { type Policy, compilePolicy } from './authorize.js';
import { ClusterAccessRequired, emergencyAccessSettings } from './cluster-access.js';
import { type AuthnzConfig, ConfigFileError, parseConfig } from './config.js';
import { DecisionLog } from './decision-log.js';
import { type AccessRequest, StaticGrants } from './grants.js';
import { WebhookMetrics } from './metrics.js';
import { type TlsFiles, WebhookServer } from './server.js';

/** Options of {@link AuthnzWebhook.start}. */
export interface AuthnzWebhookOptions {
  /** Configuration file (docs/authnz-webhook.md#authnz-config). */
  configPath: string;
  /** Webhook listener: bind address and TLS (undefined TLS = `--insecure-loopback-webhook`). */
  webhook: { bindAddress: string; tls?: TlsFiles };
  /** Access API listener; undefined = off. Needs `kube`: AccessRequests live in the cluster only. */
  access?: { bindAddress: string; tls: TlsFiles };
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  /** `--max-request-bytes`. */
  maxRequestBytes: number;
  /** `--shutdown-delay` in ms. */
  shutdownDelayMs: number;
  /**
   * Cluster access for AccessRequests (the AccessRequest custom resource, read through an informer and
   * written through kube-apiserver), Leases and Events. Undefined: standalone mode
   * (docs/authnz-webhook.md#authnz-standalone): TokenReview and SubjectAccessReview only, no grants, no
   * access API, no housekeeping; allowed only while the configuration disables emergency access.
   */
  kube?: { kubeConfig?: KubeConfig; kubeconfigPath?: string; leaderElect: boolean; identity?: string };
  clock?: Clock;
  logger?: Logger;
  metrics?: WebhookMetrics;
  /** Config and TLS poll interval (ms); default 10 000. */
  reloadIntervalMs?: number;
  /** Housekeeping pass interval (ms); default 5 000. */
  housekeepingIntervalMs?: number;
}

/** The listening addresses after start. */
export interface AuthnzAddresses {
  webhook: { host: string; port: number };
  access?: { host: string; port: number };
  metrics?: string;
  health?: string;
}

/** A running webhook process. */
export class AuthnzWebhook {
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly server: WebhookServer;
  readonly decisionLog: DecisionLog;
  /** The AccessRequests in the cluster; undefined in standalone mode. */
  readonly repo?: AccessRepo;
  /** AccessRequest housekeeping (leader only); undefined in standalone mode. */
  readonly housekeeper?: Housekeeper;
  addresses!: AuthnzAddresses;
  private cfg: AuthnzConfig;
  private policyCache: Policy;
  private shuttingDown = false;
  private reloadTimer?: NodeJS.Timeout;
  private manager?: Manager;
  private probes?: ProbeServer;
  private informer?: Informer<AccessRequest & { metadata: { name?: string } }>;
  private stopped?: Promise<void>;
  private readonly clock: Clock;

  private constructor(
    private readonly o: AuthnzWebhookOptions,
    cfg: AuthnzConfig,
  ) {
    this.clock = o.clock ?? realClock;
    this.metrics = o.metrics ?? new WebhookMetrics();
    this.logger = o.logger ?? createLogger({ component: 'authnz-webhook' });
    this.cfg = cfg;
    this.policyCache = compilePolicy(cfg);
    this.decisionLog = new DecisionLog(this.logger, this.clock, this.metrics);
    this.decisionLog.mode = cfg.logging.decisions;
    let emit: EmitEvent | undefined;
    if (o.kube) {
      this.manager = new Manager({
        component: 'authnz-webhook',
        config: {
          kubeconfig: o.kube.kubeconfigPath ?? '',
          leaderElect: o.kube.leaderElect,
          leaseName: 'kubeaws-authnz-webhook',
          leaseNamespace: cfg.emergencyAccess.namespace,
          metricsBindAddress: o.metricsBindAddress,
          healthProbeBindAddress: o.healthProbeBindAddress,
          logLevel: 'info',
        },
        kubeConfig: o.kube.kubeConfig,
        identity: o.kube.identity,
        logger: this.logger,
        metrics: this.metrics.base,
        clock: this.clock,
      });
      this.informer = this.manager.informer<AccessRequest & { metadata: { name?: string } }>({
        path: accessRequestsPath(cfg.emergencyAccess.namespace),
        name: 'accessrequests.authnz.kubeaws.io',
        transform: dropManagedFields,
        indexers: { [USER_INDEX]: (o2) => (o2.spec?.user ? [o2.spec.user] : []) },
      });
      const repo = new KubeAccessRepo(this.manager.client, this.informer, cfg.emergencyAccess.namespace);
      this.repo = repo;
      const mgr = this.manager;
      emit = (ar, type, reason, note) => {
        const ref = objectReference(ar as never, 'authnz.kubeaws.io/v1alpha1', 'AccessRequest');
        if (type === 'Warning') mgr.events.warning(ref, reason, 'Access', note);
        else mgr.events.normal(ref, reason, 'Access', note);
      };
      this.authenticator = new Authenticator({
        config: cfg,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        grants: repo,
      });
      this.housekeeper = new Housekeeper({
        repo,
        config: () => this.cfg,
        clock: this.clock,
        logger: this.logger,
        log: this.decisionLog,
        metrics: this.metrics,
        emit,
        intervalMs: o.housekeepingIntervalMs,
      });
    } else {
      // Standalone: emergency access is disabled (checked in start), so no grant can exist.
      this.authenticator = new Authenticator({
        config: cfg,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        grants: new StaticGrants([], true),
      });
    }
    const access =
      o.access && this.repo
        ? new AccessApi({
            repo: this.repo,
            authenticator: this.authenticator,
            config: () => this.cfg,
            clock: this.clock,
            log: this.decisionLog,
            metrics: this.metrics,
            emit,
          })
        : undefined;
    this.server = new WebhookServer({
      authenticator: this.authenticator,
      policy: () => this.policyCache,
      clock: this.clock,
      log: this.decisionLog,
      logger: this.logger,
      metrics: this.metrics,
      maxRequestBytes: o.maxRequestBytes,
      access,
    });
  }

  /**
   * Loads the configuration and starts everything. Without `kube` it starts in standalone mode
   * (docs/authnz-webhook.md#authnz-standalone).
   * @throws ConfigFileError for an invalid configuration file (the process exits 1).
   * @throws ClusterAccessRequired without `kube` when the configuration enables emergency access (the
   *   process exits 2); nothing is listening yet.
   * @throws Error for `access` without `kube` (the access API serves AccessRequests from the cluster).
   */
  static async start(o: AuthnzWebhookOptions): Promise<AuthnzWebhook> {
    const text = readConfigFile(o.configPath);
    const cfg = parseConfig(text, o.configPath);
    if (!o.kube) {
      const settings = emergencyAccessSettings(cfg);
      if (settings.length) throw new ClusterAccessRequired(o.configPath, settings);
      if (o.access) throw new Error('the access API needs cluster access (kube): AccessRequests live in the cluster');
    }
    const app = new AuthnzWebhook(o, cfg);
    await app.run();
    return app;
  }

  /** The configuration in use. */
  get config(): AuthnzConfig {
    return this.cfg;
  }

  private readyChecks(add: (name: string, fn: () => true | string) => void): void {
    add('config', () => (this.cfg ? true : 'configuration not loaded'));
    add('issuers', () => {
      const p = this.authenticator.readinessProblems();
      return p.length ? p.join('; ') : true;
    });
    add('draining', () => (this.shuttingDown ? 'shutting down' : true));
  }

  private async run(): Promise<void> {
    const o = this.o;
    const wb = parseBindAddress(o.webhook.bindAddress);
    if (!wb) throw new Error('--webhook-bind-address must not be 0');
    const wa = await this.server.listenWebhook({ host: wb.host, port: wb.port, tls: o.webhook.tls });
    this.addresses = { webhook: { host: wa.address, port: wa.port } };
    if (o.access) {
      const ab = parseBindAddress(o.access.bindAddress);
      if (ab) {
        const aa = await this.server.listenAccess({ host: ab.host, port: ab.port, tls: o.access.tls });
        this.addresses.access = { host: aa.address, port: aa.port };
      }
    }
    if (this.manager && this.housekeeper) {
      const mgr = this.manager;
      const housekeeper = this.housekeeper;
      this.readyChecks((n, fn) => mgr.addReadyzCheck(n, fn));
      mgr.onStartedLeading((signal) => housekeeper.start(signal));
      const a = await mgr.start();
      this.addresses.metrics = a.metrics?.url;
      this.addresses.health = a.health?.url;
    } else {
      this.probes = new ProbeServer({
        metricsBindAddress: o.metricsBindAddress,
        healthProbeBindAddress: o.healthProbeBindAddress,
        registry: this.metrics.base.registry,
        logger: this.logger,
      });
      this.readyChecks((n, fn) => this.probes!.addReadyzCheck(n, fn));
      const a = await this.probes.start();
      this.addresses.metrics = a.metrics?.url;
      this.addresses.health = a.health?.url;
      this.logger.info(
        { config: o.configPath },
        'standalone mode (no cluster access): emergency access is disabled in the configuration, so no grants are issued, the access API is off and AccessRequests are not read',
      );
    }
    this.metrics.configReloads.inc({ result: 'success' });
    this.metrics.configLastSuccess.set(this.clock.now() / 1000);
    const tick = () => {
      void this.reload().finally(() => {
        this.server.reloadTls();
        for (const k of this.authenticator.keyStores()) k.updateGauges();
        this.housekeeper?.updateGauge();
        if (!this.shuttingDown) {
          this.reloadTimer = setTimeout(tick, o.reloadIntervalMs ?? 10_000);
          this.reloadTimer.unref();
        }
      });
    };
    this.reloadTimer = setTimeout(tick, o.reloadIntervalMs ?? 10_000);
    this.reloadTimer.unref();
    this.logger.info(
      { addresses: this.addresses, issuers: this.cfg.authentication.issuers.map((i) => i.name) },
      'authnz-webhook started',
    );
  }

  /**
   * Re-reads the configuration file; a changed valid file is swapped in atomically (in-flight requests
   * finish on the old snapshot), an invalid one is rejected, logged and counted while the old one stays.
   * In standalone mode a file that enables emergency access is rejected the same way.
   * @returns 'unchanged', 'reloaded' or 'rejected'.
   */
  async reload(force = false): Promise<'unchanged' | 'reloaded' | 'rejected'> {
    let text: string;
    try {
      text = readConfigFile(this.o.configPath);
    } catch (err) {
      this.metrics.configReloads.inc({ result: 'failure' });
      this.logger.error(
        { error: (err as Error).message },
        'configuration file unreadable; keeping the previous configuration',
      );
      return 'rejected';
    }
    let next: AuthnzConfig;
    try {
      next = parseConfig(text, this.o.configPath);
    } catch (err) {
      this.metrics.configReloads.inc({ result: 'failure' });
      const problems = err instanceof ConfigFileError ? err.problems : [(err as Error).message];
      this.logger.error({ problems }, 'configuration rejected; keeping the previous configuration');
      return 'rejected';
    }
    if (!force && next.contentHash === this.cfg.contentHash) return 'unchanged';
    const needsCluster = emergencyAccessSettings(next);
    if (!this.manager && needsCluster.length) {
      this.metrics.configReloads.inc({ result: 'failure' });
      this.logger.error(
        { settings: needsCluster },
        'configuration rejected: emergency access needs cluster access, and this process runs standalone (restart it with --kubeconfig); keeping the previous configuration',
      );
      return 'rejected';
    }
    if (next.emergencyAccess.namespace !== this.cfg.emergencyAccess.namespace && this.manager)
      this.logger.warn(
        { namespace: next.emergencyAccess.namespace },
        'emergencyAccess.namespace changed: takes effect after a restart',
      );
    this.authenticator.reload(next);
    this.policyCache = compilePolicy(next);
    this.decisionLog.mode = next.logging.decisions;
    this.cfg = next;
    this.metrics.configReloads.inc({ result: 'success' });
    this.metrics.configLastSuccess.set(this.clock.now() / 1000);
    this.logger.info({ hash: next.contentHash.slice(0, 12) }, 'configuration reloaded');
    return 'reloaded';
  }

  /** True once shutdown began (readiness fails). */
  get draining(): boolean {
    return this.shuttingDown;
  }

  /**
   * Graceful shutdown (docs/authnz-webhook.md#authnz-shutdown): readiness fails at once; the listeners keep serving for
   * `delayMs` (default `--shutdown-delay`), then stop accepting, finish in-flight requests and close. Idempotent.
   */
  stop(delayMs = this.o.shutdownDelayMs): Promise<void> {
    if (!this.stopped) this.stopped = this.doStop(delayMs);
    return this.stopped;
  }

  private async doStop(delayMs: number): Promise<void> {
    this.shuttingDown = true;
    this.logger.info({ delayMs }, 'shutdown: readiness failing, serving until the delay passes');
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    await this.server.close();
    this.authenticator.stop();
    if (this.manager) await this.manager.shutdown();
    if (this.probes) await this.probes.stop();
    this.logger.info('authnz-webhook stopped');
  }
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, [
      `(file): cannot read (got ${(err as NodeJS.ErrnoException).code ?? 'error'}; expected a readable YAML file)`,
    ]);
  }
}
