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
