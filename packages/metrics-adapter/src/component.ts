/**
 * The metrics-adapter as a component of the runtime framework (docs/metrics-adapter.md): its flags
 * (docs/metrics-adapter.md#ma-flags; the shared ones come from the framework) and its setup (`setup.ts`).
 * Every replica serves and collects; nothing is leader-only. Run by `main.ts`; tests start it with
 * `startComponent(metricsAdapter, …)`.
 */
import * as fs from 'node:fs';
import { ConfigError, defineComponent } from '@kubeaws/runtime';
import { adapterFlags } from './flags';
import { type AdapterConfig, setupAdapter } from './setup';

const readable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The metrics-adapter component: Events as `kubeaws.io/metrics-adapter`, metrics `kubeaws_metrics_adapter_*`. */
export const metricsAdapter = defineComponent({
  name: 'metrics-adapter',
  description: 'custom.metrics.k8s.io and external.metrics.k8s.io for the HPA, configured by kube-metrics-adapter annotations',
  flags: adapterFlags(),
  configure(values) {
    if (values.minIntervalMs > values.defaultIntervalMs)
      throw new ConfigError('min-collection-interval', String(values.minIntervalMs), `at most --default-collection-interval (${values.defaultIntervalMs}ms)`);
    for (const [name, file] of [['requestheader-client-ca-file', values.requestheaderClientCaFile], ['client-ca-file', values.clientCaFile]] as const)
      if (file && !readable(file)) throw new ConfigError(name, file, 'a readable PEM file');
    if (values.shutdownDelayMs >= values.shutdownGracePeriodMs)
      throw new ConfigError('shutdown-delay', `${values.shutdownDelayMs}ms`, `less than --shutdown-grace-period (${values.shutdownGracePeriodMs}ms)`);
    if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(values.authenticationConfigMap))
      throw new ConfigError('authentication-configmap', values.authenticationConfigMap, 'namespace/name');
    return values;
  },
  // The whole SIGTERM sequence (delay, drain, abort polls) fits in --shutdown-grace-period (docs/metrics-adapter.md#ma-shutdown).
  manager: (cfg) => ({ drainTimeoutMs: cfg.shutdownGracePeriodMs }),
  setup: (mgr, cfg, { env }) => setupAdapter(mgr, cfg as AdapterConfig, env),
});
