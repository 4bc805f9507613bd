/**
 * The node-lifecycle-controller as a component of the runtime framework: its flags and configuration
 * (`config.ts`, docs/node-lifecycle-controller.md#nlc-flags), the Manager settings derived from them,
 * and its setup (`setup.ts`). Run by `main.ts`; tests start it with `startComponent(nodeLifecycleController, ...)`.
 */
import { defineComponent } from '@kubeaws/runtime';
import { type NlcConfig, configureNlc, nlcFlags } from './config';
import { setupNlc } from './setup';

/** The component: Events as `kubeaws.io/node-lifecycle-controller`, metrics `kubeaws_node_lifecycle_controller_*`. */
export const nodeLifecycleController = defineComponent({
  name: 'node-lifecycle-controller',
  description: 'Drains and retires EC2 nodes within the disruption SLA; handles spot interruptions and ASG hooks from SQS',
  flags: nlcFlags,
  configure: (values, env, ctx): NlcConfig => configureNlc(values, env, ctx),
  manager: (cfg: NlcConfig) => ({ qps: cfg.qps, burst: cfg.burst, dryRun: cfg.dryRun }),
  setup: (mgr, cfg: NlcConfig, { env }) => setupNlc(mgr, cfg, env),
});
