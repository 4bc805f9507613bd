/**
 * Label and annotation keys (spec §2.2) and the ownership predicates on PodDisruptionBudgets
 * (spec §3.2.1, §3.3.2, §3.5.6).
 */
import type { V1OwnerReference, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { type WorkloadKind, supportedKind } from './workload';

/** Workload annotation `true|false`; `false` opts out (spec §2.2). */
export const ANN_DEFAULT_PDB = 'kubeaws.io/default-pdb';
/** Workload annotation overriding `--max-unavailable` (spec §2.2). */
export const ANN_MAX_UNAVAILABLE = 'kubeaws.io/max-unavailable';
/** Workload annotation overriding `--non-ready-ttl` (spec §2.2). */
export const ANN_NON_READY_TTL = 'kubeaws.io/non-ready-ttl';
/** Upstream alias of {@link ANN_NON_READY_TTL}; ours wins (spec §2.2). */
export const ANN_LEGACY_NON_READY_TTL = 'pdb-controller.zalando.org/non-ready-ttl';
/** PDB ownership label; value {@link MANAGED_BY_VALUE} (spec §2.2). */
export const LABEL_MANAGED_BY = 'kubeaws.io/managed-by';
/** Value of {@link LABEL_MANAGED_BY} and of the legacy {@link LABEL_HERITAGE}. */
export const MANAGED_BY_VALUE = 'pdb-controller';
/** PDB label carrying the owner's kind (spec §2.2). */
export const LABEL_WORKLOAD_KIND = 'kubeaws.io/workload-kind';
/** PDB annotation: first observation of "not fully ready", RFC 3339 UTC seconds (spec §2.2, §3.4). */
export const ANN_NON_READY_SINCE = 'kubeaws.io/non-ready-since';
/** Upstream ownership label; such PDBs are adopted (spec §2.2, §3.5.6). */
export const LABEL_HERITAGE = 'heritage';
/** Upstream PDB annotation read once during adoption (spec §2.2, §3.5.6). */
export const ANN_LEGACY_NON_READY_SINCE = 'pdb-controller.zalando.org/non-ready-since';

/** The PDB carries `kubeaws.io/managed-by=pdb-controller` (spec §3.3.2). */
export function isManaged(pdb: V1PodDisruptionBudget): boolean {
  return pdb.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
}

/** The PDB carries `heritage=pdb-controller` and not our ownership label (spec §3.5.6). */
export function isLegacy(pdb: V1PodDisruptionBudget): boolean {
  return !isManaged(pdb) && pdb.metadata?.labels?.[LABEL_HERITAGE] === MANAGED_BY_VALUE;
}

/** User-owned: neither our ownership label nor `heritage=pdb-controller` (spec §3.2.1, §3.5.5). */
export function isUserOwned(pdb: V1PodDisruptionBudget): boolean {
  return !isManaged(pdb) && !isLegacy(pdb);
}

/** The `controller: true` ownerReference of an object, if any. */
export function controllerRef(pdb: V1PodDisruptionBudget): V1OwnerReference | undefined {
  return pdb.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/**
 * Owner of a PDB for work-queue and orphan purposes: for a managed PDB its controller ownerReference
 * (spec §3.3.2), for a legacy PDB every ownerReference of a supported kind (spec §3.5.6). Returns
 * `{kind, name, uid}` for each reference of a supported kind.
 */
export function pdbOwners(pdb: V1PodDisruptionBudget): { kind: WorkloadKind; name: string; uid: string }[] {
  const refs = isManaged(pdb) ? [controllerRef(pdb)] : isLegacy(pdb) ? (pdb.metadata?.ownerReferences ?? []) : [];
  const out: { kind: WorkloadKind; name: string; uid: string }[] = [];
  for (const r of refs) {
    const kind = r && supportedKind(r.apiVersion, r.kind);
    if (r && kind) out.push({ kind, name: r.name, uid: r.uid });
  }
  return out;
}

/** `metadata.creationTimestamp` in epoch ms (`Infinity` if absent); accepts `Date` or RFC 3339 string. */
export function createdMs(pdb: V1PodDisruptionBudget): number {
  const t = pdb.metadata?.creationTimestamp as Date | string | undefined;
  if (t === undefined || t === null) return Infinity;
  const ms = typeof t === 'string' ? Date.parse(t) : t.getTime();
  return Number.isNaN(ms) ? Infinity : ms;
}

/** `metadata.deletionTimestamp` is set. */
export function isTerminating(pdb: V1PodDisruptionBudget): boolean {
  return pdb.metadata?.deletionTimestamp !== undefined && pdb.metadata?.deletionTimestamp !== null;
}
