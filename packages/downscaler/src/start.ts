/**
 * Starts the downscaler in the current process: the runtime {@link Manager} (client with the PATCH rate
 * limit and field manager, informers, leader election on Lease `kubeaws-downscaler`, probes, metrics)
 * plus the {@link Downscaler}. Used by `main.ts` and by tests, which inject a clock, settings and a
 * kubeconfig.
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
import { Downscaler } from './controller';
import { LEASE_NAME, type Settings, defaultSettings } from './settings';
import { PINNED_TZDATA_VERSION, dropUnevaluableZones } from './zones';
import { runtimeTzdataVersion } from './tz';

/** Component name: metric prefix `kubeaws_downscaler_`, log `component`, User-Agent. */
export const COMPONENT = 'downscaler';
/** Component version reported in `build_info`. */
export const VERSION = '0.1.0';

/** Options of {@link startDownscaler}. */
export interface StartDownscalerOptions {
  /** Cluster access; default: loaded from `shared.kubeconfig` (or the default loading rules). */
  kubeConfig?: KubeConfig;
  /** Settings of spec §2.1; missing ones take their defaults. */
  settings?: Partial<Settings>;
  /** Shared runtime flags; missing ones take their defaults. */
  shared?: Partial<SharedConfig>;
  /** Decision time; default the real clock. */
  clock?: Clock;
  /** Lease identity and Events' reportingInstance; default `POD_NAME`, else `<hostname>_<uuid>`. */
  identity?: string;
  logger?: Logger;
  logDestination?: LoggerOptions['destination'];
  metrics?: ComponentMetrics;
  processMetrics?: boolean;
  /** Leader-election timings in ms (defaults 15 000 / 10 000 / 2 000). */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Write workers; default 4. */
  workers?: number;
}

/** A running downscaler. */
export interface DownscalerHandle {
  manager: Manager;
  downscaler: Downscaler;
  metrics: ComponentMetrics;
  settings: Settings;
  addresses: ListeningAddresses;
  isLeader(): boolean;
  /** Resolves once the required informers have synced. */
  synced(): Promise<void>;
  /** Graceful stop: drain writes, release the Lease, flush Events, stop informers and servers. */
  stop(): Promise<void>;
}

/** Default shared runtime configuration (as `sharedFlags` defaults it). */
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

/** Builds and starts the downscaler; resolves once the probe and metrics servers listen. */
export async function startDownscaler(opts: StartDownscalerOptions = {}): Promise<DownscalerHandle> {
  const settings: Settings = { ...defaultSettings(), ...opts.settings };
  const shared: SharedConfig = { ...defaultSharedConfig(), ...opts.shared };
  const logger =
    opts.logger ?? createLogger({ component: COMPONENT, level: shared.logLevel, destination: opts.logDestination });
  const metrics = opts.metrics ?? new ComponentMetrics(COMPONENT, { processMetrics: opts.processMetrics ?? true });
  const dropped = dropUnevaluableZones();
  if (dropped.length) {
    logger.warn(
      { zones: dropped, pinned: PINNED_TZDATA_VERSION, runtime: runtimeTzdataVersion() },
      `the runtime's tz database cannot evaluate ${dropped.length} allowed zone name(s); they are rejected as unknown`,
    );
  }
  for (const s of settings.shadowed) logger.info({ reason: 'Shadowed' }, s);
  const manager = new Manager({
    component: COMPONENT,
    config: shared,
    kubeConfig: opts.kubeConfig,
    identity: opts.identity,
    dryRun: settings.dryRun,
    qps: settings.qps,
    burst: settings.burst,
    fieldManager: settings.fieldManager,
    reportingController: 'kubeaws.io/downscaler',
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    logger,
    metrics,
  });
  const downscaler = new Downscaler({ manager, settings, clock: opts.clock, workers: opts.workers, version: VERSION });
  logger.info(
    {
      settings: {
        intervalMs: settings.intervalMs,
        dryRun: settings.dryRun,
        once: settings.once,
        namespaces: settings.namespaces,
        includeResources: [...settings.includeResources],
        excludeNamespaces: settings.excludeNamespaces.map((r) => r.source),
        excludeDeployments: settings.excludeNames.map((r) => r.source),
        matchingLabels: settings.matchingLabels.map((r) => r.source),
        explicitInclude: settings.explicitInclude,
        restoreExcluded: settings.restoreExcluded,
        flags: Object.fromEntries(Object.entries(settings.flagScope).map(([k, v]) => [k, v?.source])),
        env: Object.fromEntries(Object.entries(settings.envScope).map(([k, v]) => [k, v?.source])),
      },
      tzdata: runtimeTzdataVersion(),
      allowListTzdata: PINNED_TZDATA_VERSION,
      leaderElect: shared.leaderElect && !settings.dryRun,
      lease: `${shared.leaseNamespace}/${shared.leaseName}`,
      identity: manager.identity,
    },
    'starting downscaler',
  );
  const addresses = await manager.start();
  downscaler.start();
  return {
    manager,
    downscaler,
    metrics,
    settings,
    addresses,
    isLeader: () => manager.isLeader(),
    synced: () => downscaler.waitForSync(),
    stop: async () => {
      downscaler.stop();
      await manager.shutdown();
    },
  };
}
