/**
 * Starts the pdb-controller in the current process: the runtime {@link Manager} (client, informers,
 * leader election, Events, probes and metrics) plus the {@link PdbController}. Used by `main.ts` and
 * by tests, which inject a clock, settings and a kubeconfig.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  type Clock,
  ComponentMetrics,
  type ListeningAddresses,
  type Logger,
  type LoggerOptions,
  Manager,
  type SharedConfig,
  createLogger,
} from '@kubeaws/runtime';
import { parseSettings, type Settings } from './config';
import { type OwnPod, PdbController } from './controller';
import { LEASE_NAME } from './flags';

/** Component name: metric prefix `kubeaws_pdb_controller_`, log `component`, User-Agent. */
export const COMPONENT = 'pdb-controller';
/** `reportingController` of the controller's Events (spec §5). */
export const REPORTING_CONTROLLER = 'kubeaws.io/pdb-controller';

/** Options of {@link startPdbController}. */
export interface StartPdbControllerOptions {
  /** Cluster access; default: loaded from `shared.kubeconfig` (or the default loading rules). */
  kubeConfig?: KubeConfig;
  /** Settings of spec §2.1; missing ones take their defaults. */
  settings?: Partial<Settings>;
  /** Shared runtime flags; missing ones take their defaults (leader election on, Lease `kubeaws-pdb-controller`). */
  shared?: Partial<SharedConfig>;
  /** Decision time and TTL timers; default the real clock. */
  clock?: Clock;
  /** Lease identity and Events' reportingInstance; default `POD_NAME`, else `<hostname>_<uuid>`. */
  identity?: string;
  /** The controller's own Pod, subject of `RolloutsUnavailable` Events. */
  pod?: OwnPod;
  /** Logger; default a JSON logger at `shared.logLevel` writing to `logDestination` (default stdout). */
  logger?: Logger;
  logDestination?: LoggerOptions['destination'];
  /** Metrics registry; default a new one (with process metrics unless `processMetrics` is false). */
  metrics?: ComponentMetrics;
  processMetrics?: boolean;
  /** Leader-election timings in ms (defaults 15 000 / 10 000 / 2 000). */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Rollout API discovery retry interval; default 5 min. */
  rolloutsRetryMs?: number;
  /** Reconcile workers; default 4. */
  workers?: number;
}

/** A running pdb-controller. */
export interface PdbControllerHandle {
  manager: Manager;
  controller: PdbController;
  metrics: ComponentMetrics;
  settings: Settings;
  /** Listening addresses of `/metrics` and `/healthz` + `/readyz`. */
  addresses: ListeningAddresses;
  /** True while this replica may write (it holds the Lease, or leader election is off). */
  isLeader(): boolean;
  /** Resolves once the Deployment, StatefulSet and PDB informers have synced. */
  synced(): Promise<void>;
  /** Graceful stop: drain, release the Lease, flush Events, stop informers and servers. */
  stop(): Promise<void>;
}

/** Default shared runtime configuration of the pdb-controller (as `sharedFlags` defaults it). */
export function defaultSharedConfig(env: NodeJS.ProcessEnv = process.env): SharedConfig {
  return {
    kubeconfig: '',
    leaderElect: true,
    leaseName: LEASE_NAME,
    leaseNamespace: env.POD_NAMESPACE || 'kube-system',
    metricsBindAddress: ':8080',
    healthProbeBindAddress: ':8081',
    logLevel: 'info',
  };
}

/** Default settings of spec §2.1. */
export function defaultSettings(): Settings {
  const r = parseSettings({});
  if (!r.ok) throw new Error(`default settings do not parse: ${JSON.stringify(r.errors)}`);
  return r.settings;
}

/** Builds and starts the pdb-controller; resolves once the probe and metrics servers listen. */
export async function startPdbController(opts: StartPdbControllerOptions = {}): Promise<PdbControllerHandle> {
  const settings: Settings = { ...defaultSettings(), ...opts.settings };
  const shared: SharedConfig = { ...defaultSharedConfig(), ...opts.shared };
  const logger =
    opts.logger ?? createLogger({ component: COMPONENT, level: shared.logLevel, destination: opts.logDestination });
  const metrics = opts.metrics ?? new ComponentMetrics(COMPONENT, { processMetrics: opts.processMetrics ?? true });
  const manager = new Manager({
    component: COMPONENT,
    config: shared,
    kubeConfig: opts.kubeConfig,
    identity: opts.identity,
    dryRun: settings.dryRun,
    qps: settings.qps,
    burst: settings.burst,
    fieldManager: settings.fieldManager,
    reportingController: REPORTING_CONTROLLER,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    logger,
    metrics,
  });
  const controller = new PdbController({
    manager,
    settings,
    clock: opts.clock,
    pod: opts.pod,
    rolloutsRetryMs: opts.rolloutsRetryMs,
    workers: opts.workers,
  });
  manager.addReadyzCheck('config', () => true);
  logger.info(
    {
      settings: { ...settings, excludeNamespaces: settings.excludeNamespaces.map((r) => r.source) },
      leaderElect: shared.leaderElect && !settings.dryRun,
      lease: `${shared.leaseNamespace}/${shared.leaseName}`,
      identity: manager.identity,
    },
    'starting pdb-controller',
  );
  const addresses = await manager.start();
  controller.start();
  const informers = [controller.pdbInformer, controller.informer('Deployment')!, controller.informer('StatefulSet')!];
  return {
    manager,
    controller,
    metrics,
    settings,
    addresses,
    isLeader: () => manager.isLeader(),
    synced: async () => {
      for (const inf of informers) await inf.waitForSync();
    },
    stop: async () => {
      controller.stop();
      await manager.shutdown();
    },
  };
}
