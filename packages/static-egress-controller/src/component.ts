/**
 * The static-egress-controller as a component of the runtime framework: its flags
 * (docs/static-egress-controller.md#seg-flags; the shared ones, Lease
 * `kubeaws-static-egress-controller` included, come from the framework), the Manager settings, and its
 * setup: the informers of the labelled ConfigMaps (all namespaces, or one per `--namespace`) feeding one
 * reconcile key, the reconciler, readiness.
 * Run by `main.ts`; tests start it with `startComponent(staticEgressController, …)`.
 */
import { type Controller, ExitError, type Informer, type KubeObject, defineComponent } from '@kubeaws/runtime';
import { type InputConfigMap, VPC_DISCOVERY_EXIT_CODE, vpcDiscoveryError } from './decide';
import { Ec2 } from './ec2';
import { type EgressConfig, configureEgress, egressFlags } from './flags';
import { EgressMetrics } from './metrics';
import { EGRESS_IPS_ANNOTATION, EgressReconciler } from './reconcile';

/** The one reconcile key: all input feeds one desired set (docs/static-egress-controller.md#seg-coalescing). */
export const RECONCILE_KEY = 'egress';

/** An input ConfigMap as the informer caches it ({@link trimInputConfigMap}). */
export type CachedConfigMap = InputConfigMap & KubeObject & { metadata: { resourceVersion?: string; annotations?: Record<string, string> } };

/**
 * The informer transform of the input ConfigMaps: keeps only what the controller reads (namespace, name, uid and
 * resourceVersion for Events and the cache, the `kubeaws.io/egress-ips` annotation, `data`, and the keys of
 * `binaryData` with empty values) and drops the rest (managedFields, other annotations such as a
 * last-applied-configuration copy of the data, labels: the selector is applied by the API server), so the cache
 * of many ConfigMaps stays small (docs/static-egress-controller.md#seg-input).
 */
export function trimInputConfigMap(cm: CachedConfigMap): CachedConfigMap {
  const { namespace, name, uid, resourceVersion, annotations } = cm.metadata;
  const egressIps = annotations?.[EGRESS_IPS_ANNOTATION];
  const out: CachedConfigMap = {
    metadata: {
      namespace, name, uid, resourceVersion,
      ...(egressIps !== undefined ? { annotations: { [EGRESS_IPS_ANNOTATION]: egressIps } } : {}),
    },
  };
  if (cm.data) out.data = cm.data;
  if (cm.binaryData) out.binaryData = Object.fromEntries(Object.keys(cm.binaryData).map((k) => [k, '']));
  return out;
}

/**
 * The collection paths of the input ConfigMaps (docs/static-egress-controller.md#seg-input): every namespace
 * through one cluster-wide list and watch when `--namespace` is empty, else one per listed namespace, so that
 * Roles in those namespaces suffice (docs/static-egress-controller.md#seg-permissions).
 */
export function inputConfigMapPaths(namespaces: readonly string[]): string[] {
  return namespaces.length ? [...new Set(namespaces)].map((ns) => `/api/v1/namespaces/${ns}/configmaps`) : ['/api/v1/configmaps'];
}

/** The parts of a running static-egress-controller (the `handle` of its component). */
export interface EgressParts {
  controller: Controller;
  /** One informer per watched namespace, or one for all namespaces. */
  configMaps: Informer<CachedConfigMap>[];
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
    // zero or several tagged VPCs, or a --vpc-id that does not exist, stop the start
    // (docs/static-egress-controller.md#seg-vpc)
    let found: string[];
    try {
      found = await ec2.taggedVpcs(cfg.vpcId || undefined);
    } catch (err) {
      ec2.client.destroy();
      throw err;
    }
    const problem = vpcDiscoveryError(cfg.ownerTagKey, found, cfg.vpcId || undefined);
    if (problem) {
      ec2.client.destroy();
      mgr.logger.error({ operation: 'DescribeVpcs', tag: cfg.ownerTagKey, vpcId: cfg.vpcId || undefined, found }, problem);
      throw new ExitError(problem, VPC_DISCOVERY_EXIT_CODE);
    }
    if (!cfg.vpcId) {
      cfg = { ...cfg, vpcId: found[0]! };
      mgr.logger.info({ vpcId: cfg.vpcId, tag: cfg.ownerTagKey }, 'VPC discovered by tag');
    }
    const paths = inputConfigMapPaths(cfg.namespaces);
    const configMaps = paths.map((path) =>
      mgr.informer<CachedConfigMap>({
        path,
        labelSelector: cfg.configmapSelector,
        name: paths.length > 1 ? `input-configmaps-${path.split('/')[4]}` : 'input-configmaps',
        transform: trimInputConfigMap,
      }),
    );
    const ref: { reconciler?: EgressReconciler } = {};
    const builder = mgr.builder('static-egress');
    for (const informer of configMaps) {
      builder.watches(informer, () => {
        ref.reconciler?.markDirty();
        return [RECONCILE_KEY];
      });
    }
    const controller = builder.withOptions({ workers: 1 }).complete(() => reconciler.reconcile());
    const reconciler = new EgressReconciler({ mgr, cfg, ec2, metrics, configMaps });
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
