/**
 * Which work-queue keys a PDB informer event enqueues (spec §3.6.2, §3.7).
 */
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { canonical } from './desired';
import { isManaged, isUserOwned, pdbOwners } from './ownership';
import { workloadKey } from './workload';

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
 * Work-queue targets of a PDB add (`old` undefined), update, or delete (`cur` undefined), per spec
 * §3.6.2:
 * - a managed PDB enqueues its owner (controller ownerReference); a legacy (`heritage`) PDB enqueues
 *   every supported-kind owner, for adoption (§3.5.6);
 * - a user PDB create or delete, or a change of its selector or labels, enqueues its namespace; so
 *   does a hand-over (ownership label removed, §3.5.5) or a user PDB becoming labelled as ours;
 * - updates that change only status (or nothing but resourceVersion) are ignored, except a transition
 *   into or out of the `SyncFailed` condition of a managed or legacy PDB (§3.7).
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
