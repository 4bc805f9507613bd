/**
 * What the component declares on its Manager (docs/authnz-webhook.md#authnz-config, #authnz-reload,
 * #authnz-listeners, #authnz-tls, #authnz-standalone, #authnz-shutdown): the token pipeline, the SAR policy, the
 * AccessRequest informer (with cluster access), readiness checks, and three Runnables:
 *
 * - `listeners` (every replica): the webhook and access-API listeners; on shutdown they keep serving for
 *   `--shutdown-delay` while `/readyz` already fails, then stop accepting and finish in-flight requests;
 * - `config-reload` (every replica): polls the configuration file's content hash and the TLS files every 10 s;
 *   SIGHUP forces a configuration reload;
 * - `accessrequest-housekeeping` (leader only, with cluster access): expiry, approval timeout, retention.
 *
 * Flags, logger, metrics registry, probes, leader election and the shutdown sequence are the runtime's.
 */
import {
  type Clock,
  type Logger,
  type Manager,
  dropManagedFields,
  objectReference,
  parseBindAddress,
  realClock,
  sleep,
} from '@kubeaws/runtime';
import { AccessApi, type AccessRepo, type EmitEvent } from './access-api.js';
import { Housekeeper, KubeAccessRepo, USER_INDEX, accessRequestsPath } from './access-store.js';
import { Authenticator } from './authenticator.js';
import { type Policy, compilePolicy } from './authorize.js';
import { emergencyAccessSettings } from './cluster-access.js';
import { type AuthnzConfig, ConfigFileError, configContentHash, parseConfig, readConfigFile } from './config.js';
import { DecisionLog } from './decision-log.js';
import { type AccessRequest, StaticGrants } from './grants.js';
import { WebhookMetrics } from './metrics.js';
import { WebhookServer } from './server.js';
import type { AuthnzSettings } from './settings.js';

/** How long in-flight requests may take to finish once the listeners stop accepting (ms). */
export const IN_FLIGHT_GRACE_MS = 10_000;

/** The listening addresses once the `listeners` Runnable has bound them. */
export interface AuthnzAddresses {
  webhook: { host: string; port: number };
  access?: { host: string; port: number };
  /** `/metrics` URL (undefined when disabled). */
  metrics?: string;
  /** `/healthz` and `/readyz` URL (undefined when disabled). */
  health?: string;
}

/** The standalone info line (docs/authnz-webhook.md#authnz-standalone). */
const STANDALONE_MESSAGE =
  'standalone mode (no cluster access): emergency access is disabled in the configuration, so no grants are issued, the access API is off and AccessRequests are not read';

/** The parts of the running webhook: the handle of the component (`startComponent(authnzWebhook).handle`). */
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
  /** Set once {@link listening} resolved. */
  addresses!: AuthnzAddresses;
  /** Resolves once the listeners are bound; rejects when one could not be bound (the component then exits 1). */
  readonly listening: Promise<AuthnzAddresses>;
  private resolveListening!: (a: AuthnzAddresses) => void;
  private rejectListening!: (err: unknown) => void;
  private cfg: AuthnzConfig;
  private policyCache: Policy;
  private readonly clock: Clock;

  /**
   * Declares the webhook on `mgr` (the component's `setup`): nothing listens and nothing is read from the
   * cluster until the Manager starts.
   * @throws Error when `settings.access` is set on a standalone Manager (the access API serves AccessRequests,
   *   which live in the cluster only; `configureAuthnz` never sets it then).
   */
  constructor(
    private readonly mgr: Manager,
    private readonly settings: AuthnzSettings,
  ) {
    if (settings.access && mgr.standalone)
      throw new Error('the access API needs cluster access (kube): AccessRequests live in the cluster');
    this.listening = new Promise<AuthnzAddresses>((resolve, reject) => {
      this.resolveListening = resolve;
      this.rejectListening = reject;
    });
    this.listening.catch(() => {}); // the Runnable's failure ends the component; awaiting is optional
    const cfg = settings.initialConfig;
    this.clock = mgr.clock;
    this.logger = mgr.logger;
    this.metrics = new WebhookMetrics(mgr.metrics);
    this.cfg = cfg;
    this.policyCache = compilePolicy(cfg);
    this.decisionLog = new DecisionLog(this.logger, this.clock, this.metrics);
    this.decisionLog.mode = cfg.logging.decisions;
    let emit: EmitEvent | undefined;
    if (!mgr.standalone) {
      const namespace = cfg.emergencyAccess.namespace;
      const informer = mgr.informer<AccessRequest & { metadata: { name?: string } }>({
        path: accessRequestsPath(namespace),
        name: 'accessrequests.authnz.kubeaws.io',
        transform: dropManagedFields,
        indexers: { [USER_INDEX]: (o) => (o.spec?.user ? [o.spec.user] : []) },
      });
      const repo = new KubeAccessRepo(mgr.client, informer, namespace);
      this.repo = repo;
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
        intervalMs: settings.housekeepingIntervalMs,
      });
    } else {
      // Standalone: emergency access is disabled (checked in configureAuthnz), so no grant can exist.
      this.authenticator = new Authenticator({
        config: cfg,
        clock: this.clock,
        logger: this.logger,
        metrics: this.metrics,
        grants: new StaticGrants([], true),
      });
    }
    const access =
      settings.access && this.repo
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
      maxRequestBytes: settings.maxRequestBytes,
      access,
    });
    // docs/authnz-webhook.md#authnz-health; the Manager adds informer sync and the shutdown check
    mgr.addReadyzCheck('config', () => (this.cfg ? true : 'configuration not loaded'));
    mgr.addReadyzCheck('listeners', () => (this.addresses ? true : 'listeners not bound yet (TLS files loading)'));
    mgr.addReadyzCheck('issuers', () => {
      const p = this.authenticator.readinessProblems();
      return p.length ? p.join('; ') : true;
    });
    this.metrics.configReloads.inc({ result: 'success' });
    this.metrics.configLastSuccess.set(this.clock.now() / 1000);
    if (mgr.standalone) this.logger.info({ config: settings.config }, STANDALONE_MESSAGE);
    if (!settings.webhook.tls)
      this.logger.warn('the webhook listener serves plain HTTP on loopback (--insecure-loopback-webhook)');
    mgr.add({ name: 'listeners', leaderOnly: false, start: (signal) => this.serve(signal) });
    mgr.add({ name: 'config-reload', leaderOnly: false, start: (signal) => this.pollReload(signal) });
    const housekeeper = this.housekeeper;
    if (housekeeper) mgr.add({ name: 'accessrequest-housekeeping', start: (signal) => housekeeper.run(signal) });
  }

  /** The configuration in use. */
  get config(): AuthnzConfig {
    return this.cfg;
  }

  /**
   * The `listeners` Runnable: binds the webhook and access-API listeners, serves until `signal` aborts (the
   * Manager's shutdown, which has already failed `/readyz`), keeps serving for `--shutdown-delay`, then stops
   * accepting, lets in-flight requests finish (at most {@link IN_FLIGHT_GRACE_MS}) and closes
   * (docs/authnz-webhook.md#authnz-shutdown).
   * @throws Error when a listener cannot be bound (the component exits 1).
   */
  private async serve(signal: AbortSignal): Promise<void> {
    const s = this.settings;
    try {
      const wb = parseBindAddress(s.webhook.bindAddress);
      if (!wb) throw new Error('--webhook-bind-address must not be 0');
      const wa = await this.server.listenWebhook({ host: wb.host, port: wb.port, tls: s.webhook.tls });
      const addresses: AuthnzAddresses = { webhook: { host: wa.address, port: wa.port } };
      const ab = s.access && parseBindAddress(s.access.bindAddress);
      if (s.access && ab) {
        const aa = await this.server.listenAccess({ host: ab.host, port: ab.port, tls: s.access.tls });
        addresses.access = { host: aa.address, port: aa.port };
      }
      addresses.metrics = this.mgr.listening?.metrics?.url;
      addresses.health = this.mgr.listening?.health?.url;
      this.addresses = addresses;
    } catch (err) {
      await this.server.close(0);
      this.rejectListening(err);
      throw err;
    }
    this.logger.info(
      { addresses: this.addresses, issuers: this.cfg.authentication.issuers.map((i) => i.name) },
      'authnz-webhook started',
    );
    this.resolveListening(this.addresses);
    await new Promise<void>((r) => {
      if (signal.aborted) r();
      else signal.addEventListener('abort', () => r(), { once: true });
    });
    const delayMs = s.shutdownDelay;
    this.server.beginDrain();
    this.logger.info({ delayMs }, 'shutdown: readiness failing, serving until the delay passes (answers carry Connection: close)');
    if (delayMs > 0) await sleep(realClock, delayMs);
    await this.server.close(IN_FLIGHT_GRACE_MS);
    this.authenticator.stop();
    this.logger.info('authnz-webhook stopped');
  }

  /**
   * The `config-reload` Runnable (docs/authnz-webhook.md#authnz-reload, #authnz-tls): every `reloadIntervalMs`
   * re-reads the configuration ({@link reload}) and the TLS files and refreshes the key-store and grant gauges;
   * SIGHUP forces a configuration reload while it runs. Returns once `signal` aborted and a poll in progress
   * finished.
   */
  private async pollReload(signal: AbortSignal): Promise<void> {
    const onHup = () => void this.reload(true);
    process.on('SIGHUP', onHup);
    try {
      while (await sleep(realClock, this.settings.reloadIntervalMs, signal)) {
        await this.reload();
        this.server.reloadTls();
        for (const k of this.authenticator.keyStores()) k.updateGauges();
        this.housekeeper?.updateGauge();
      }
    } finally {
      process.off('SIGHUP', onHup);
    }
  }

  /**
   * Re-reads the configuration file (docs/authnz-webhook.md#authnz-reload); a changed valid file is swapped in
   * atomically (in-flight requests finish on the old snapshot), an invalid one is rejected, logged and counted
   * while the old one stays. In standalone mode a file that enables emergency access is rejected the same way
   * (#authnz-standalone).
   * @param force reload even when the content hash did not change (SIGHUP)
   * @returns `reloaded`, `unchanged` or `rejected`; never throws
   */
  async reload(force = false): Promise<'reloaded' | 'unchanged' | 'rejected'> {
    const path = this.settings.config;
    let text: string;
    try {
      text = readConfigFile(path);
    } catch (err) {
      this.metrics.configReloads.inc({ result: 'failure' });
      this.logger.error(
        { error: (err as Error).message },
        'configuration file unreadable; keeping the previous configuration',
      );
      return 'rejected';
    }
    // the common case: the file in use, unchanged; YAML parsing and validation run only for new content
    if (!force && configContentHash(text) === this.cfg.contentHash) return 'unchanged';
    let next: AuthnzConfig;
    try {
      next = parseConfig(text, path);
    } catch (err) {
      this.metrics.configReloads.inc({ result: 'failure' });
      const problems = err instanceof ConfigFileError ? err.problems : [(err as Error).message];
      this.logger.error({ problems }, 'configuration rejected; keeping the previous configuration');
      return 'rejected';
    }
    const needsCluster = emergencyAccessSettings(next);
    if (this.mgr.standalone && needsCluster.length) {
      this.metrics.configReloads.inc({ result: 'failure' });
      this.logger.error(
        { settings: needsCluster },
        'configuration rejected: emergency access needs cluster access, and this process runs standalone (restart it with --kubeconfig); keeping the previous configuration',
      );
      return 'rejected';
    }
    if (next.emergencyAccess.namespace !== this.cfg.emergencyAccess.namespace && !this.mgr.standalone)
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
}
