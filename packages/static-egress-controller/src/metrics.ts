/**
 * The component metrics of docs/static-egress-controller.md#seg-metrics (prefix
 * `kubeaws_static_egress_controller_`); the runtime adds reconcile, queue, informer, leader-election,
 * API-client and process metrics to the same registry.
 */
import type { ComponentMetrics } from '@kubeaws/runtime';

/** The static-egress-controller's metric families. */
export class EgressMetrics {
  readonly lastSync;
  readonly cidrs;
  readonly routes;
  readonly headroom;
  readonly natGateways;
  readonly publicIp;
  readonly invalidValues;
  readonly routeChanges;
  readonly awsRequests;
  readonly awsErrors;
  readonly reconcileDuration;
  readonly reconciles;
  readonly routeTables;
  readonly duplicates;
  /** `kube_static_egress_controller_last_sync_timestamp_seconds`, the upstream name (docs/static-egress-controller.md#seg-metrics). */
  readonly legacyLastSync;

  constructor(m: ComponentMetrics) {
    this.lastSync = m.gauge('last_sync_timestamp_seconds', 'End of the last successful reconcile, Unix seconds');
    this.cidrs = m.gauge('cidrs', 'Desired CIDRs by state', ['state']);
    this.routes = m.gauge('routes', 'Routes of ours present, per route table', ['route_table', 'az']);
    this.headroom = m.gauge('route_table_headroom', 'Route quota minus used weight, per target route table', ['route_table']);
    this.natGateways = m.gauge('nat_gateways', 'NAT gateways of ours by AZ and state', ['az', 'state']);
    this.publicIp = m.gauge('public_ip_info', 'The egress IP set (value 1)', ['az', 'public_ip', 'allocation_id']);
    this.invalidValues = m.counter('invalid_values_total', 'Rejected or warned input values, first sighting', ['namespace', 'reason']);
    this.routeChanges = m.counter('route_changes_total', 'Route mutations', ['action']);
    this.awsRequests = m.counter('aws_requests_total', 'EC2 calls by operation and outcome', ['operation', 'outcome']);
    this.awsErrors = m.counter('aws_errors_total', 'EC2 errors by operation and code', ['operation', 'code']);
    this.reconcileDuration = m.histogram('reconcile_duration_seconds', 'Duration of one reconcile', ['result']);
    this.reconciles = m.counter('reconciles_total', 'Reconciles by result', ['result']);
    this.routeTables = m.gauge('route_tables', 'Selected route tables by state', ['state']);
    this.duplicates = m.gauge('duplicate_resources', 'Surplus EIPs and NAT gateways for one AZ', ['kind']);
    // the upstream controller's name, unprefixed, for existing dashboards and alerts; same value as lastSync.
    // Built with the runtime's own prom-client Gauge class (no second prom-client copy in this package).
    const GaugeClass = this.lastSync.constructor as new (c: { name: string; help: string; registers: unknown[] }) => typeof this.lastSync;
    const legacy = `kube_static_egress_controller_last_sync_timestamp_seconds`;
    this.legacyLastSync =
      (m.registry.getSingleMetric(legacy) as typeof this.lastSync | undefined) ??
      new GaugeClass({ name: legacy, help: 'Alias of kubeaws_static_egress_controller_last_sync_timestamp_seconds (upstream name)', registers: [m.registry] });
  }

  /** Sets the end of the last successful reconcile on both names. */
  setLastSync(seconds: number): void {
    this.lastSync.set(seconds);
    this.legacyLastSync.set(seconds);
  }
}
