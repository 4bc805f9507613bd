/**
 * One local cluster for the metrics-adapter suites, with what the adapter needs on top of testenv's defaults
 * (all opt-in through StartClusterOptions; docs/metrics-adapter.md#ma-local):
 * - no `--enable-aggregator-routing`, so an APIService can reach the adapter on 127.0.0.1 through a Service of
 *   type ExternalName (`localhost`): Endpoints and EndpointSlices refuse loopback addresses;
 * - the HPA controller syncing every 5 s;
 * - kwok handing out pod IPs inside 127.0.0.0/8, so json-path scrapes reach a local test server and nothing else.
 * The front-proxy flags (`--requestheader-*`, `--proxy-client-*`) are testenv defaults already. Debian's Prometheus
 * is installed here when missing; the suites start their own server on a free loopback port (test/support.ts).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { createGlobalSetup } from '@kubeaws/testenv/src/jest/global-setup';

export const ADAPTER_CLUSTER = {
  apiserverExtraArgs: { 'enable-aggregator-routing': null },
  controllerManagerExtraArgs: { 'horizontal-pod-autoscaler-sync-period': '5s' },
  kwokExtraArgs: { cidr: '127.100.0.0/16' },
};

/** Installs Debian's Prometheus when missing (tools/prometheus/ensure-prometheus.sh), then starts the cluster. */
export default async function globalSetup(): Promise<void> {
  execFileSync('bash', [path.resolve(__dirname, '../../../tools/prometheus/ensure-prometheus.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await createGlobalSetup(ADAPTER_CLUSTER)();
}
