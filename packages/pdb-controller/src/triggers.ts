/**
 * Which work-queue keys a PDB informer event enqueues (docs/pdb-controller.md#pdb-triggers, #pdb-sync-failed).
 */
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { canonical } from './desired';
import { pdbKey } from './keys';
import { ANN_DEFAULT_PDB, LABEL_WORKLOAD_KIND, isManaged, isUserOwned, pdbOwners } from './ownership';
import { type Workload, type WorkloadKind, workloadKey } from './workload';

/**
 * Targets of one PDB event: `keys` are `<Kind>/<namespace>/<name>` work-queue keys; `namespaces` are
 * namespaces whose every workload is to be enqueued through the namespace index.
 */
export interface PdbEventTargets {
  keys: string[];
  namespaces: string[];
}

function syncFailed(p: V1PodDisruptionBudget): boolean {
  return p.status?.conditions?.some((c) => c.type === 'DisruptionAllowed' && c.reason === 'SyncFailed') ?? false;
}

/** Everything but `status` and server-maintained metadata (resourceVersion, managedFields, generation). */
function content(p: V1PodDisruptionBudget): string {
  const m = p.metadata ?? {};
  return canonical({
    labels: m.labels,
    annotations: m.annotations,
    ownerReferences: m.ownerReferences,
    deleting: m.deletionTimestamp !== undefined && m.deletionTimestamp !== null,
    spec: p.spec,
  });
}

/**
 * Work-queue targets of a PDB add (`old` undefined), update, or delete (`cur` undefined), per
 * docs/pdb-controller.md#pdb-triggers:
 * - a managed PDB enqueues its owner (controller ownerReference); a legacy (`heritage`) PDB enqueues
 *   every supported-kind owner, for adoption (#pdb-adoption);
 * - a user PDB create or delete, or a change of its selector or labels, enqueues its namespace; so
 *   does a hand-over (ownership label removed, #pdb-handover) or a user PDB becoming labelled as ours;
 * - updates that change only status (or nothing but resourceVersion) are ignored, except a transition
 *   into or out of the `SyncFailed` condition of a managed or legacy PDB (#pdb-sync-failed).
 */
export function pdbEventTargets(
  old: V1PodDisruptionBudget | undefined,
  cur: V1PodDisruptionBudget | undefined,
): PdbEventTargets {
  const keys = new Set<string>();
  const namespaces = new Set<string>();
  const enqueueOwners = (p: V1PodDisruptionBudget) => {
    for (const o of pdbOwners(p))
      keys.add(workloadKey({ kind: o.kind, namespace: p.metadata?.namespace ?? '', name: o.name }));
  };
  const ns = (p: V1PodDisruptionBudget) => namespaces.add(p.metadata?.namespace ?? '');

  if (!old || !cur) {
    const p = (old ?? cur)!;
    if (isUserOwned(p)) ns(p);
    else enqueueOwners(p);
  } else {
    const classChanged = isUserOwned(old) !== isUserOwned(cur) || isManaged(old) !== isManaged(cur);
    const contentChanged = content(old) !== content(cur);
    const syncChanged = syncFailed(old) !== syncFailed(cur);
    if (classChanged) {
      ns(cur);
      enqueueOwners(old);
      enqueueOwners(cur);
    } else if (isUserOwned(cur)) {
      const relevant =
        canonical(old.spec?.selector) !== canonical(cur.spec?.selector) ||
        canonical(old.metadata?.labels) !== canonical(cur.metadata?.labels);
      if (relevant) ns(cur);
    } else if (contentChanged || syncChanged) {
      enqueueOwners(old);
      enqueueOwners(cur);
    }
  }
  return { keys: [...keys].sort(), namespaces: [...namespaces].sort() };
}

/**
 * Whether a workload change can change the overlap state of other workloads of its namespace
 * (docs/pdb-controller.md#pdb-overlap): its selector, template labels, replicas, opt-out annotation or
 * deletion changed, the inputs of the rows of docs/pdb-controller.md#pdb-states that another
 * workload's overlap check reads. Then the workloads overlapping the old and the new state are
 * re-evaluated.
 */
export function selectionChanged(old: Workload, cur: Workload): boolean {
  const view = (w: Workload) =>
    canonical([w.selector, w.templateLabels, w.replicas, w.annotations[ANN_DEFAULT_PDB], w.deleting]);
  return view(old) !== view(cur);
}

/**
 * Orphan-check keys of the managed and legacy PDBs that name the workload `kind` `name` as owner
 * (docs/pdb-controller.md#pdb-orphans): checked when that workload is gone from the cache. `pdbs` are
 * the PDBs of the workload's namespace.
 */
export function ownedPdbKeys(pdbs: readonly V1PodDisruptionBudget[], kind: WorkloadKind, name: string): string[] {
  return pdbs
    .filter((p) => pdbOwners(p).some((o) => o.kind === kind && o.name === name))
    .map((p) => pdbKey(p.metadata?.namespace ?? '', p.metadata?.name ?? ''));
}

/**
 * Orphan-check keys of every managed or legacy PDB whose owner is of `kind`, by ownerReference or by
 * `kubeaws.io/workload-kind` (docs/pdb-controller.md#pdb-orphans): such PDBs can be judged only once
 * the informer of that kind has synced, e.g. when the Rollout informer starts late.
 */
export function pdbKeysOfKind(pdbs: readonly V1PodDisruptionBudget[], kind: WorkloadKind): string[] {
  return pdbs
    .filter(
      (p) =>
        !isUserOwned(p) &&
        (pdbOwners(p).some((o) => o.kind === kind) || p.metadata?.labels?.[LABEL_WORKLOAD_KIND] === kind),
    )
    .map((p) => pdbKey(p.metadata?.namespace ?? '', p.metadata?.name ?? ''));
}

/**
 * The orphan-check key one PDB event enqueues, if any (docs/pdb-controller.md#pdb-orphans): for a
 * managed or legacy PDB that appeared, became ours or changed its ownerReferences, and on every
 * periodic resync (`old === cur`), so orphans are judged again from the caches without API calls.
 */
export function orphanCheckKey(
  old: V1PodDisruptionBudget | undefined,
  cur: V1PodDisruptionBudget | undefined,
): string | undefined {
  if (!cur || isUserOwned(cur)) return undefined;
  const check =
    old === cur ||
    !old ||
    isUserOwned(old) ||
    canonical(old.metadata?.ownerReferences) !== canonical(cur.metadata?.ownerReferences);
  return check ? pdbKey(cur.metadata?.namespace ?? '', cur.metadata?.name ?? '') : undefined;
}
