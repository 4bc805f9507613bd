/**
 * The caches the pdb-controller reads (docs/pdb-controller.md#pdb-triggers): one informer for
 * PodDisruptionBudgets and one per watched workload kind, all cluster-wide, trimmed by `transform.ts`.
 * Deployments and StatefulSets are always watched and count toward `/readyz`; the Rollout informer is
 * added and removed at run time by the Rollout discovery (`rollouts.ts`) and never counts.
 */
import type { V1Deployment, V1PodDisruptionBudget, V1StatefulSet } from '@kubernetes/client-node';
import type { Informer, KubeObject, Manager } from '@kubeaws/runtime';
import { trimPdb, trimWorkload } from './transform';
import {
  type Rollout,
  type Workload,
  type WorkloadKind,
  fromDeployment,
  fromRollout,
  fromStatefulSet,
} from './workload';

/** Collection paths of the watched resources (all namespaces). */
export const WATCH_PATHS = {
  Deployment: '/apis/apps/v1/deployments',
  StatefulSet: '/apis/apps/v1/statefulsets',
  Rollout: '/apis/argoproj.io/v1alpha1/rollouts',
  PodDisruptionBudget: '/apis/policy/v1/poddisruptionbudgets',
} as const;

/** Informer names: the `resource` label of the informer metrics, and log fields. */
export const INFORMER_NAMES: Readonly<Record<WorkloadKind, string>> = {
  Deployment: 'deployments.apps',
  StatefulSet: 'statefulsets.apps',
  Rollout: 'rollouts.argoproj.io',
};

/**
 * A cached PodDisruptionBudget. The runtime's `KubeObject` has an index signature on `metadata` that
 * the client-node model classes lack, so the model type is intersected with it.
 */
export type CachedPdb = V1PodDisruptionBudget & KubeObject;

/** The informers of the pdb-controller, created on a {@link Manager}. */
export class PdbCaches {
  /** The PodDisruptionBudget informer. */
  readonly pdbs: Informer<CachedPdb>;
  private readonly workloads = new Map<WorkloadKind, Informer<KubeObject>>();
  private readonly normalized = new WeakMap<object, Workload>();

  /**
   * Creates the PDB, Deployment and StatefulSet informers, re-delivering their objects every `resyncPeriodMs`. The
   * PDB cache keeps the `managedFields` entries of `fieldManager` (`--field-manager`) on managed PDBs only.
   */
  constructor(
    private readonly mgr: Manager,
    private readonly resyncPeriodMs: number,
    fieldManager: string,
  ) {
    this.pdbs = mgr.informer<CachedPdb>({
      path: WATCH_PATHS.PodDisruptionBudget,
      name: 'poddisruptionbudgets.policy',
      transform: (p) => trimPdb(p, fieldManager),
      resyncPeriodMs,
    });
    this.add('Deployment');
    this.add('StatefulSet');
  }

  /** The informer of a workload kind while it is watched (Rollouts only while enabled and served). */
  informer(kind: WorkloadKind): Informer<KubeObject> | undefined {
    return this.workloads.get(kind);
  }

  /** The watched workload kinds with their informers. */
  watched(): Array<[WorkloadKind, Informer<KubeObject>]> {
    return [...this.workloads];
  }

  /** The watched kinds whose informer has synced (the kinds whose orphans can be judged). */
  syncedKinds(): Set<WorkloadKind> {
    return new Set(this.watched().flatMap(([k, inf]) => (inf.hasSynced() ? [k] : [])));
  }

  /**
   * Starts watching a workload kind (at once when the Manager runs). An `optional` informer does not
   * count toward `/readyz` and is not awaited before the controller starts.
   */
  add(kind: WorkloadKind, optional = false): Informer<KubeObject> {
    const inf = this.mgr.informer<KubeObject>({
      path: WATCH_PATHS[kind],
      name: INFORMER_NAMES[kind],
      transform: trimWorkload,
      resyncPeriodMs: this.resyncPeriodMs,
      optional,
    });
    this.workloads.set(kind, inf);
    return inf;
  }

  /** Stops watching a workload kind; resolves once its informer stopped. */
  async remove(kind: WorkloadKind): Promise<void> {
    const inf = this.workloads.get(kind);
    if (!inf) return;
    this.workloads.delete(kind);
    await this.mgr.removeInformer(inf);
  }

  /** The normalised view of a cached workload object (memoised per cached object). */
  toWorkload(kind: WorkloadKind, obj: KubeObject): Workload {
    let w = this.normalized.get(obj);
    if (!w) {
      w =
        kind === 'Deployment'
          ? fromDeployment(obj as V1Deployment)
          : kind === 'StatefulSet'
            ? fromStatefulSet(obj as V1StatefulSet)
            : fromRollout(obj as Rollout);
      this.normalized.set(obj, w);
    }
    return w;
  }

  /** Every cached workload of a namespace, of every watched kind. */
  workloadsIn(namespace: string): Workload[] {
    return this.watched().flatMap(([kind, inf]) =>
      inf.cache.byNamespace(namespace).map((o) => this.toWorkload(kind, o)),
    );
  }
}
