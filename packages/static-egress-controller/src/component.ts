/**
 * The static-egress-controller as a component of the runtime framework: its flags
 * (docs/static-egress-controller.md#seg-flags; the shared ones, Lease
 * `kubeaws-static-egress-controller` included, come from the framework), the Manager settings, and its
 * setup: one informer of the labelled ConfigMaps feeding one reconcile key, the reconciler, readiness.
 * Run by `main.ts`; tests start it with `startComponent(staticEgressController, …)`.
 */
import { type Controller, ExitError, type Informer, type KubeObject, defineComponent } from '@kubeaws/runtime';
import { type InputConfigMap, VPC_DISCOVERY_EXIT_CODE, vpcDiscoveryError } from './decide';
import { Ec2 } from './ec2';
import { type EgressConfig, configureEgress, egressFlags } from './flags';
import { EgressMetrics } from './metrics';
import { EgressReconciler } from './reconcile';

/** The one reconcile key: all input feeds one desired set (docs/static-egress-controller.md#seg-coalescing). */
export const RECONCILE_KEY = 'egress';

/** The parts of a running static-egress-controller (the `handle` of its component). */
export interface EgressParts {
  controller: Controller;
  configMaps: Informer<InputConfigMap & KubeObject>;
  reconciler: EgressReconciler;
  ec2: Ec2;
  metrics: EgressMetrics;
}

/** The static-egress-controller component: Events as `kubeaws.io/static-egress-controller`. */
export const staticEgressController = defineComponent({
  name: 'static-egress-controller',
  description: 'Static egress IPs per destination CIDR through NAT gateways with Elastic IPs, make-before-break',
  flags: egressFlags(),
  configure: (values): EgressConfig => {
    const cfg = configureEgress(values);
    // dry run: no Lease, no Kubernetes writes (docs/static-egress-controller.md#seg-dry-run)
    return cfg.dryRun ? { ...cfg, leaderElect: false } : cfg;
  },
  manager: (cfg: EgressConfig) => ({ dryRun: cfg.dryRun, qps: 5, burst: 10 }),
  async setup(mgr, cfg: EgressConfig): Promise<EgressParts> {
    const metrics = new EgressMetrics(mgr.metrics);
    const ec2 = new Ec2({
      clusterId: cfg.clusterId,
      ownerTagKey: cfg.ownerTagKey,
      additionalTags: cfg.additionalTags,
      maxAttempts: cfg.awsMaxAttempts,
      concurrency: cfg.awsConcurrency,
      dryRun: cfg.dryRun,
      logger: mgr.logger,
      metrics,
    });
    if (!cfg.vpcId) {
      // zero or several tagged VPCs stop the start (docs/static-egress-controller.md#seg-vpc)
      let found: string[];
      try {
        found = await ec2.taggedVpcs();
      } catch (err) {
        ec2.client.destroy();
        throw err;
      }
      const problem = vpcDiscoveryError(cfg.ownerTagKey, found);
      if (problem) {
        ec2.client.destroy();
        mgr.logger.error({ operation: 'DescribeVpcs', tag: cfg.ownerTagKey, found }, problem);
        throw new ExitError(problem, VPC_DISCOVERY_EXIT_CODE);
      }
      cfg = { ...cfg, vpcId: found[0]! };
      mgr.logger.info({ vpcId: cfg.vpcId, tag: cfg.ownerTagKey }, 'VPC discovered by tag');
    }
    const path = cfg.namespaces.length === 1 ? `/api/v1/namespaces/${cfg.namespaces[0]}/configmaps` : '/api/v1/configmaps';
    const configMaps = mgr.informer<InputConfigMap & KubeObject>({ path, labelSelector: cfg.configmapSelector, name: 'input-configmaps' });
    const ref: { reconciler?: EgressReconciler } = {};
    const controller = mgr
      .builder('static-egress')
      .watches(configMaps, () => {
        ref.reconciler?.markDirty();
        return [RECONCILE_KEY];
      })
      .withOptions({ workers: 1 })
      .complete(() => reconciler.reconcile());
    const reconciler = new EgressReconciler({ mgr, cfg, ec2, metrics, configMaps: configMaps as never });
    ref.reconciler = reconciler;
    // the first reconcile (and the drift repair chain of requeueAfter) starts with leadership, even with no input
    mgr.onStartedLeading(() => controller.enqueue(RECONCILE_KEY));
    // not ready while the leader's last discovery failed; gaining the Lease does not make a ready replica unready
    mgr.addReadyzCheck('discovery', () =>
      !mgr.isLeader() || reconciler.discoveryError === undefined ? true : `discovery failed: ${reconciler.discoveryError}`,
    );
    mgr.onShutdown(() => ec2.client.destroy());
    return { controller, configMaps, reconciler, ec2, metrics };
  },
});
