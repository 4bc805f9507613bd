/**
 * jest globalSetup of `image-run`: testenv's local cluster, started with the options a service's image needs to do
 * its job from loopback (docs/images.md). metrics-adapter: no `--enable-aggregator-routing`, so the aggregator
 * reaches its APIService through a Service of type ExternalName (`localhost`) on the adapter's loopback port, as in
 * the package's own integration tests (Endpoints and EndpointSlices refuse loopback addresses). Every other service:
 * testenv's defaults, as for `bundle-smoke`.
 */
import type { StartClusterOptions } from '@kubeaws/testenv';
import { createGlobalSetup } from '../../packages/testenv/src/jest/global-setup';

const CLUSTER: Record<string, StartClusterOptions> = {
  'metrics-adapter': { apiserverExtraArgs: { 'enable-aggregator-routing': null } },
};

export default createGlobalSetup(CLUSTER[process.env.KUBEAWS_SERVICE ?? ''] ?? {});
