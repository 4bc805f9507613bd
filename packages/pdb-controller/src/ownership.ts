/**
 * Label and annotation keys (docs/pdb-controller.md#pdb-annotations) and the ownership predicates on
 * PodDisruptionBudgets (docs/pdb-controller.md#pdb-coverage, #pdb-identity, #pdb-adoption).
 */
import type { V1OwnerReference, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { WORKLOAD_KINDS, type WorkloadKind, supportedKind } from './workload';

/** Workload annotation `true|false`; `false` opts out (docs/pdb-controller.md#pdb-annotations). */
export const ANN_DEFAULT_PDB = 'kubeaws.io/default-pdb';
/** Workload annotation overriding `--max-unavailable` (docs/pdb-controller.md#pdb-annotations). */
export const ANN_MAX_UNAVAILABLE = 'kubeaws.io/max-unavailable';
/** Workload annotation overriding `--non-ready-ttl` (docs/pdb-controller.md#pdb-annotations). */
export const ANN_NON_READY_TTL = 'kubeaws.io/non-ready-ttl';
/** Upstream alias of {@link ANN_NON_READY_TTL}; ours wins (docs/pdb-controller.md#pdb-annotations). */
export const ANN_LEGACY_NON_READY_TTL = 'pdb-controller.zalando.org/non-ready-ttl';
/** PDB ownership label; value {@link MANAGED_BY_VALUE} (docs/pdb-controller.md#pdb-annotations). */
export const LABEL_MANAGED_BY = 'kubeaws.io/managed-by';
/** Value of {@link LABEL_MANAGED_BY} and of the legacy {@link LABEL_HERITAGE}. */
export const MANAGED_BY_VALUE = 'pdb-controller';
/** PDB label carrying the owner's kind (docs/pdb-controller.md#pdb-annotations). */
export const LABEL_WORKLOAD_KIND = 'kubeaws.io/workload-kind';
/**
 * PDB annotation: first observation of "not fully ready", RFC 3339 UTC seconds (docs/pdb-controller.md#pdb-annotations,
 * #pdb-ttl).
 */
export const ANN_NON_READY_SINCE = 'kubeaws.io/non-ready-since';
/** Upstream ownership label; such PDBs are adopted (docs/pdb-controller.md#pdb-annotations, #pdb-adoption). */
export const LABEL_HERITAGE = 'heritage';
/** Upstream PDB annotation read once during adoption (docs/pdb-controller.md#pdb-annotations, #pdb-adoption). */
export const ANN_LEGACY_NON_READY_SINCE = 'pdb-controller.zalando.org/non-ready-since';

/** The PDB carries `kubeaws.io/managed-by=pdb-controller` (docs/pdb-controller.md#pdb-identity). */
export function isManaged(pdb: V1PodDisruptionBudget): boolean {
  return pdb.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
}

/** The PDB carries `heritage=pdb-controller` and not our ownership label (docs/pdb-controller.md#pdb-adoption). */
export function isLegacy(pdb: V1PodDisruptionBudget): boolean {
  return !isManaged(pdb) && pdb.metadata?.labels?.[LABEL_HERITAGE] === MANAGED_BY_VALUE;
}

/**
 * User-owned: neither our ownership label nor `heritage=pdb-controller` (docs/pdb-controller.md#pdb-coverage,
 * #pdb-handover).
 */
export function isUserOwned(pdb: V1PodDisruptionBudget): boolean {
  return !isManaged(pdb) && !isLegacy(pdb);
}

/** The `controller: true` ownerReference of an object, if any. */
export function controllerRef(pdb: V1PodDisruptionBudget): V1OwnerReference | undefined {
  return pdb.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/**
 * Owner of a PDB for work-queue and orphan purposes: for a managed PDB its controller ownerReference
 * (docs/pdb-controller.md#pdb-identity), for a legacy PDB every ownerReference of a supported kind
 * (docs/pdb-controller.md#pdb-adoption). Returns `{kind, name, uid}` for each reference of a supported kind.
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

/**
 * The workload kind a PDB counts under in `managed_pdbs{kind}` (docs/pdb-controller.md#pdb-metrics):
 * for a managed PDB the kind of its controller ownerReference, else of its `kubeaws.io/workload-kind`
 * label, else `unknown` (counted nowhere); `undefined` for a PDB that is not managed.
 */
export function managedPdbKind(pdb: V1PodDisruptionBudget): WorkloadKind | 'unknown' | undefined {
  if (!isManaged(pdb)) return undefined;
  const ref = controllerRef(pdb);
  return (
    (ref && supportedKind(ref.apiVersion, ref.kind)) ??
    WORKLOAD_KINDS.find((k) => k === pdb.metadata?.labels?.[LABEL_WORKLOAD_KIND]) ??
    'unknown'
  );
}

/** The PDB's `DisruptionAllowed` condition reports `SyncFailed` (docs/pdb-controller.md#pdb-sync-failed). */
export function reportsSyncFailed(pdb: V1PodDisruptionBudget): boolean {
  return pdb.status?.conditions?.some((c) => c.type === 'DisruptionAllowed' && c.reason === 'SyncFailed') ?? false;
}
