/**
 * The pdb-controller as a component of the runtime framework: its flags (docs/pdb-controller.md#pdb-flags;
 * the shared ones, Lease `kubeaws-pdb-controller` included, come from the framework), the Manager
 * settings it derives from them, and its setup (`setup.ts`). Run by `main.ts`; tests start it with
 * `startComponent(pdbController, …)`.
 */
import { defineComponent } from '@kubeaws/runtime';
import { settingFlags } from './flags';
import { ownPodFromEnv } from './rollouts';
import { type PdbConfig, setupPdbController } from './setup';

/** The pdb-controller component: Events as `kubeaws.io/pdb-controller`, metrics `kubeaws_pdb_controller_*`. */
export const pdbController = defineComponent({
  name: 'pdb-controller',
  description:
    'Gives every multi-replica Deployment and StatefulSet (and, opt-in, Argo Rollout) a default PodDisruptionBudget',
  flags: settingFlags(),
  manager: (cfg: PdbConfig) => ({ qps: cfg.qps, burst: cfg.burst, dryRun: cfg.dryRun, fieldManager: cfg.fieldManager }),
  describe: (cfg: PdbConfig) => ({ ...cfg, excludeNamespaces: cfg.excludeNamespaces.map((r) => r.source) }),
  setup: (mgr, cfg, { env }) => setupPdbController(mgr, cfg, ownPodFromEnv(env)),
});
