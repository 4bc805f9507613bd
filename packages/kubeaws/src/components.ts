import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A kubeaws component that `kubeaws up` runs as a child process.
 *
 * `main` is the built entry point relative to the repository root (`nx run <name>:build` writes it).
 * `manifests` is the folder whose ServiceAccount and RBAC are applied so the component runs under its own
 * ServiceAccount on a local cluster. `examples` holds the demo workloads applied for it.
 */
export interface ComponentSpec {
  name: string;
  main: string;
  manifests: string;
  examples: string;
  serviceAccount: { namespace: string; name: string };
  /** Extra flags for a local run. */
  args: string[];
  /** Prometheus series summarised in the status view: label → metric name (summed over all series). */
  counters: Record<string, string>;
}

/** Every component `kubeaws up` knows, in start order. */
export const COMPONENTS: ComponentSpec[] = [
  {
    name: 'pdb-controller',
    main: 'dist/packages/pdb-controller/lib/main.js',
    manifests: 'manifests/pdb-controller',
    examples: 'examples/pdb-controller',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-pdb-controller' },
    args: ['--resync-period=1m'],
    counters: {
      leader: 'kubeaws_pdb_controller_leader_election_is_leader',
      'managed PDBs': 'kubeaws_pdb_controller_managed_pdbs',
      created: 'kubeaws_pdb_controller_pdb_writes_total{operation="create",result="success"}',
      updated: 'kubeaws_pdb_controller_pdb_writes_total{operation="apply",result="success"}',
      deleted: 'kubeaws_pdb_controller_pdb_writes_total{operation="delete",result="success"}',
      'invalid input': 'kubeaws_pdb_controller_invalid_input_total',
    },
  },
  {
    name: 'downscaler',
    main: 'dist/packages/downscaler/lib/main.js',
    manifests: 'manifests/downscaler',
    examples: 'examples/downscaler',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-downscaler' },
    // A 10 s evaluation interval so the demo namespace visibly goes down and up every two minutes.
    args: ['--interval=10s', '--include-resources=deployments,statefulsets,cronjobs,horizontalpodautoscalers'],
    counters: {
      leader: 'kubeaws_downscaler_leader_election_is_leader',
      'downscaled now': 'kubeaws_downscaler_downscaled_workloads',
      'scaled down': 'kubeaws_downscaler_scaled_total{direction="down"}',
      'scaled up': 'kubeaws_downscaler_scaled_total{direction="up"}',
      'invalid config': 'kubeaws_downscaler_invalid_config_total',
    },
  },
  {
    // Needs EC2: `kubeaws up` starts moto with a demo VPC (up-egress.ts) and adds the cluster ID, AZ and VPC flags.
    name: 'static-egress-controller',
    main: 'dist/packages/static-egress-controller/lib/main.js',
    manifests: 'manifests/static-egress-controller',
    examples: 'examples/static-egress-controller',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-static-egress-controller' },
    args: ['--debounce=1s', '--poll-interval=2s', '--resync-interval=30s', '--status-configmap=kube-system/static-egress-status'],
    counters: {
      leader: 'kubeaws_static_egress_controller_leader_election_is_leader',
      applied: 'kubeaws_static_egress_controller_cidrs{state="Applied"}',
      pending: 'kubeaws_static_egress_controller_cidrs{state="Pending"}',
      'route changes': 'kubeaws_static_egress_controller_route_changes_total',
      'invalid values': 'kubeaws_static_egress_controller_invalid_values_total',
    },
  },
  {
    // Needs AWS: `kubeaws up` starts moto and two demo nodes backed by moto instances (up-nlc.ts) and adds the
    // queue, region and demo-scale SLA flags.
    name: 'node-lifecycle-controller',
    main: 'dist/packages/node-lifecycle-controller/lib/main.js',
    manifests: 'manifests/node-lifecycle-controller',
    examples: 'examples/node-lifecycle-controller',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-node-lifecycle-controller' },
    args: [],
    counters: {
      leader: 'kubeaws_node_lifecycle_controller_leader_election_is_leader',
      draining: 'kubeaws_node_lifecycle_controller_nodes{state="draining"}',
      evictions: 'kubeaws_node_lifecycle_controller_evictions_total{result="accepted"}',
      'PDB-blocked': 'kubeaws_node_lifecycle_controller_evictions_total{result="pdb_blocked"}',
      forced: 'kubeaws_node_lifecycle_controller_forced_terminations_total',
      'SQS messages': 'kubeaws_node_lifecycle_controller_sqs_messages_total',
    },
  },
  {
    // Needs SQS and the aggregation layer: `kubeaws up` starts moto with a demo queue, gives the adapter a serving
    // certificate and registers its APIServices through an ExternalName Service (up-ma.ts).
    name: 'metrics-adapter',
    main: 'dist/packages/metrics-adapter/lib/main.js',
    manifests: 'manifests/metrics-adapter',
    examples: 'examples/metrics-adapter',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-metrics-adapter' },
    args: ['--leader-elect=false'],
    counters: {
      HPAs: 'kubeaws_metrics_adapter_hpas',
      sources: 'kubeaws_metrics_adapter_collectors',
      polls: 'kubeaws_metrics_adapter_collections_total',
      'config errors': 'kubeaws_metrics_adapter_config_errors',
    },
  },
  {
    // Needs kube-apiserver to call it: `kubeaws up` starts the local cluster with the shipped apiserver files of
    // manifests/authnz-webhook/apiserver, a serving certificate and a local OIDC issuer for demo people (up-authnz.ts).
    name: 'authnz-webhook',
    main: 'dist/packages/authnz-webhook/lib/main.js',
    manifests: 'manifests/authnz-webhook',
    examples: 'examples/authnz-webhook',
    serviceAccount: { namespace: 'kube-system', name: 'kubeaws-authnz-webhook' },
    args: [],
    counters: {
      leader: 'kubeaws_authnz_webhook_leader_election_is_leader',
      TokenReviews: 'kubeaws_authnz_webhook_tokenreviews_total',
      allowed: 'kubeaws_authnz_webhook_subjectaccessreviews_total{decision="allow"}',
      denied: 'kubeaws_authnz_webhook_subjectaccessreviews_total{decision="deny"}',
    },
  },
];

/** The repository root: the nearest ancestor of `from` holding `nx.json`. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    try {
      fs.accessSync(path.join(dir, 'nx.json'));
      return dir;
    } catch {
      const up = path.dirname(dir);
      if (up === dir) throw new Error(`no nx.json above ${from}: run kubeaws from the kubeaws repository`);
      dir = up;
    }
  }
}
