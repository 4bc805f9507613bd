/**
 * The metrics-adapter as a component of the runtime framework (docs/metrics-adapter.md): its flags
 * (docs/metrics-adapter.md#ma-flags; the shared ones come from the framework) and its setup (`setup.ts`).
 * Every replica serves and collects; nothing is leader-only. Run by `main.ts`; tests start it with
 * `startComponent(metricsAdapter, …)`.
 */
import { ConfigError, defineComponent } from '@kubeaws/runtime';
import { adapterFlags } from './flags';
import { type AdapterConfig, setupAdapter } from './setup';

/** The metrics-adapter component: Events as `kubeaws.io/metrics-adapter`, metrics `kubeaws_metrics_adapter_*`. */
export const metricsAdapter = defineComponent({
  name: 'metrics-adapter',
  description: 'custom.metrics.k8s.io and external.metrics.k8s.io for the HPA, configured by kube-metrics-adapter annotations',
  flags: adapterFlags(),
  configure(values) {
    if (values.minIntervalMs > values.defaultIntervalMs)
      throw new ConfigError('min-collection-interval', String(values.minIntervalMs), `at most --default-collection-interval (${values.defaultIntervalMs}ms)`);
    if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(values.authenticationConfigMap))
      throw new ConfigError('authentication-configmap', values.authenticationConfigMap, 'namespace/name');
    return values;
  },
  setup: (mgr, cfg, { env }) => setupAdapter(mgr, cfg as AdapterConfig, env),
});
