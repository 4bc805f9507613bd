/**
 * Informer transforms (docs/pdb-controller.md#pdb-triggers, #pdb-budgets): the caches keep only what the controller
 * reads, so 5,000 workloads and 5,000 PDBs fit the memory budget. `managedFields` and the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation are dropped everywhere; of the `managedFields` of
 * PDBs the controller owns only the entries of its own field manager are kept, reduced to the field names that
 * tell its own fields from other managers' (`desired.ts` `ownedFields`).
 */
import type { V1ManagedFieldsEntry, V1ObjectMeta, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { isManaged } from './ownership';

/** Annotation written by `kubectl apply`; often the largest part of an object. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** A workload (Deployment, StatefulSet or Rollout) as served by the API, reduced to what is read. */
interface RawWorkload {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: {
    replicas?: number;
    selector?: unknown;
    template?: { metadata?: { labels?: Record<string, string> } };
    workloadRef?: unknown;
  };
  status?: { observedGeneration?: number | string; readyReplicas?: number };
}

/**
 * Copy of `meta` without the last-applied annotation and without `managedFields`, except, when `keepManagedFields`
 * names a field manager, that manager's entries reduced by {@link trimManagedFields}.
 */
export function trimMetadata(meta: V1ObjectMeta | undefined, keepManagedFields?: string): V1ObjectMeta | undefined {
  if (!meta) return meta;
  const { managedFields, annotations, ...rest } = meta;
  const out: V1ObjectMeta = rest;
  if (keepManagedFields !== undefined && managedFields) {
    const kept = trimManagedFields(managedFields, keepManagedFields);
    if (kept.length) out.managedFields = kept;
  }
  if (annotations) {
    if (LAST_APPLIED_ANNOTATION in annotations) {
      const { [LAST_APPLIED_ANNOTATION]: _dropped, ...kept } = annotations;
      out.annotations = kept;
    } else {
      out.annotations = annotations;
    }
  }
  return out;
}

/**
 * Reduces a Deployment, StatefulSet or Rollout to the fields the state and coverage rules read
 * (docs/pdb-controller.md#pdb-states, #pdb-coverage): metadata (trimmed), `spec.replicas`, `spec.selector`, the
 * pod-template labels, a Rollout's `spec.workloadRef`, and `status.observedGeneration` / `status.readyReplicas`. The
 * pod-template spec, which is most of a workload's size, is not kept.
 */
export function trimWorkload<T>(obj: T): T {
  const w = obj as RawWorkload;
  const spec: NonNullable<RawWorkload['spec']> = {};
  if (w.spec?.replicas !== undefined) spec.replicas = w.spec.replicas;
  if (w.spec?.selector !== undefined) spec.selector = w.spec.selector;
  const labels = w.spec?.template?.metadata?.labels;
  if (w.spec?.template) spec.template = labels ? { metadata: { labels } } : {};
  if (w.spec?.workloadRef !== undefined) spec.workloadRef = w.spec.workloadRef;
  const status: NonNullable<RawWorkload['status']> = {};
  if (w.status?.observedGeneration !== undefined) status.observedGeneration = w.status.observedGeneration;
  if (w.status?.readyReplicas !== undefined) status.readyReplicas = w.status.readyReplicas;
  const out: RawWorkload = { metadata: trimMetadata(w.metadata), spec, status };
  if (w.apiVersion) out.apiVersion = w.apiVersion;
  if (w.kind) out.kind = w.kind;
  return out as T;
}

/** A FieldsV1 set (`f:<name>` keys, nested), as served in `managedFields[].fieldsV1`. */
type FieldSet = Record<string, unknown>;

/** The `f:` keys of a FieldsV1 set, each mapped to an empty set (only the names are read). */
function fieldNames(set: unknown): FieldSet | undefined {
  if (!set || typeof set !== 'object') return undefined;
  const out: FieldSet = {};
  for (const k of Object.keys(set)) if (k.startsWith('f:')) out[k] = {};
  return out;
}

/**
 * The entries of `fieldManager` on the main resource (no subresource), each keeping only `manager`, `operation`
 * and, of `fieldsV1`, the names under `f:metadata.f:labels`, `f:metadata.f:annotations` and `f:spec`: what
 * `ownedFields` (desired.ts) reads to tell this controller's fields from other managers'
 * (docs/pdb-controller.md#pdb-apply). Entries of other managers and of the status subresource are dropped.
 */
export function trimManagedFields(entries: V1ManagedFieldsEntry[], fieldManager: string): V1ManagedFieldsEntry[] {
  const out: V1ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (e.manager !== fieldManager || (e.subresource ?? '') !== '') continue;
    const f = (e.fieldsV1 ?? {}) as Record<string, FieldSet | undefined>;
    const fields: FieldSet = {};
    const meta: FieldSet = {};
    for (const group of ['f:labels', 'f:annotations']) {
      const names = fieldNames(f['f:metadata']?.[group]);
      if (names) meta[group] = names;
    }
    if (Object.keys(meta).length) fields['f:metadata'] = meta;
    const spec = fieldNames(f['f:spec']);
    if (spec) fields['f:spec'] = spec;
    out.push({ manager: e.manager, operation: e.operation, fieldsV1: fields });
  }
  return out;
}

/**
 * Drops the last-applied annotation of a PDB and its `managedFields`, except on PDBs the controller owns, where the
 * entries of `fieldManager` are kept as {@link trimManagedFields} reduces them.
 */
export function trimPdb<T extends V1PodDisruptionBudget>(pdb: T, fieldManager: string): T {
  return { ...pdb, metadata: trimMetadata(pdb.metadata, isManaged(pdb) ? fieldManager : undefined) };
}
